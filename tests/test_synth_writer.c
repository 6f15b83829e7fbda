/* test_synth_writer.c — the synthetic model writer (tools/synth.c) that the
 * tests and `lorc bench --synthetic` share: the bytes do not depend on the
 * number of writer threads, F32 tensors hold exactly synth_tensor_values,
 * a per-tensor type callback and file type are honoured, a type that does
 * not fit a row is refused with a message naming the tensor. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "synth.h"
#include "tensor/types.h"
#include "testutil.h"

static uint32_t q8_for_ffn(void *user, const char *name, uint32_t n_dims, const int64_t ne[2]) {
    int *calls = user;
    (*calls)++;
    (void)ne;
    if (n_dims < 2) return LORC_TYPE_F32;
    return strstr(name, "ffn_") ? LORC_TYPE_Q8_0 : LORC_TYPE_F16;
}

int main(void) {
    lorc_error err = {0};
    synth_params p = synth_default_params();
    p.n_embd = 64;
    p.n_ff = 96;
    p.n_vocab = 300; /* byte tokens too */
    p.weight_type = LORC_TYPE_Q4_0;
    p.seed = 9;

    /* 1 thread vs 3: same bytes */
    const char *a = test_tmp("synth_writer_1.gguf"), *b = test_tmp("synth_writer_3.gguf");
    CHECK_MSG(synth_write_model(a, &p, &err) == LORC_OK, "%s", err.message);
    p.n_threads = 3;
    CHECK_MSG(synth_write_model(b, &p, &err) == LORC_OK, "%s", err.message);
    size_t na = 0, nb = 0;
    char *da = test_read_file(a, &na), *db = test_read_file(b, &nb);
    CHECK(da && db && na == nb && na > 0 && memcmp(da, db, na) == 0);
    free(da);
    free(db);

    /* F32 tensors (norms, embeddings) are exactly the generated values */
    gguf_file *f = NULL;
    CHECK_MSG(gguf_open(b, &f, &err) == LORC_OK, "%s", err.message);
    if (f) {
        const char *names[] = {"token_embd.weight", "blk.1.ffn_norm.weight", "output_norm.weight"};
        for (int i = 0; i < 3; i++) {
            const gguf_tensor_info *t = gguf_find_tensor(f, names[i]);
            int64_t n = 0;
            float *v = synth_tensor_values(&p, names[i], &n);
            CHECK_MSG(t && v && t->type == LORC_TYPE_F32 && (uint64_t)n * 4 == t->nbytes &&
                          memcmp(t->data, v, t->nbytes) == 0,
                      "%s", names[i]);
            free(v);
        }
        const gguf_tensor_info *q = gguf_find_tensor(f, "blk.0.attn_q.weight");
        CHECK(q && q->type == LORC_TYPE_Q4_0);
        /* the quantized bytes are the quantization of the generated values */
        if (q) {
            int64_t n = 0;
            float *v = synth_tensor_values(&p, "blk.0.attn_q.weight", &n);
            void *enc = malloc(q->nbytes);
            lorc_type_get(LORC_TYPE_Q4_0)->from_float(v, enc, n);
            CHECK(memcmp(enc, q->data, q->nbytes) == 0);
            free(enc);
            free(v);
        }
        CHECK(gguf_find_kv(f, "general.file_type") == NULL); /* none unless asked */
        gguf_close(f);
    }

    /* a type callback and a file type */
    int calls = 0;
    p.tensor_type = q8_for_ffn;
    p.tensor_type_user = &calls;
    p.file_type = 7;
    const char *c = test_tmp("synth_writer_cb.gguf");
    CHECK_MSG(synth_write_model(c, &p, &err) == LORC_OK, "%s", err.message);
    CHECK(calls == 1 + 9 * p.n_layer + 2); /* token_embd, 9 per layer, output_norm, output */
    f = NULL;
    CHECK_MSG(gguf_open(c, &f, &err) == LORC_OK, "%s", err.message);
    if (f) {
        CHECK(gguf_find_tensor(f, "blk.1.ffn_down.weight")->type == LORC_TYPE_Q8_0);
        CHECK(gguf_find_tensor(f, "blk.1.attn_v.weight")->type == LORC_TYPE_F16);
        CHECK(gguf_find_tensor(f, "output.weight")->type == LORC_TYPE_F16);
        CHECK(gguf_find_tensor(f, "blk.0.attn_norm.weight")->type == LORC_TYPE_F32);
        CHECK(gguf_get_u32_or(f, "general.file_type", 999) == 7);
        gguf_close(f);
    }

    /* rows of 96 do not fit Q4_K's 256-value blocks: refused, naming the tensor */
    p.tensor_type = NULL;
    p.weight_type = LORC_TYPE_Q4_K;
    CHECK(synth_write_model(test_tmp("synth_writer_bad.gguf"), &p, &err) == LORC_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "blk.0.attn_q.weight") && strstr(err.message, "Q4_K"), "%s", err.message);
    return test_finish("test_synth_writer");
}
