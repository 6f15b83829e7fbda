/* test_attention_blocks.c — attention's blocked P·V keeps batch invariance:
 *   - the vec kernel weighted_rows_f32 of every family this CPU runs gives
 *     each query exactly the bits of one axpy_f32 per position (the
 *     unblocked P·V), whether the query is alone or in a block of 1..N,
 *     wherever it sits in the block, and however its positions are split
 *     over calls; columns past n are never written; the fast families stay
 *     within a rounding tolerance of the scalar reference;
 *   - through the forward pass, for each KV cache type (F16, F32, Q8_0) and
 *     family: a prompt fed token by token (every query alone, as in
 *     decode) and in chunks of 2..N tokens (blocks of queries) gives
 *     bit-identical logits, with GQA and head sizes that reach the
 *     kernel's 16-, 8- and tail-column paths. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lorc.h"
#include "synth.h"
#include "tensor/kernels.h"
#include "testutil.h"

enum { MAX_Q = 13, MAX_T = 37, MAX_N = 67, V_STRIDE = 71, GUARD = 4 };

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static float uniform(void) { /* [-1, 1) */
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng_state >> 40) * (1.0 / (1ull << 24)) * 2.0 - 1.0);
}

/* out rows with GUARD sentinels after column n, to catch stray stores. */
static void fill_out(float *o, int n_q, int n, const float *init) {
    for (int c = 0; c < n_q; c++) {
        memcpy(o + (size_t)c * (MAX_N + GUARD), init + (size_t)c * MAX_N, (size_t)n * sizeof(float));
        for (int g = 0; g < GUARD; g++) o[(size_t)c * (MAX_N + GUARD) + (size_t)n + (size_t)g] = 1234.5f;
    }
}

static bool guards_intact(const float *o, int n_q, int n) {
    for (int c = 0; c < n_q; c++)
        for (int g = 0; g < GUARD; g++)
            if (o[(size_t)c * (MAX_N + GUARD) + (size_t)n + (size_t)g] != 1234.5f) return false;
    return true;
}

/* Positions query c of n_q sees: like a prompt block's rows (later rows
 * see more), two queries per row as with a GQA group of 2. */
static int n_kv_of(int c, int n_q, int n_t) {
    const int n = n_t - (n_q - 1 - c) / 2;
    return n < 1 ? 1 : n;
}

/* P·V the way attention.c runs it: queries [0, n_q) in blocks of `blk`,
 * positions in pages of `page`, each page cut into runs where the queries
 * that still see the position are one suffix of the block. */
static void blocked_pv(const lorc_kernels *k, int n_q, int n_t, int blk, int page, const float *p, const float *v,
                       float *const *out, int n) {
    for (int b0 = 0; b0 < n_q; b0 += blk) {
        const int nb = n_q - b0 < blk ? n_q - b0 : blk;
        const int n_max = n_kv_of(b0 + nb - 1, n_q, n_t);
        int first = 0;
        for (int t0 = 0; t0 < n_max; t0 += page) {
            const int end = t0 + page < n_max ? t0 + page : n_max;
            for (int t = t0; t < end;) {
                while (n_kv_of(b0 + first, n_q, n_t) <= t) first++;
                const int lim = n_kv_of(b0 + first, n_q, n_t), run_end = lim < end ? lim : end;
                k->vec.weighted_rows_f32(nb - first, run_end - t, p + (size_t)(b0 + first) * MAX_T + (size_t)t, MAX_T,
                                         v + (size_t)t * V_STRIDE, V_STRIDE, out + b0 + first, n);
                t = run_end;
            }
        }
    }
}

