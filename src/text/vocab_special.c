/* vocab_special.c — special ids, add_bos/add_eos, end-of-generation tokens
 * and the verbatim-match list, following llama.cpp's rules: ids from the
 * tokenizer.ggml.*_token_id keys when in range, EOT/EOG tokens also found by
 * their well-known texts (and then treated as control tokens). */
#include <stdlib.h>
#include <string.h>

#include "../base/error.h"
#include "vocab_special.h"

/* Texts that end generation (chat turn ends, end of text). */
static const char *const eog_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>", "_<EOT>",
    "<|end_of_text|>", "<end_of_utterance>",
    "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>", /* DeepSeek's <｜end▁of▁sentence｜> */
    NULL};

/* Texts that mark an end of turn, when tokenizer.ggml.eot_token_id is absent. */
static const char *const eot_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>",
    "<end_of_utterance>", "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>", NULL};

static bool text_in(const vocab_token *t, const char *const *list) {
    for (; *list; list++)
        if (strlen(*list) == t->len && memcmp(*list, t->text, t->len) == 0) return true;
    return false;
}

/* Reads an id key: absent or out of range keeps `*id` (llama.cpp warns). */
static void read_id(const lorc_vocab *v, const gguf_file *f, const char *key, int32_t *id) {
    if (*id >= v->n_tokens) *id = -1;
    uint32_t x = gguf_get_u32_or(f, key, UINT32_MAX);
    if (x < (uint32_t)v->n_tokens) *id = (int32_t)x;
}

static void find_by_text(lorc_vocab *v, int32_t *id, const char *const *texts) {
    if (*id >= 0) return;
    for (int32_t i = 0; i < v->n_tokens; i++) {
        if (text_in(&v->tokens[i], texts)) {
            *id = i;
            v->tokens[i].attr |= TOK_ATTR_CONTROL;
            return;
        }
    }
}

static void mark_eog(lorc_vocab *v, int32_t id) {
    if (id >= 0 && id < v->n_tokens) v->tokens[id].attr |= TOK_ATTR_EOG;
}

/* Longest text first, so "<|eot_id|>" wins over a shorter token inside it;
 * equal lengths by id (qsort is not stable, the id makes it deterministic). */
static int cmp_special(const void *pa, const void *pb, void *ctx) {
    const lorc_vocab *v = ctx;
    int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    uint32_t la = v->tokens[a].len, lb = v->tokens[b].len;
    if (la != lb) return la > lb ? -1 : 1;
    return (a > b) - (a < b);
}

lorc_status vocab_load_special(lorc_vocab *v, const gguf_file *f, lorc_error *err) {
    read_id(v, f, "tokenizer.ggml.bos_token_id", &v->bos);
    read_id(v, f, "tokenizer.ggml.eos_token_id", &v->eos);
    read_id(v, f, "tokenizer.ggml.eot_token_id", &v->eot);
    read_id(v, f, "tokenizer.ggml.eom_token_id", &v->eom);
    read_id(v, f, "tokenizer.ggml.unknown_token_id", &v->unk);
    read_id(v, f, "tokenizer.ggml.padding_token_id", &v->pad);

    v->add_bos = gguf_get_bool_or(f, "tokenizer.ggml.add_bos_token", v->add_bos);
    v->add_eos = gguf_get_bool_or(f, "tokenizer.ggml.add_eos_token", v->add_eos);
    if (v->add_bos && v->bos < 0)
        return lorc_fail(err, LORC_ERR_FORMAT, "%s: tokenizer.ggml.add_bos_token is true, but there is no BOS token",
                         f->path);
    if (v->add_eos && v->eos < 0)
        return lorc_fail(err, LORC_ERR_FORMAT, "%s: tokenizer.ggml.add_eos_token is true, but there is no EOS token",
                         f->path);

    static const char *const eom_texts[] = {"<|eom_id|>", NULL};
    find_by_text(v, &v->eot, eot_texts);
    find_by_text(v, &v->eom, eom_texts);

    for (int32_t i = 0; i < v->n_tokens; i++) {
        if (text_in(&v->tokens[i], eog_texts)) v->tokens[i].attr |= TOK_ATTR_EOG | TOK_ATTR_CONTROL;
    }
    mark_eog(v, v->eos);
    mark_eog(v, v->eot);
    mark_eog(v, v->eom);

    /* Tokens matched verbatim before the text is tokenized: user-defined
     * ones always, control/unknown ones when the caller parses specials. */
    size_t n = 0;
    for (int32_t i = 0; i < v->n_tokens; i++)
        if (v->tokens[i].attr & (TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED | TOK_ATTR_UNKNOWN)) n++;
    v->special = malloc((n ? n : 1) * sizeof *v->special);
    if (!v->special) return lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory", f->path);
    n = 0;
    for (int32_t i = 0; i < v->n_tokens; i++)
        if (v->tokens[i].attr & (TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED | TOK_ATTR_UNKNOWN)) v->special[n++] = i;
    v->n_special = n;
    qsort_r(v->special, n, sizeof *v->special, cmp_special, v);
    return LORC_OK;
}
