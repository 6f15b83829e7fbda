/* fuzz_peft_config.c — libFuzzer target: arbitrary bytes as a PEFT
 * adapter_config.json, then the module-selection queries lorc makes with it.
 * Build and run: see fuzz/README.md. */
// fuzz-options: -max_len=2048
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapter/peft_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* peft_config_load reads <dir>/adapter_config.json: one scratch dir per
 * process, removed when the fuzzer exits so runs leave nothing behind. */
static char dir[64];
static char path[96];

static void remove_scratch(void) {
    remove(path);
    remove(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/fuzz-peft-%ld", (long)getpid());
        snprintf(path, sizeof path, "%s/adapter_config.json", dir);
        char cmd[96];
        snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
        if (system(cmd) != 0) abort();
        atexit(remove_scratch);
    }
    FILE *fp = fopen(path, "wb");
    if (!fp) abort();
    if (size && fwrite(data, 1, size, fp) != size) abort();
    fclose(fp);

    peft_config cfg;
    lorc_error err = {0};
    if (peft_config_load(dir, &cfg, &err) != LORC_OK) {
        /* One-line messages: a newline inside would break the CLI's contract. */
        if (!err.message[0] || strchr(err.message, '\n')) abort();
        return 0;
    }
    static const char *const modules[] = {"model.layers.0.self_attn.q_proj", "model.layers.3.mlp.down_proj",
                                          "lm_head", "model.embed_tokens", "q_proj", ""};
    for (size_t i = 0; i < sizeof modules / sizeof modules[0]; i++) {
        int r;
        double alpha, scale;
        (void)peft_config_targets(&cfg, modules[i], i < 3, i == 2, i == 0 ? 0 : i == 1 ? 3 : -1);
        (void)peft_config_saves(&cfg, modules[i]);
        peft_config_module(&cfg, modules[i], &r, &alpha, &scale);
        if (r <= 0) abort(); /* the loader divides by r and compares it with tensor ranks */
    }
    peft_config_free(&cfg);
    return 0;
}
