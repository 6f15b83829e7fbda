/* test_forward_lora.c — per-sequence adapters through the forward pass:
 * runtime LoRA terms (F32 and Q8_0 pairs, the transposed token_embd form)
 * plus a replaced output weight give the logits of a model whose weights
 * were merged in F32 (W + s·B·A); in a mixed batch each row sees only its
 * own sequence's adapters; detaching restores the base; bad stacks are
 * refused without changing the sequence. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter/adapter.h"
#include "format/gguf.h"
#include "engine/context.h"
#include "synth.h"
#include "tensor/ops.h"
#include "tensor/types.h"
#include "testutil.h"

static const int32_t toks[] = {1, 7, 22, 3, 40, 41, 9, 63, 12};
#define NT ((int)(sizeof toks / sizeof toks[0]))
#define USER_SCALE 1.5f

typedef struct pair {
    int slot;
    int64_t n_in, n_out, r; /* token_embd: n_in = n_vocab rows of A, n_out = n_embd */
    uint32_t type;
    float scale;
    void *a, *b;   /* stored data */
    float *af, *bf; /* the same values as F32 */
} pair;

static void make_pair(pair *p, uint64_t seed) {
    const lorc_type_info *ti = lorc_type_get(p->type);
    int64_t na = p->n_in * p->r, nb = p->r * p->n_out;
    p->af = malloc((size_t)na * sizeof(float));
    p->bf = malloc((size_t)nb * sizeof(float));
    synth_random_floats(seed, p->af, na, 0.4f);
    synth_random_floats(seed + 1, p->bf, nb, 0.4f);
    if (p->type == LORC_TYPE_F32) {
        p->a = p->af;
        p->b = p->bf;
        return;
    }
    p->a = malloc(lorc_row_bytes(p->type, p->n_in) * (size_t)p->r);
    p->b = malloc(lorc_row_bytes(p->type, p->r) * (size_t)p->n_out);
    ti->from_float(p->af, p->a, na);
    ti->from_float(p->bf, p->b, nb);
    /* What the engine will see: the dequantized values. */
    ti->to_float(p->a, p->af, na);
    ti->to_float(p->b, p->bf, nb);
}

static lorc_tensor tensor2(uint32_t type, int64_t ne0, int64_t ne1, const void *data) {
    lorc_tensor t = {"adapter", type, 2, {ne0, ne1, 1, 1}, data, lorc_row_bytes(type, ne0) * (size_t)ne1};
    return t;
}

/* ------------------------------------------------------------ merging */

typedef struct merge_ctx {
    const lorc_model *m;
    pair *pairs;
    int n_pairs;
    const float *out_rep;
    float *bufs[8];
    int n_bufs;
} merge_ctx;

static bool merge_edit(void *user, const char *name, uint32_t *type, uint32_t *n_dims, int64_t ne[4],
                       const void **data) {
    merge_ctx *mc = user;
    (void)n_dims;
    int slot = lorc_model_slot_of_name(mc->m, name);
    if (slot == lorc_slot_global(GW_OUTPUT)) {
        *data = mc->out_rep;
        return true;
    }
    for (int i = 0; i < mc->n_pairs; i++) {
        const pair *p = &mc->pairs[i];
        if (p->slot != slot) continue;
        CHECK(*type == LORC_TYPE_F32);
        const int64_t n = ne[0] * ne[1];
        float *w = malloc((size_t)n * sizeof(float));
        memcpy(w, *data, (size_t)n * sizeof(float));
        const float s = p->scale * USER_SCALE;
        if (slot == lorc_slot_global(GW_TOKEN_EMBD)) {
            /* E[t][j] += s · Σ_q B[j][q] · Aᵀ[t][q] */
            for (int64_t t = 0; t < ne[1]; t++)
                for (int64_t j = 0; j < ne[0]; j++) {
                    double acc = 0;
                    for (int64_t q = 0; q < p->r; q++) acc += (double)p->bf[j * p->r + q] * p->af[t * p->r + q];
                    w[t * ne[0] + j] += (float)(s * acc);
                }
        } else {
            /* W[j][k] += s · Σ_q B[j][q] · A[q][k] */
            for (int64_t j = 0; j < ne[1]; j++)
                for (int64_t k = 0; k < ne[0]; k++) {
                    double acc = 0;
                    for (int64_t q = 0; q < p->r; q++) acc += (double)p->bf[j * p->r + q] * p->af[q * ne[0] + k];
                    w[j * ne[0] + k] += (float)(s * acc);
                }
        }
        mc->bufs[mc->n_bufs++] = w;
        *data = w;
    }
    return true;
}

/* ------------------------------------------------------------ running */

