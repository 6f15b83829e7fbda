/* bench_make_model.c — writes a synthetic llama model (and optionally a LoRA
 * adapter for it) big enough that decode streams its weights from memory,
 * for `lorc bench` (see bench/run.sh). Weights are random: speed only.
 *
 *   bench_make_model OUT.gguf TYPE [N_EMBD N_LAYER N_FF N_VOCAB]
 *   bench_make_model --adapter OUT.gguf MODEL_TYPE RANK [N_EMBD N_LAYER N_FF N_VOCAB]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synth.h"
#include "synth_adapter.h"
#include "tensor/types.h"

static synth_params bench_params(int argc, char **argv, int first) {
    synth_params p = synth_default_params();
    p.n_embd = argc > first ? atoi(argv[first]) : 1024;
    p.n_layer = argc > first + 1 ? atoi(argv[first + 1]) : 8;
    p.n_ff = argc > first + 2 ? atoi(argv[first + 2]) : 2816;
    p.n_vocab = argc > first + 3 ? atoi(argv[first + 3]) : 32000;
    p.n_head = p.n_embd / 64;
    p.n_head_kv = p.n_head / 4 > 0 ? p.n_head / 4 : 1;
    p.n_ctx = 2048;
    p.seed = 42;
    return p;
}

static int write_adapter(const char *path, synth_params *p, int rank) {
    /* the layout llama.cpp users most often ship: q and v of every layer */
    int n = 2 * p->n_layer;
    synth_lora *l = calloc((size_t)n, sizeof *l);
    lorc_error err = {0};
    int rc = 1;
    for (int i = 0; i < n; i++) {
        char name[64];
        snprintf(name, sizeof name, "blk.%d.attn_%s.weight", i / 2, i % 2 ? "v" : "q");
        if (synth_lora_init(&l[i], p, name, rank, (uint64_t)i + 100, 0.05f, &err) != LORC_OK) goto out;
    }
    if (synth_write_gguf_adapter(path, "llama", (float)rank, l, n, LORC_TYPE_F32, &err) != LORC_OK) goto out;
    rc = 0;
out:
    if (rc) fprintf(stderr, "bench_make_model: %s\n", err.message);
    for (int i = 0; i < n; i++) synth_lora_free(&l[i]);
    free(l);
    return rc;
}

int main(int argc, char **argv) {
    if (argc >= 5 && !strcmp(argv[1], "--adapter")) {
        synth_params p = bench_params(argc, argv, 5);
        return write_adapter(argv[2], &p, atoi(argv[4]));
    }
    if (argc < 3) {
        fprintf(stderr, "usage: bench_make_model OUT.gguf TYPE [N_EMBD N_LAYER N_FF N_VOCAB]\n"
                        "       bench_make_model --adapter OUT.gguf MODEL_TYPE RANK [N_EMBD N_LAYER N_FF N_VOCAB]\n");
        return 1;
    }
    synth_params p = bench_params(argc, argv, 3);
    int type = lorc_type_from_name(argv[2]);
    if (type < 0) {
        fprintf(stderr, "bench_make_model: unknown type '%s'\n", argv[2]);
        return 1;
    }
    p.weight_type = (uint32_t)type;
    p.embd_type = (uint32_t)type;
    lorc_error err = {0};
    if (synth_write_model(argv[1], &p, &err) != LORC_OK) {
        fprintf(stderr, "bench_make_model: %s\n", err.message);
        return 1;
    }
    return 0;
}
