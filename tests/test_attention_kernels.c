/* test_attention_kernels.c — the vec kernels behind attention's blocked
 * P·V (weighted_rows_f32), for every family this CPU runs: each query gets
 * exactly the bits of one axpy_f32 per position (the unblocked P·V),
 * whether it is alone (as in decode) or in a block of 2..N queries,
 * wherever it sits in the block, and however its positions are split over
 * calls (pages of several sizes, causal runs where the block's queries
 * leave one by one); columns past n are never written (head sizes that
 * take the 64-, 16-, 8- and tail-column paths); the fast families stay within
 * a rounding tolerance of the scalar reference. Also softmax_scaled_f32
 * (attention's scale folded into the softmax) against the two passes it
 * replaces and against the scalar reference, and scores_cols (Q·Kᵀ
 * against K kept by dimension). The AVX-512 family also with emulated
 * instructions, so that machines without AVX-512 check it. Needs only the
 * tensor layer (and the test support's kernel_check.c), so it also builds
 * for AArch64 (NEON). */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kernel_check.h" /* kc_avx512_emulated */
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

/* softmax_scaled_f32 against the scalar reference: short rows (every tail),
 * long ones (a long context), -inf entries, a large spread; each value
 * within a few ulp of the reference, the row summing to 1, the guards
 * untouched. */
static void test_softmax_reference(const lorc_kernels *k, const lorc_kernels *ref) {
    enum { LONG = 5003 };
    static float x[LONG + 2], y[LONG + 2];
    static const int lens[] = {1, 2, 7, 15, 16, 17, 31, 32, 33, 47, 48, 63, 64, 65, 100, 1000, LONG};
    const float scales[] = {0.125f, 1.0f, 3.7f};
    uint64_t rng = 777;
    int off = 0, bad_sum = 0, stray = 0;
    for (size_t li = 0; li < sizeof lens / sizeof *lens; li++)
        for (size_t si = 0; si < sizeof scales / sizeof *scales; si++) {
            const int n = lens[li];
            for (int i = 0; i < n + 2; i++) x[i] = uniform(&rng) * 20.0f;
            for (int i = 3; i <= n; i += 5) x[i] = -INFINITY;
            memcpy(y, x, (size_t)(n + 2) * sizeof(float));
            k->vec.softmax_scaled_f32(x + 1, n, scales[si]);
            ref->vec.softmax_scaled_f32(y + 1, n, scales[si]);
            double sum = 0;
            for (int i = 1; i <= n; i++) {
                off += fabsf(x[i] - y[i]) > 1e-5f * y[i] + 1e-30f;
                sum += x[i];
            }
            bad_sum += fabs(sum - 1.0) > 1e-5;
            stray += x[0] != y[0] || x[n + 1] != y[n + 1];
        }
    CHECK_MSG(off == 0 && bad_sum == 0 && stray == 0,
              "%s: softmax_scaled_f32 against the reference: %d values off, %d sums off, %d stray writes",
              lorc_isa_name(k->isa), off, bad_sum, stray);
}

/* scores_cols (Q·Kᵀ against K kept by dimension): every family gives the
 * scalar reference's bits (one FMA per dimension, in order), for F16 and
 * F32 K, any number of queries and positions (the 16-, 8- and tail-position
 * paths), page strides wider than the positions, and head sizes that are
 * not multiples of anything; nothing past n_t is written; and the scores
 * are the dot products (double-precision check, so that a reference wrong
 * in the same way as the kernel cannot pass). */
enum { SC_MAX_HD = 130, SC_MAX_STRIDE = 37, SC_S_STRIDE = SC_MAX_STRIDE + GUARD };

