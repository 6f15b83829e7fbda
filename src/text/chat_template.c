/* chat_template.c — the built-in chat formats. Each family is rendered by a
 * small C function that reproduces what the family's official Jinja template
 * prints for system/user/assistant messages (lorc has no Jinja engine; the
 * GGUF's template is only used to recognise the family by its markers).
 * Exact strings and the choices made for variants: docs/chat-templates.md. */
#include <stdlib.h>
#include <string.h>

#include "../base/error.h"
#include "chat_template.h"
#include "vocab_internal.h"

/* ------------------------------------------------------------- buffer */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
} sbuf;

static void put_n(sbuf *b, const char *s, size_t len) {
    if (b->oom) return;
    if (b->n + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + len + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = 0;
}

static void put(sbuf *b, const char *s) { put_n(b, s, strlen(s)); }

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

/* Jinja's `| trim` and Python's str.strip(), which several templates apply
 * to the content (ASCII whitespace; enough for the separators that matter). */
static void put_trimmed(sbuf *b, const char *s) {
    size_t len = strlen(s);
    while (len && is_space(*s)) s++, len--;
    while (len && is_space(s[len - 1])) len--;
    put_n(b, s, len);
}

/* -------------------------------------------------------------- roles */

typedef enum role { ROLE_SYSTEM, ROLE_USER, ROLE_ASSISTANT } role;

static const char *const ROLE_NAMES[] = {"system", "user", "assistant"};

/* The messages with their roles parsed (so renderers never see bad input). */
typedef struct chat {
    const lorc_chat_message *m;
    const role *r;
    int n;
} chat;

/* ------------------------------------------------------------ renderers */

/* <|im_start|>ROLE\nCONTENT<|im_end|>\n ... <|im_start|>assistant\n */
static void render_chatml(sbuf *b, const chat *c, bool gen) {
    for (int i = 0; i < c->n; i++) {
        put(b, "<|im_start|>");
        put(b, ROLE_NAMES[c->r[i]]);
        put(b, "\n");
        put(b, c->m[i].content);
        put(b, "<|im_end|>\n");
    }
    if (gen) put(b, "<|im_start|>assistant\n");
}

/* <|start_header_id|>ROLE<|end_header_id|>\n\nCONTENT<|eot_id|> (trimmed) */
static void render_llama3(sbuf *b, const chat *c, bool gen) {
    for (int i = 0; i < c->n; i++) {
        put(b, "<|start_header_id|>");
        put(b, ROLE_NAMES[c->r[i]]);
        put(b, "<|end_header_id|>\n\n");
        put_trimmed(b, c->m[i].content);
        put(b, "<|eot_id|>");
    }
    if (gen) put(b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

/* Llama-2-chat: [INST] <<SYS>>\nS\n<</SYS>>\n\nU [/INST] A </s><s>[INST] U2 [/INST]
 * The template strips the whole first user content, system block included;
 * it has no generation prompt (the text already ends with [/INST]). */
static void render_llama2(sbuf *b, const chat *c, bool gen) {
    (void)gen;
    int i = 0;
    const char *sys = NULL;
    if (c->n && c->r[0] == ROLE_SYSTEM) sys = c->m[i++].content;
    bool first = true;
    for (; i < c->n; i++) {
        if (c->r[i] == ROLE_USER) {
            put(b, first ? "[INST] " : "<s>[INST] ");
            if (first && sys) {
                sbuf tmp = {0};
                put(&tmp, "<<SYS>>\n");
                put(&tmp, sys);
                put(&tmp, "\n<</SYS>>\n\n");
                put(&tmp, c->m[i].content);
                if (tmp.oom) b->oom = true;
                else put_trimmed(b, tmp.p);
                free(tmp.p);
            } else {
                put_trimmed(b, c->m[i].content);
            }
            put(b, " [/INST]");
        } else {
            put(b, " ");
            put_trimmed(b, c->m[i].content);
            put(b, " </s>");
        }
        first = false;
    }
    /* a system message alone still shows up, as an instruction turn */
    if (first && sys) {
        put(b, "[INST] <<SYS>>\n");
        put(b, sys);
        put(b, "\n<</SYS>>\n\n [/INST]");
    }
}

/* Mistral-7B-Instruct-v0.1 ("v1"): [INST] U [/INST]A</s>[INST] U2 [/INST]
 * It has no system role; a leading one is prepended to the first user
 * message followed by a blank line (as mistral-common does). */
static void render_mistral(sbuf *b, const chat *c, bool gen) {
    (void)gen;
    int i = 0;
    const char *sys = NULL;
    if (c->n && c->r[0] == ROLE_SYSTEM) sys = c->m[i++].content;
    bool folded = false;
    for (; i < c->n; i++) {
        if (c->r[i] == ROLE_USER) {
            put(b, "[INST] ");
            if (sys && !folded) {
                put(b, sys);
                put(b, "\n\n");
                folded = true;
            }
            put(b, c->m[i].content);
            put(b, " [/INST]");
        } else {
            put(b, c->m[i].content);
            put(b, "</s>");
        }
    }
    if (sys && !folded) {
        put(b, "[INST] ");
        put(b, sys);
        put(b, " [/INST]");
    }
}

/* Zephyr: <|ROLE|>\nCONTENT</s>\n ... <|assistant|>\n */
static void render_zephyr(sbuf *b, const chat *c, bool gen) {
    for (int i = 0; i < c->n; i++) {
        put(b, "<|");
        put(b, ROLE_NAMES[c->r[i]]);
        put(b, "|>\n");
        put(b, c->m[i].content);
        put(b, "</s>\n");
    }
    if (gen) put(b, "<|assistant|>\n");
}

/* Phi-3: <|ROLE|>\nCONTENT<|end|>\n ... then <|assistant|>\n, or the EOS
 * text <|endoftext|> when no generation prompt is asked for. */
static void render_phi3(sbuf *b, const chat *c, bool gen) {
    for (int i = 0; i < c->n; i++) {
        put(b, "<|");
        put(b, ROLE_NAMES[c->r[i]]);
        put(b, "|>\n");
        put(b, c->m[i].content);
        put(b, "<|end|>\n");
    }
    put(b, gen ? "<|assistant|>\n" : "<|endoftext|>");
}

/* Gemma: <start_of_turn>user|model\nCONTENT<end_of_turn>\n (trimmed); no
 * system role: a leading one becomes "S\n\n" before the first user content
 * (Gemma 3's own fold). */
static void render_gemma(sbuf *b, const chat *c, bool gen) {
    int i = 0;
    const char *sys = NULL;
    if (c->n && c->r[0] == ROLE_SYSTEM) sys = c->m[i++].content;
    bool folded = false;
    for (; i < c->n; i++) {
        bool user = c->r[i] == ROLE_USER;
        put(b, user ? "<start_of_turn>user\n" : "<start_of_turn>model\n");
        if (user && sys && !folded) {
            put(b, sys);
            put(b, "\n\n");
            folded = true;
        }
        put_trimmed(b, c->m[i].content);
        put(b, "<end_of_turn>\n");
    }
    if (sys && !folded) {
        put(b, "<start_of_turn>user\n");
        put(b, sys);
        put(b, "<end_of_turn>\n");
    }
    if (gen) put(b, "<start_of_turn>model\n");
}

/* ------------------------------------------------------------- families */

typedef struct family {
    const char *name;
    const char *const *aliases; /* NULL-terminated */
    void (*render)(sbuf *, const chat *, bool);
    bool has_system;            /* false: a system message may only come first */
    const char *const *stops;   /* NULL-terminated */
} family;

#define LIST(...) ((const char *const[]){__VA_ARGS__, NULL})

static const family FAMILIES[] = {
    {"chatml", LIST("qwen2", "qwen"), render_chatml, true, LIST("<|im_end|>", "<|endoftext|>")},
    {"llama2", LIST("llama-2"), render_llama2, false, LIST("</s>")},
    {"llama3", LIST("llama-3"), render_llama3, true, LIST("<|eot_id|>", "<|end_of_text|>")},
    {"mistral", LIST("mistral-v1"), render_mistral, false, LIST("</s>")},
    {"zephyr", (const char *const[]){NULL}, render_zephyr, true, LIST("</s>")},
    {"phi3", LIST("phi-3"), render_phi3, true, LIST("<|end|>", "<|endoftext|>")},
    {"gemma", LIST("gemma2", "gemma3"), render_gemma, false, LIST("<end_of_turn>")},
};

#define N_FAMILIES (sizeof FAMILIES / sizeof FAMILIES[0])

static const family *find_family(const char *name) {
    if (!name) return NULL;
    for (size_t i = 0; i < N_FAMILIES; i++) {
        if (strcmp(FAMILIES[i].name, name) == 0) return &FAMILIES[i];
        for (const char *const *a = FAMILIES[i].aliases; *a; a++)
            if (strcmp(*a, name) == 0) return &FAMILIES[i];
    }
    return NULL;
}

const char *chat_template_canonical(const char *name) {
    const family *f = find_family(name);
    return f ? f->name : NULL;
}

/* ------------------------------------------------------------ detection */

const char *lorc_chat_template_detect_text(const char *t) {
    if (!t) return "chatml";
    /* most specific markers first: zephyr and phi-3 share <|user|>, llama-2
     * and mistral share [INST] */
    if (strstr(t, "<|start_header_id|>") || strstr(t, "<|eot_id|>")) return "llama3";
    if (strstr(t, "<|im_start|>")) return "chatml";
    if (strstr(t, "<start_of_turn>")) return "gemma";
    if (strstr(t, "<|user|>") && strstr(t, "<|end|>")) return "phi3";
    if (strstr(t, "<|user|>")) return "zephyr";
    if (strstr(t, "[INST]")) return strstr(t, "<<SYS>>") ? "llama2" : "mistral";
    return "chatml";
}

const char *lorc_chat_template_detect(const lorc_vocab *vocab) {
    return lorc_chat_template_detect_text(lorc_vocab_chat_template(vocab));
}

lorc_status lorc_chat_template_resolve(const char *name, const lorc_vocab *vocab, const char **out,
                                       lorc_error *err) {
    if (!out) return lorc_fail(err, LORC_ERR_INVALID, "lorc_chat_template_resolve: NULL argument");
    if (!name) {
        *out = lorc_chat_template_detect(vocab);
        return LORC_OK;
    }
    const char *canonical = chat_template_canonical(name);
    if (!canonical)
        return lorc_fail(err, LORC_ERR_INVALID,
                         "chat template '%s' is unknown (known: chatml, llama2, llama3, mistral, zephyr, phi3, gemma)",
                         name);
    *out = canonical;
    return LORC_OK;
}

/* ------------------------------------------------------------ rendering */

static lorc_status parse_roles(const family *f, const lorc_chat_message *msgs, int n, role *r, lorc_error *err) {
    for (int i = 0; i < n; i++) {
        const char *name = msgs[i].role;
        if (!name || !msgs[i].content)
            return lorc_fail(err, LORC_ERR_INVALID, "chat message %d: role or content is NULL", i);
        int k = 0;
        while (k < 3 && strcmp(ROLE_NAMES[k], name) != 0) k++;
        if (k == 3)
            return lorc_fail(err, LORC_ERR_INVALID,
                             "chat message %d: role '%s' is unknown (system, user or assistant)", i, name);
        r[i] = (role)k;
        if (r[i] == ROLE_SYSTEM && i > 0 && !f->has_system)
            return lorc_fail(err, LORC_ERR_INVALID,
                             "chat message %d: template '%s' takes a system message only as the first message", i,
                             f->name);
    }
    return LORC_OK;
}

lorc_status lorc_chat_apply(const char *template_name, const lorc_chat_message *msgs, int n,
                            bool add_generation_prompt, char **out, lorc_error *err) {
    if (!out || n < 0 || (n > 0 && !msgs)) return lorc_fail(err, LORC_ERR_INVALID, "lorc_chat_apply: bad argument");
    *out = NULL;
    const family *f = find_family(template_name);
    if (!f)
        return lorc_fail(err, LORC_ERR_INVALID,
                         "chat template '%s' is unknown (known: chatml, llama2, llama3, mistral, zephyr, phi3, gemma)",
                         template_name ? template_name : "(null)");
    role *r = malloc(sizeof *r * (size_t)(n ? n : 1));
    if (!r) return lorc_fail(err, LORC_ERR_NOMEM, "lorc_chat_apply: out of memory");
    lorc_status st = parse_roles(f, msgs, n, r, err);
    if (st) {
        free(r);
        return st;
    }
    chat c = {msgs, r, n};
    sbuf b = {0};
    put(&b, ""); /* an empty conversation still yields a string */
    f->render(&b, &c, add_generation_prompt);
    free(r);
    if (b.oom) {
        free(b.p);
        return lorc_fail(err, LORC_ERR_NOMEM, "lorc_chat_apply: out of memory");
    }
    *out = b.p;
    return LORC_OK;
}

/* ---------------------------------------------------------------- stops */

const char *const *lorc_chat_template_stops(const char *template_name) {
    const family *f = find_family(template_name);
    return f ? f->stops : NULL;
}

int lorc_chat_stop_tokens(const lorc_vocab *vocab, const char *template_name, int32_t *out, int cap) {
    const family *f = find_family(template_name);
    if (!f) return LORC_ERR_INVALID;
    int n = 0;
    for (const char *const *s = f->stops; vocab && *s; s++) {
        int32_t id = vocab_lookup(vocab, *s, strlen(*s));
        if (id < 0) continue;
        if (out && n < cap) out[n] = id;
        n++;
    }
    return n;
}
