/* test_chat_template.c — the built-in chat formats: one fixed conversation
 * (system, user, assistant, user) rendered in each family must equal, byte
 * for byte, what that family's official Jinja template prints (expected
 * strings written by hand from the template definitions; docs/chat-templates.md);
 * detection from short excerpts of each family's markers and from a real
 * GGUF's tokenizer.chat_template; chatml fallback; name override; stop tokens;
 * refusal of unknown names and roles. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lorc.h"
#include "testutil.h"

static const lorc_chat_message CONV[] = {
    {"system", "You are a helpful assistant."},
    {"user", "Hello"},
    {"assistant", " Hi there "}, /* padded: some families trim, others keep it */
    {"user", "Who are you"},
};
#define N_CONV 4

static void check_render(const char *name, bool gen, const char *want) {
    char *got = NULL;
    lorc_error err = {0};
    lorc_status st = lorc_chat_apply(name, CONV, N_CONV, gen, &got, &err);
    CHECK_MSG(st == LORC_OK && got, "%s: status %d: %s", name, (int)st, err.message);
    if (got) {
        CHECK_MSG(strcmp(got, want) == 0, "%s (gen %d): got\n[%s]\nwant\n[%s]", name, (int)gen, got, want);
    }
    free(got);
}

static void test_families(void) {
    check_render("chatml", true,
                 "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                 "<|im_start|>user\nHello<|im_end|>\n"
                 "<|im_start|>assistant\n Hi there <|im_end|>\n"
                 "<|im_start|>user\nWho are you<|im_end|>\n"
                 "<|im_start|>assistant\n");
    check_render("chatml", false,
                 "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                 "<|im_start|>user\nHello<|im_end|>\n"
                 "<|im_start|>assistant\n Hi there <|im_end|>\n"
                 "<|im_start|>user\nWho are you<|im_end|>\n");
    check_render("llama2", true,
                 "[INST] <<SYS>>\nYou are a helpful assistant.\n<</SYS>>\n\nHello [/INST]"
                 " Hi there </s><s>[INST] Who are you [/INST]");
    check_render("llama3", true,
                 "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>"
                 "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"
                 "<|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|>"
                 "<|start_header_id|>user<|end_header_id|>\n\nWho are you<|eot_id|>"
                 "<|start_header_id|>assistant<|end_header_id|>\n\n");
    check_render("llama3", false,
                 "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>"
                 "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"
                 "<|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|>"
                 "<|start_header_id|>user<|end_header_id|>\n\nWho are you<|eot_id|>");
    check_render("mistral", true,
                 "[INST] You are a helpful assistant.\n\nHello [/INST] Hi there </s>[INST] Who are you [/INST]");
    check_render("zephyr", true,
                 "<|system|>\nYou are a helpful assistant.</s>\n"
                 "<|user|>\nHello</s>\n"
                 "<|assistant|>\n Hi there </s>\n"
                 "<|user|>\nWho are you</s>\n"
                 "<|assistant|>\n");
    check_render("phi3", true,
                 "<|system|>\nYou are a helpful assistant.<|end|>\n"
                 "<|user|>\nHello<|end|>\n"
                 "<|assistant|>\n Hi there <|end|>\n"
                 "<|user|>\nWho are you<|end|>\n"
                 "<|assistant|>\n");
    check_render("phi3", false,
                 "<|system|>\nYou are a helpful assistant.<|end|>\n"
                 "<|user|>\nHello<|end|>\n"
                 "<|assistant|>\n Hi there <|end|>\n"
                 "<|user|>\nWho are you<|end|>\n"
                 "<|endoftext|>");
    check_render("gemma", true,
                 "<start_of_turn>user\nYou are a helpful assistant.\n\nHello<end_of_turn>\n"
                 "<start_of_turn>model\nHi there<end_of_turn>\n"
                 "<start_of_turn>user\nWho are you<end_of_turn>\n"
                 "<start_of_turn>model\n");
    /* aliases render like their family */
    check_render("qwen2", true,
                 "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                 "<|im_start|>user\nHello<|im_end|>\n"
                 "<|im_start|>assistant\n Hi there <|im_end|>\n"
                 "<|im_start|>user\nWho are you<|im_end|>\n"
                 "<|im_start|>assistant\n");

    /* without a system message, llama2 has no <<SYS>> block */
    char *got = NULL;
    lorc_error err = {0};
    CHECK(lorc_chat_apply("llama2", CONV + 1, 3, true, &got, &err) == LORC_OK);
    CHECK_MSG(got && strcmp(got, "[INST] Hello [/INST] Hi there </s><s>[INST] Who are you [/INST]") == 0, "[%s]",
              got ? got : "");
    free(got);
    got = NULL;
    CHECK(lorc_chat_apply("chatml", NULL, 0, true, &got, &err) == LORC_OK);
    CHECK(got && strcmp(got, "<|im_start|>assistant\n") == 0);
    free(got);
}