static void test_kernel(const lorc_kernels *k, const lorc_kernels *ref) {
    static float p[MAX_Q * MAX_T], v[MAX_T * V_STRIDE], init[MAX_Q * MAX_N];
    static float want[MAX_Q * (MAX_N + GUARD)], got[MAX_Q * (MAX_N + GUARD)], sref[MAX_Q * (MAX_N + GUARD)];
    for (int i = 0; i < MAX_Q * MAX_T; i++) p[i] = uniform() * 0.5f + 0.5f; /* softmax weights are >= 0 */
    for (int i = 0; i < MAX_T * V_STRIDE; i++) v[i] = uniform() * 3.0f;
    for (int i = 0; i < MAX_Q * MAX_N; i++) init[i] = uniform();
    const int ns[] = {1, 3, 7, 8, 9, 15, 16, 17, 24, 31, 32, 40, 44, 64, 67};
    const int n_ts[] = {1, 2, 5, 16, MAX_T};
    const int pages[] = {1, 5, 16, MAX_T};
    float *rows_want[MAX_Q], *rows_got[MAX_Q], *rows_ref[MAX_Q];
    for (int c = 0; c < MAX_Q; c++) {
        rows_want[c] = want + (size_t)c * (MAX_N + GUARD);
        rows_got[c] = got + (size_t)c * (MAX_N + GUARD);
        rows_ref[c] = sref + (size_t)c * (MAX_N + GUARD);
    }
    int runs = 0, mismatches = 0, stray = 0, off_ref = 0;
    for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
        for (size_t b = 0; b < sizeof n_ts / sizeof *n_ts; b++) {
            const int n = ns[a], n_t = n_ts[b];
            /* Unblocked P·V: one axpy per (query, position), t ascending. */
            fill_out(want, MAX_Q, n, init);
            for (int c = 0; c < MAX_Q; c++)
                for (int t = 0; t < n_kv_of(c, MAX_Q, n_t); t++)
                    k->vec.axpy_f32(p[c * MAX_T + t], v + (size_t)t * V_STRIDE, rows_want[c], n);
            /* Blocks of 1 (every query alone, as in decode) .. MAX_Q queries,
             * positions in pages of several sizes. */
            for (int blk = 1; blk <= MAX_Q; blk++)
                for (size_t pg = 0; pg < sizeof pages / sizeof *pages; pg++) {
                    fill_out(got, MAX_Q, n, init);
                    blocked_pv(k, MAX_Q, n_t, blk, pages[pg], p, v, rows_got, n);
                    runs++;
                    for (int c = 0; c < MAX_Q; c++)
                        if (memcmp(rows_got[c], rows_want[c], (size_t)n * sizeof(float)) != 0) {
                            if (mismatches++ == 0)
                                fprintf(stderr, "first mismatch: n %d n_t %d block %d page %d query %d\n", n, n_t, blk,
                                        pages[pg], c);
                        }
                    if (!guards_intact(got, MAX_Q, n)) stray++;
                }
            /* Against the scalar reference: only rounding apart. */
            fill_out(sref, MAX_Q, n, init);
            blocked_pv(ref, MAX_Q, n_t, MAX_Q, MAX_T, p, v, rows_ref, n);
            for (int c = 0; c < MAX_Q; c++)
                for (int j = 0; j < n; j++) {
                    double mag = fabs((double)init[c * MAX_N + j]);
                    for (int t = 0; t < n_kv_of(c, MAX_Q, n_t); t++)
                        mag += fabs((double)p[c * MAX_T + t] * v[(size_t)t * V_STRIDE + (size_t)j]);
                    if (fabs((double)rows_want[c][j] - rows_ref[c][j]) > 1e-6 * mag * n_t) off_ref++;
                }
        }
    CHECK(runs == 15 * 5 * MAX_Q * 4);
    CHECK_MSG(mismatches == 0, "%s: %d query rows differ from one axpy per position", lorc_isa_name(k->isa),
              mismatches);
    CHECK_MSG(stray == 0, "%s: %d calls wrote past column n", lorc_isa_name(k->isa), stray);
    CHECK_MSG(off_ref == 0, "%s: %d values off the scalar reference", lorc_isa_name(k->isa), off_ref);
}

/* Logits of every token of the prompt fed in chunks of `chunk` tokens. */
static bool logits_of(lorc_model *m, const char *kernels, lorc_kv_type type, int threads, const int32_t *toks,
                      int n_tok, int chunk, float *out) {
    lorc_context_params cp = lorc_context_default_params();
    cp.n_threads = threads;
    cp.n_batch = chunk;
    cp.type_k = type;
    cp.type_v = type;
    cp.kv_page_tokens = 8; /* several pages, page ends inside prompt blocks */
    cp.kernels = kernels;
    lorc_error err = {0};
    lorc_context *ctx = NULL;
    lorc_sequence *s = NULL;
    bool ok = lorc_context_new(m, &cp, &ctx, &err) == LORC_OK && lorc_sequence_new(ctx, &s, &err) == LORC_OK;
    const size_t nv = (size_t)lorc_model_n_vocab(m);
    for (int done = 0; ok && done < n_tok; done += chunk) {
        const int c = n_tok - done < chunk ? n_tok - done : chunk;
        ok = lorc_decode(ctx, s, toks + done, c, true, out + (size_t)done * nv, &err) == LORC_OK;
    }
    if (!ok) fprintf(stderr, "%s\n", err.message);
    lorc_sequence_free(s);
    lorc_context_free(ctx);
    return ok;
}