static void test_scores_cols(const lorc_kernels *k, const lorc_kernels *ref) {
    static float q[MAX_Q * SC_MAX_HD], kf[SC_MAX_HD * SC_MAX_STRIDE], got[MAX_Q * SC_S_STRIDE],
        want[MAX_Q * SC_S_STRIDE];
    static uint16_t kh[SC_MAX_HD * SC_MAX_STRIDE];
    static const int hds[] = {64, 128, 80, 3, 130};
    static const int strides[] = {16, 37};
    uint64_t st = 99;
    int differ = 0, stray = 0, off = 0, runs = 0;
    for (int f16 = 0; f16 < 2; f16++)
        for (size_t h = 0; h < sizeof hds / sizeof hds[0]; h++)
            for (size_t si = 0; si < sizeof strides / sizeof strides[0]; si++) {
                const int hd = hds[h], stride = strides[si];
                const float scale = f16 ? 4.0f : 300.0f; /* F32 K: large values too */
                for (int i = 0; i < MAX_Q * hd; i++) q[i] = uniform(&st) * scale;
                for (int i = 0; i < hd * stride; i++) kf[i] = uniform(&st) * scale;
                ref->vec.f32_to_f16(kf, kh, (int64_t)hd * stride);
                if (f16) ref->vec.f16_to_f32(kh, kf, (int64_t)hd * stride); /* the values the kernel sees */
                const void *kp = f16 ? (const void *)kh : (const void *)kf;
                for (int n_q = 1; n_q <= MAX_Q; n_q += 3)
                    for (int n_t = 1; n_t <= stride; n_t += (n_t < 18 ? 1 : 5)) {
                        for (int i = 0; i < MAX_Q * SC_S_STRIDE; i++) got[i] = want[i] = 1234.5f;
                        k->vec.scores_cols(n_q, hd, q, kp, f16 == 1, (size_t)stride, n_t, got, SC_S_STRIDE);
                        ref->vec.scores_cols(n_q, hd, q, kp, f16 == 1, (size_t)stride, n_t, want, SC_S_STRIDE);
                        runs++;
                        if (memcmp(got, want, sizeof got) != 0) differ++;
                        for (int c = 0; c < n_q; c++) {
                            for (int t = n_t; t < SC_S_STRIDE; t++) stray += got[c * SC_S_STRIDE + t] != 1234.5f;
                            for (int t = 0; t < n_t; t++) {
                                double dot = 0, mag = 0;
                                for (int d = 0; d < hd; d++) {
                                    const double x = (double)q[c * hd + d] * kf[d * stride + t];
                                    dot += x;
                                    mag += fabs(x);
                                }
                                off += fabs(got[c * SC_S_STRIDE + t] - dot) > 1e-5 * mag + 1e-30;
                            }
                        }
                        for (int c = n_q; c < MAX_Q; c++) stray += got[c * SC_S_STRIDE] != 1234.5f;
                    }
            }
    CHECK_MSG(differ == 0, "%s: scores_cols differs from the scalar reference in %d of %d calls", lorc_isa_name(k->isa),
              differ, runs);
    CHECK_MSG(stray == 0, "%s: scores_cols wrote %d values outside its scores", lorc_isa_name(k->isa), stray);
    CHECK_MSG(off == 0, "%s: %d scores are not the dot product", lorc_isa_name(k->isa), off);
}

static void check_family(const lorc_kernels *k, const lorc_kernels *ref) {
    test_kernel(k, ref);
    test_softmax_scaled(k);
    test_softmax_reference(k, ref);
    test_scores_cols(k, ref);
}

/* The AVX-512 family runs its own softmax, not the AVX2 one. */
static void check_own_softmax(const lorc_kernels *k, const lorc_cpu_features *cpu) {
    lorc_kernels avx2;
    lorc_kernels_init(&avx2, cpu, LORC_ISA_AVX2);
    CHECK(k->vec.softmax_scaled_f32 != avx2.vec.softmax_scaled_f32 && k->vec.softmax_f32 != avx2.vec.softmax_f32);
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
        if (isa != LORC_ISA_SCALAR) CHECK(k.vec.weighted_rows_f32 != ref.vec.weighted_rows_f32);
        check_family(&k, &ref);
        /* AVX2 and AVX-512 have their own Q·Kᵀ kernel, not the reference */
        if (isa == LORC_ISA_AVX2 || isa == LORC_ISA_AVX512) CHECK(k.vec.scores_cols != ref.vec.scores_cols);
        if (isa == LORC_ISA_AVX512) check_own_softmax(&k, &cpu);
        families++;
    }
    CHECK(families >= 1);
    printf("weighted_rows_f32: %d kernel families checked\n", families);
    /* the AVX-512 kernels with emulated instructions, on any x86-64 with AVX2 */
    lorc_kernels emulated;
    if (kc_avx512_emulated(&emulated, &cpu)) {
        check_family(&emulated, &ref);
        check_own_softmax(&emulated, &cpu);
        printf("the AVX-512 family with emulated instructions checked\n");
    }
    return test_finish("test_attention_kernels");
}