static void check_detect(const char *jinja, const char *want) {
    const char *got = lorc_chat_template_detect_text(jinja);
    CHECK_MSG(got && strcmp(got, want) == 0, "detect [%s]: got %s, want %s", jinja ? jinja : "(null)",
              got ? got : "(null)", want);
}

static void test_detect(void) {
    /* short excerpts of each family's markers, as they appear in the templates */
    check_detect("{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% set content = '<<SYS>>\\n' + "
                 "system_message + '\\n<</SYS>>\\n\\n' %}",
                 "llama2");
    check_detect("{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + "
                 "message['content'] | trim + '<|eot_id|>' %}",
                 "llama3");
    check_detect("{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}", "chatml");
    check_detect("{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
                 "{{ message['content'] + eos_token }}",
                 "mistral");
    check_detect("{{ '<|user|>\\n' + message['content'] + eos_token }}{{ '<|assistant|>' }}", "zephyr");
    check_detect("{{'<|user|>' + '\\n' + message['content'] + '<|end|>' + '\\n' + '<|assistant|>' + '\\n'}}", "phi3");
    check_detect("{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}", "gemma");
    /* fallback */
    check_detect(NULL, "chatml");
    check_detect("", "chatml");
    check_detect("{% for m in messages %}### {{ m.role }}: {{ m.content }}\n{% endfor %}", "chatml");

    /* a real GGUF: llama.cpp's llama-bpe vocab carries Llama-3's template */
    lorc_vocab *v = NULL;
    lorc_error err = {0};
    lorc_status st = lorc_vocab_load(test_shared("tokenizer/ggml-vocab-llama-bpe.gguf"), &v, &err);
    CHECK_MSG(st == LORC_OK, "%s", err.message);
    if (v) {
        CHECK(lorc_vocab_chat_template(v) != NULL);
        CHECK(strcmp(lorc_chat_template_detect(v), "llama3") == 0);
        const char *name = NULL;
        CHECK(lorc_chat_template_resolve(NULL, v, &name, &err) == LORC_OK && strcmp(name, "llama3") == 0);
        /* an explicit name overrides the file's template */
        CHECK(lorc_chat_template_resolve("phi-3", v, &name, &err) == LORC_OK && strcmp(name, "phi3") == 0);
        /* stop tokens: <|eot_id|> and <|end_of_text|> are single tokens here */
        int32_t ids[4] = {-1, -1, -1, -1};
        int n = lorc_chat_stop_tokens(v, "llama3", ids, 4);
        CHECK_MSG(n == 2, "llama3 stop tokens: %d", n);
        for (int i = 0; i < n && i < 4; i++) {
            const char *text = lorc_vocab_token_text(v, ids[i]);
            CHECK(text && (strcmp(text, "<|eot_id|>") == 0 || strcmp(text, "<|end_of_text|>") == 0));
        }
        /* the rendered text tokenizes with its markers as single special tokens */
        char *prompt = NULL;
        CHECK(lorc_chat_apply("llama3", CONV, N_CONV, true, &prompt, &err) == LORC_OK);
        int32_t *toks = NULL;
        size_t nt = 0;
        if (prompt &&
            lorc_tokenize(v, prompt, strlen(prompt), LORC_TOKENIZE_ADD_BOS | LORC_TOKENIZE_PARSE_SPECIAL, &toks, &nt,
                          &err) == LORC_OK) {
            int eot = 0;
            for (size_t i = 0; i < nt; i++) eot += toks[i] == ids[0] || toks[i] == ids[1];
            CHECK_MSG(eot == 4, "%d <|eot_id|> tokens in the llama3 prompt", eot);
            CHECK(nt > 0 && toks[0] == lorc_vocab_bos(v));
        } else {
            CHECK_MSG(false, "tokenize: %s", err.message);
        }
        free(toks);
        free(prompt);
        lorc_vocab_free(v);
    }

    /* a model without a template falls back to chatml */
    v = NULL;
    st = lorc_vocab_load(test_shared("models/stories260K.gguf"), &v, &err);
    CHECK_MSG(st == LORC_OK, "%s", err.message);
    if (v) {
        CHECK(lorc_vocab_chat_template(v) == NULL);
        CHECK(strcmp(lorc_chat_template_detect(v), "chatml") == 0);
        int32_t id = -1;
        CHECK(lorc_chat_stop_tokens(v, "llama2", &id, 1) == 1 && id == lorc_vocab_eos(v));
        CHECK(lorc_chat_stop_tokens(v, "chatml", &id, 1) == 0); /* no <|im_end|> in this vocab */
        lorc_vocab_free(v);
    }
}

