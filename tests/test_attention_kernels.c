/* test_attention_kernels.c — the vec kernels behind attention's blocked
 * P·V (weighted_rows_f32), for every family this CPU runs: each query gets
 * exactly the bits of one axpy_f32 per position (the unblocked P·V),
 * whether it is alone (as in decode) or in a block of 2..N queries,
 * wherever it sits in the block, and however its positions are split over
 * calls (pages of several sizes, causal runs where the block's queries
 * leave one by one); columns past n are never written (head sizes that
 * take the 16-, 8- and tail-column paths); the fast families stay within
 * a rounding tolerance of the scalar reference. Also softmax_scaled_f32
 * (attention's scale folded into the softmax) against the two passes it
 * replaces. Needs only the tensor layer, so it also builds for AArch64
 * (NEON). */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tensor/kernels.h"
#include "testutil.h"

enum { MAX_Q = 13, MAX_T = 37, MAX_N = 67, V_STRIDE = 71, GUARD = 4 };

static float uniform(uint64_t *state) { /* [-1, 1) */
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((*state >> 40) * (1.0 / (1ull << 24)) * 2.0 - 1.0);
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
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < MAX_Q * MAX_T; i++) p[i] = uniform(&rng) * 0.5f + 0.5f; /* softmax weights are >= 0 */
    for (int i = 0; i < MAX_T * V_STRIDE; i++) v[i] = uniform(&rng) * 3.0f;
    for (int i = 0; i < MAX_Q * MAX_N; i++) init[i] = uniform(&rng);
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


/* softmax_scaled_f32 gives the bits of x *= scale then softmax_f32 of the
 * same family (what attention did in two passes): scores with a large
 * spread, masked (-inf) entries, every tail length. */
static void test_softmax_scaled(const lorc_kernels *k) {
    enum { N = 70 };
    static float x[N + 2], y[N + 2];
    uint64_t rng = 12345;
    int differ = 0, cases = 0;
    const float scales[] = {0.125f, 0.0883883476f, 1.0f, 3.7f};
    for (int n = 1; n <= N; n++)
        for (size_t si = 0; si < sizeof scales / sizeof *scales; si++) {
            for (int i = 0; i < N + 2; i++) x[i] = uniform(&rng) * 40.0f;
            if (n > 3) x[1 + n / 2] = -INFINITY;
            memcpy(y, x, sizeof x);
            k->vec.softmax_scaled_f32(x + 1, n, scales[si]);
            for (int i = 1; i <= n; i++) y[i] *= scales[si];
            k->vec.softmax_f32(y + 1, n);
            if (memcmp(x, y, sizeof x) != 0) differ++; /* guards at 0 and n+1 included */
            cases++;
        }
    CHECK(cases == 70 * 4);
    CHECK_MSG(differ == 0, "%s: softmax_scaled_f32 differs from scale then softmax_f32 in %d cases",
              lorc_isa_name(k->isa), differ);
    /* and it is a softmax: sums to 1 */
    for (int i = 0; i < 8; i++) x[i] = (float)i;
    k->vec.softmax_scaled_f32(x, 8, 0.5f);
    double sum = 0;
    for (int i = 0; i < 8; i++) sum += x[i];
    CHECK_MSG(fabs(sum - 1.0) < 1e-6 && x[7] > x[6] && x[0] > 0, "%s: sum %.9g", lorc_isa_name(k->isa), sum);
}

int main(void) {
    lorc_kernels ref;
    lorc_kernels_init_scalar(&ref);
    lorc_cpu_features cpu;
    lorc_cpu_detect(&cpu);
    int families = 0;
    for (int isa = 0; isa < LORC_ISA_COUNT; isa++) {
        if (!lorc_isa_supported(&cpu, (lorc_isa)isa) || !lorc_isa_built((lorc_isa)isa)) continue;
        lorc_kernels k;
        lorc_kernels_init(&k, &cpu, (lorc_isa)isa);
        CHECK(k.vec.weighted_rows_f32 != NULL);
        /* the fast families have their own kernel, not the reference */
        if (isa == LORC_ISA_AVX2 || isa == LORC_ISA_NEON) CHECK(k.vec.weighted_rows_f32 != ref.vec.weighted_rows_f32);
        test_kernel(&k, &ref);
        test_softmax_scaled(&k);
        families++;
    }
    CHECK(families >= 1);
    printf("weighted_rows_f32: %d kernel families checked\n", families);
    return test_finish("test_attention_kernels");
}