static void run(lorc_context *ctx, lorc_sequence *s, float *logits) {
    lorc_error err = {0};
    lorc_sequence_reset(s);
    CHECK_MSG(lorc_decode(ctx, s, toks, NT, true, logits, &err) == LORC_OK, "%s", err.message);
}

static double rel_err(const float *a, const float *b, int n_rows, int V) {
    double worst = 0;
    for (int i = 0; i < n_rows; i++) {
        double d = 0, mx = 0;
        for (int j = 0; j < V; j++) {
            d = fmax(d, fabs((double)a[i * V + j] - b[i * V + j]));
            mx = fmax(mx, fabs((double)b[i * V + j]));
        }
        worst = fmax(worst, d / mx);
    }
    return worst;
}

int main(void) {
    lorc_error err = {0};
    synth_params sp = synth_default_params();
    sp.n_head_kv = 2;
    sp.n_ff = 64;
    sp.seed = 5;
    const char *base_path = test_tmp("lora_base.gguf"), *merged_path = test_tmp("lora_merged.gguf");
    CHECK_MSG(synth_write_model(base_path, &sp, &err) == LORC_OK, "%s", err.message);
    lorc_model *m = NULL;
    if (lorc_model_load(base_path, &m, &err) != LORC_OK) {
        CHECK_MSG(false, "%s", err.message);
        return test_finish("test_forward_lora");
    }
    const int V = sp.n_vocab, E = sp.n_embd, KV = 2 * (E / sp.n_head);
    pair pairs[4] = {
        {lorc_slot_layer(0, LW_ATTN_Q), E, E, 4, LORC_TYPE_F32, 0.5f, 0, 0, 0, 0},
        {lorc_slot_layer(1, LW_ATTN_V), E, KV, 32, LORC_TYPE_Q8_0, 0.25f, 0, 0, 0, 0},
        {lorc_slot_layer(0, LW_FFN_DOWN), sp.n_ff, E, 8, LORC_TYPE_F32, 1.0f, 0, 0, 0, 0},
        {lorc_slot_global(GW_TOKEN_EMBD), V, E, 4, LORC_TYPE_F32, 0.7f, 0, 0, 0, 0},
    };
    for (int i = 0; i < 4; i++) make_pair(&pairs[i], 100 + 10 * (uint64_t)i);
    float *out_rep = malloc((size_t)E * V * sizeof(float));
    synth_random_floats(77, out_rep, (int64_t)E * V, 0.2f);

    /* The adapter, built by hand as a loader would. */
    lorc_adapter ad = {0};
    ad.path = strdup("hand-made adapter");
    ad.model = m;
    ad.n_slots = m->n_slots;
    ad.slots = calloc((size_t)m->n_slots, sizeof *ad.slots);
    ad.rank = 32;
    for (int i = 0; i < 4; i++) {
        pair *p = &pairs[i];
        lorc_adapter_weight *aw = &ad.slots[p->slot];
        aw->has_lora = true;
        bool embd = p->slot == lorc_slot_global(GW_TOKEN_EMBD);
        /* A: [n_in, r], except token_embd's transposed [r, n_vocab]. */
        aw->a = embd ? tensor2(p->type, p->r, p->n_in, p->a) : tensor2(p->type, p->n_in, p->r, p->a);
        aw->b = tensor2(p->type, p->r, p->n_out, p->b);
        aw->scale = p->scale;
    }
    lorc_adapter_weight *ow = &ad.slots[lorc_slot_global(GW_OUTPUT)];
    ow->has_replace = true;
    ow->replace = tensor2(LORC_TYPE_F32, E, V, out_rep);

    /* The merged model. */
    merge_ctx mc = {m, pairs, 4, out_rep, {0}, 0};
    gguf_writer *w = NULL;
    gguf_file *src = NULL;
    CHECK(synth_copy_gguf(base_path, merge_edit, &mc, &w, &src, &err) == LORC_OK);
    CHECK(mc.n_bufs == 4);
    if (w) CHECK_MSG(gguf_writer_write(w, merged_path, NULL, NULL, &err) == LORC_OK, "%s", err.message);
    gguf_writer_free(w);
    gguf_close(src);
    for (int i = 0; i < mc.n_bufs; i++) free(mc.bufs[i]);
    lorc_model *mm = NULL;
    CHECK_MSG(lorc_model_load(merged_path, &mm, &err) == LORC_OK, "%s", err.message);

    float *base = calloc((size_t)NT * V, sizeof(float)), *merged = calloc((size_t)NT * V, sizeof(float));
    float *got = calloc((size_t)NT * V, sizeof(float)), *got2 = calloc((size_t)NT * V, sizeof(float));
    lorc_context_params cp = lorc_context_default_params();
    cp.n_threads = 2;
    lorc_context *ctx = NULL, *mctx = NULL;
    CHECK(lorc_context_new(m, &cp, &ctx, &err) == LORC_OK);
    CHECK(mm && lorc_context_new(mm, &cp, &mctx, &err) == LORC_OK);
    lorc_sequence *s = NULL, *t = NULL, *ms = NULL;
    CHECK(lorc_sequence_new(ctx, &s, &err) == LORC_OK && lorc_sequence_new(ctx, &t, &err) == LORC_OK);
    CHECK(mctx && lorc_sequence_new(mctx, &ms, &err) == LORC_OK);
    if (!s || !t || !ms) return test_finish("test_forward_lora");

    run(ctx, s, base);
    run(mctx, ms, merged);
    lorc_adapter *adp = &ad;
    const float scale = USER_SCALE;
    CHECK_MSG(lorc_sequence_set_adapters(s, &adp, &scale, 1, &err) == LORC_OK, "%s", err.message);
    run(ctx, s, got);
    double e = rel_err(got, merged, NT, V);
    printf("runtime LoRA vs merged F32: max rel err %.3g\n", e);
    CHECK_MSG(e <= 1e-4, "runtime adapter vs merged weights: %g", e);
    CHECK(rel_err(base, merged, NT, V) > 1e-2); /* the adapter matters */

    /* A mixed batch: s (adapter) and t (none), interleaved. */
    {
        lorc_sequence_reset(s);
        lorc_sequence *seqs[2 * NT];
        int32_t tk[2 * NT], pos[2 * NT];
        for (int i = 0; i < NT; i++) {
            seqs[2 * i] = t;
            seqs[2 * i + 1] = s;
            tk[2 * i] = tk[2 * i + 1] = toks[i];
            pos[2 * i] = pos[2 * i + 1] = i;
        }
        float *lg = calloc((size_t)2 * NT * V, sizeof(float));
        lorc_batch b = {2 * NT, tk, pos, seqs, NULL};
        CHECK(lorc_forward(ctx, &b, lg, &err) == LORC_OK);
        for (int i = 0; i < NT; i++) {
            CHECK_MSG(memcmp(lg + (size_t)(2 * i) * V, base + (size_t)i * V, (size_t)V * sizeof(float)) == 0,
                      "mixed batch: row %d without adapter differs from the base", i);
            CHECK_MSG(memcmp(lg + (size_t)(2 * i + 1) * V, got + (size_t)i * V, (size_t)V * sizeof(float)) == 0,
                      "mixed batch: row %d with adapter differs from its own run", i);
        }
        free(lg);
    }

    /* Refusals leave the stack as it was. */
    lorc_adapter other = ad;
    other.model = mm;
    lorc_adapter *op = &other;
    CHECK(lorc_sequence_set_adapters(s, &op, &scale, 1, &err) == LORC_ERR_MISMATCH);
    lorc_adapter *two[2] = {&ad, &ad};
    const float sc2[2] = {1, 1};
    CHECK(lorc_sequence_set_adapters(s, two, sc2, 2, &err) == LORC_ERR_INVALID);
    lorc_adapter rep_only = {0};
    rep_only.path = "replacement only";
    rep_only.model = m;
    rep_only.n_slots = m->n_slots;
    rep_only.slots = calloc((size_t)m->n_slots, sizeof *rep_only.slots);
    rep_only.slots[lorc_slot_global(GW_OUTPUT)] = *ow;
    lorc_adapter *clash[2] = {&ad, &rep_only};
    CHECK(lorc_sequence_set_adapters(s, clash, sc2, 2, &err) == LORC_ERR_MISMATCH);
    CHECK_MSG(strstr(err.message, "output.weight") != NULL, "message: %s", err.message);
    run(ctx, s, got2);
    CHECK_MSG(memcmp(got, got2, (size_t)NT * V * sizeof(float)) == 0, "a refused stack changed the sequence");

    /* Detach. */
    CHECK(lorc_sequence_set_adapters(s, NULL, NULL, 0, &err) == LORC_OK);
    run(ctx, s, got2);
    CHECK_MSG(memcmp(base, got2, (size_t)NT * V * sizeof(float)) == 0, "detached sequence differs from the base");

    lorc_sequence_free(s);
    lorc_sequence_free(t);
    lorc_sequence_free(ms);
    lorc_context_free(ctx);
    lorc_context_free(mctx);
    lorc_model_free(mm);
    lorc_model_free(m);
    for (int i = 0; i < 4; i++) {
        if (pairs[i].a != pairs[i].af) free(pairs[i].a);
        if (pairs[i].b != pairs[i].bf) free(pairs[i].b);
        free(pairs[i].af);
        free(pairs[i].bf);
    }
    free(ad.path);
    free(ad.slots);
    free(rep_only.slots);
    free(out_rep);
    free(base);
    free(merged);
    free(got);
    free(got2);
    return test_finish("test_forward_lora");
}