static void test_stops(void) {
    const struct {
        const char *name, *first;
    } want[] = {{"chatml", "<|im_end|>"}, {"llama2", "</s>"},   {"llama3", "<|eot_id|>"},     {"mistral", "</s>"},
                {"zephyr", "</s>"},       {"phi3", "<|end|>"}, {"gemma", "<end_of_turn>"}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const char *const *s = lorc_chat_template_stops(want[i].name);
        CHECK_MSG(s && s[0] && strcmp(s[0], want[i].first) == 0, "%s: first stop", want[i].name);
    }
    CHECK(lorc_chat_template_stops("vicuna") == NULL);
    CHECK(lorc_chat_stop_tokens(NULL, "vicuna", NULL, 0) == LORC_ERR_INVALID);
}

static void test_refusals(void) {
    char *got = NULL;
    lorc_error err = {0};
    CHECK(lorc_chat_apply("vicuna", CONV, N_CONV, true, &got, &err) == LORC_ERR_INVALID && !got);
    CHECK_MSG(strstr(err.message, "'vicuna'") && !strchr(err.message, '\n'), "%s", err.message);
    const char *name = "x";
    CHECK(lorc_chat_template_resolve("vicuna", NULL, &name, &err) == LORC_ERR_INVALID);

    const lorc_chat_message tool[] = {{"user", "hi"}, {"tool", "42"}};
    CHECK(lorc_chat_apply("chatml", tool, 2, true, &got, &err) == LORC_ERR_INVALID && !got);
    CHECK_MSG(strstr(err.message, "'tool'") && strstr(err.message, "message 1"), "%s", err.message);

    /* families without a system role take one only first (it is folded) */
    const lorc_chat_message late[] = {{"user", "hi"}, {"system", "be brief"}};
    CHECK(lorc_chat_apply("gemma", late, 2, true, &got, &err) == LORC_ERR_INVALID && !got);
    CHECK_MSG(strstr(err.message, "gemma"), "%s", err.message);
    CHECK(lorc_chat_apply("chatml", late, 2, true, &got, &err) == LORC_OK && got);
    free(got);
    got = NULL;
    const lorc_chat_message null_content[] = {{"user", NULL}};
    CHECK(lorc_chat_apply("chatml", null_content, 1, true, &got, &err) == LORC_ERR_INVALID && !got);
}

int main(void) {
    test_families();
    test_detect();
    test_stops();
    test_refusals();
    return test_finish("test_chat_template");
}