enum { N_TOK = 29 };

static void test_forward(const char *label, const synth_params *sp, const lorc_kv_type *types, int n_types) {
    const char *path = test_tmp(label);
    lorc_error err = {0};
    CHECK_MSG(synth_write_model(path, sp, &err) == LORC_OK, "%s", err.message);
    lorc_model *m = NULL;
    if (lorc_model_load(path, &m, &err) != LORC_OK) {
        CHECK_MSG(false, "%s", err.message);
        return;
    }
    const int V = lorc_model_n_vocab(m);
    int32_t toks[N_TOK];
    for (int i = 0; i < N_TOK; i++) toks[i] = (int32_t)((i * 29 + 5) % V);
    const size_t n = (size_t)N_TOK * (size_t)V;
    float *alone = malloc(n * sizeof(float)), *blocked = malloc(n * sizeof(float));
    static const char *const type_names[] = {"f16", "f32", "q8_0"};
    lorc_cpu_features cpu;
    lorc_cpu_detect(&cpu);
    for (int isa = 0; isa < LORC_ISA_COUNT; isa++) {
        if (!lorc_isa_supported(&cpu, (lorc_isa)isa) || !lorc_isa_built((lorc_isa)isa)) continue;
        const char *kern = lorc_isa_name((lorc_isa)isa);
        for (int ti = 0; ti < n_types; ti++) {
            if (!logits_of(m, kern, types[ti], 1, toks, N_TOK, 1, alone)) {
                CHECK_MSG(false, "%s %s %s: token by token failed", label, kern, type_names[types[ti]]);
                continue;
            }
            int differ = 0, failed = 0;
            for (int chunk = 2; chunk <= N_TOK; chunk++) {
                const int threads = chunk % 2 ? 2 : 1;
                if (!logits_of(m, kern, types[ti], threads, toks, N_TOK, chunk, blocked))
                    failed++;
                else if (memcmp(alone, blocked, n * sizeof(float)) != 0) {
                    if (differ++ == 0)
                        fprintf(stderr, "%s %s %s: chunks of %d differ from token by token\n", label, kern,
                                type_names[types[ti]], chunk);
                }
            }
            CHECK_MSG(failed == 0 && differ == 0, "%s %s %s: %d chunk sizes failed, %d differ", label, kern,
                      type_names[types[ti]], failed, differ);
            /* The logits are real numbers, not a constant that would match
             * whatever attention did. */
            bool varied = false;
            for (size_t i = 1; i < n && !varied; i++) varied = alone[i] != alone[0] && isfinite(alone[i]);
            CHECK(varied);
        }
    }
    free(alone);
    free(blocked);
    lorc_model_free(m);
}

int main(void) {
    lorc_kernels ref;
    lorc_kernels_init_scalar(&ref);
    lorc_cpu_features cpu;
    lorc_cpu_detect(&cpu);
    for (int isa = 0; isa < LORC_ISA_COUNT; isa++) {
        if (!lorc_isa_supported(&cpu, (lorc_isa)isa) || !lorc_isa_built((lorc_isa)isa)) continue;
        lorc_kernels k;
        lorc_kernels_init(&k, &cpu, (lorc_isa)isa);
        CHECK(k.vec.weighted_rows_f32 != NULL);
        if (isa == LORC_ISA_AVX2) CHECK(k.vec.weighted_rows_f32 != ref.vec.weighted_rows_f32);
        test_kernel(&k, &ref);
    }

    /* head_dim 32: Q8_0's blocks fit; GQA group 2. */
    synth_params sp = synth_default_params();
    sp.n_embd = 64;
    sp.n_head = 4;
    sp.n_head_kv = 2;
    sp.head_dim = 32;
    sp.n_ff = 96;
    const lorc_kv_type all[] = {LORC_KV_F16, LORC_KV_F32, LORC_KV_Q8_0};
    test_forward("attention_blocks_hd32.gguf", &sp, all, 3);
    /* head_dim 44 (16 + 16 + 8 + a 4-column tail), one KV head for 4 query
     * heads; Q8_0 does not fit it. */
    sp.n_head_kv = 1;
    sp.head_dim = 44;
    const lorc_kv_type float_types[] = {LORC_KV_F16, LORC_KV_F32};
    test_forward("attention_blocks_hd44.gguf", &sp, float_types, 2);
    return test_finish("test_attention_blocks");
}
