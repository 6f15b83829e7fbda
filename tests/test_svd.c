/* test_svd.c — the truncated SVD behind `lorc extract`: known spectra,
 * exact low-rank inputs, rank-deficient and degenerate matrices, shapes
 * wider or taller than the rank, orthonormal factors, determinism. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter/svd.h"
#include "testutil.h"

static uint64_t rng_state = 12345; /* test-local generator */

static double urand(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1.0p-53 * 2.0 - 1.0;
}

/* k random orthonormal columns of length len (column j at Q + j*len). */
static void random_orthonormal(double *Q, int64_t len, int k) {
    for (int j = 0; j < k; j++) {
        double *v = Q + (size_t)j * (size_t)len;
        for (int64_t i = 0; i < len; i++) v[i] = urand();
        for (int pass = 0; pass < 2; pass++)
            for (int p = 0; p < j; p++) {
                const double *q = Q + (size_t)p * (size_t)len;
                double d = 0;
                for (int64_t i = 0; i < len; i++) d += q[i] * v[i];
                for (int64_t i = 0; i < len; i++) v[i] -= d * q[i];
            }
        double n = 0;
        for (int64_t i = 0; i < len; i++) n += v[i] * v[i];
        n = sqrt(n);
        for (int64_t i = 0; i < len; i++) v[i] /= n;
    }
}

/* M = Σ_j s_j u_j v_jᵀ (m×n row-major, float). */
static float *with_spectrum(int64_t m, int64_t n, const double *s, int k) {
    double *Uq = malloc((size_t)m * (size_t)k * sizeof *Uq), *Vq = malloc((size_t)n * (size_t)k * sizeof *Vq);
    float *M = calloc((size_t)m * (size_t)n, sizeof *M);
    random_orthonormal(Uq, m, k);
    random_orthonormal(Vq, n, k);
    for (int64_t i = 0; i < m; i++)
        for (int64_t l = 0; l < n; l++) {
            double x = 0;
            for (int j = 0; j < k; j++) x += s[j] * Uq[(size_t)j * (size_t)m + (size_t)i] * Vq[(size_t)j * (size_t)n + (size_t)l];
            M[(size_t)i * (size_t)n + (size_t)l] = (float)x;
        }
    free(Uq);
    free(Vq);
    return M;
}

/* ‖M − U diag(S) Vt‖_F / ‖M‖_F in double. */
static double recon_error(const float *M, int64_t m, int64_t n, const double *U, const double *S, const double *Vt, int r) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t l = 0; l < n; l++) {
            double x = 0;
            for (int k = 0; k < r; k++) x += U[(size_t)i * (size_t)r + (size_t)k] * S[k] * Vt[(size_t)k * (size_t)n + (size_t)l];
            double d = (double)M[(size_t)i * (size_t)n + (size_t)l] - x;
            num += d * d;
            den += (double)M[(size_t)i * (size_t)n + (size_t)l] * (double)M[(size_t)i * (size_t)n + (size_t)l];
        }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* max |UᵀU − I| over the columns with S > 0, and the same for Vt's rows. */
static double orthogonality(const double *U, const double *S, const double *Vt, int64_t m, int64_t n, int r) {
    double worst = 0;
    for (int a = 0; a < r; a++)
        for (int b = 0; b < r; b++) {
            if (S[a] == 0 || S[b] == 0) continue;
            double du = 0, dv = 0;
            for (int64_t i = 0; i < m; i++) du += U[(size_t)i * (size_t)r + (size_t)a] * U[(size_t)i * (size_t)r + (size_t)b];
            for (int64_t l = 0; l < n; l++) dv += Vt[(size_t)a * (size_t)n + (size_t)l] * Vt[(size_t)b * (size_t)n + (size_t)l];
            double want = a == b ? 1.0 : 0.0;
            if (fabs(du - want) > worst) worst = fabs(du - want);
            if (fabs(dv - want) > worst) worst = fabs(dv - want);
        }
    return worst;
}

typedef struct svd_out {
    double *U, *S, *Vt;
} svd_out;

static int run(const float *M, int64_t m, int64_t n, int r, svd_out *o) {
    o->U = malloc((size_t)m * (size_t)r * sizeof *o->U);
    o->S = malloc((size_t)r * sizeof *o->S);
    o->Vt = malloc((size_t)r * (size_t)n * sizeof *o->Vt);
    lorc_error err = {0};
    lorc_status st = lorc_svd_truncated(M, m, n, r, o->U, o->S, o->Vt, &err);
    CHECK_MSG(st == LORC_OK, "%s", err.message);
    return st == LORC_OK;
}

static void out_free(svd_out *o) {
    free(o->U);
    free(o->S);
    free(o->Vt);
}

static bool all_finite(const double *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return false;
    return true;
}

static void test_known_spectrum(int64_t m, int64_t n) {
    double s[8] = {10, 5, 2, 1, 0.5, 0.25, 0.1, 0.05};
    float *M = with_spectrum(m, n, s, 8);
    svd_out o;
    if (run(M, m, n, 3, &o)) {
        for (int k = 0; k < 3; k++) CHECK_MSG(fabs(o.S[k] - s[k]) < 1e-5 * s[0], "%lldx%lld sigma[%d] %.9g want %.9g",
                                              (long long)m, (long long)n, k, o.S[k], s[k]);
        double tail = 0, all = 0;
        for (int k = 0; k < 8; k++) {
            all += s[k] * s[k];
            if (k >= 3) tail += s[k] * s[k];
        }
        double e = recon_error(M, m, n, o.U, o.S, o.Vt, 3), want = sqrt(tail / all);
        CHECK_MSG(fabs(e - want) < 1e-5, "truncation error %.9g, best possible %.9g", e, want);
        CHECK(orthogonality(o.U, o.S, o.Vt, m, n, 3) < 1e-9);
        out_free(&o);
    }
    free(M);
}

static void test_exact_low_rank(void) {
    /* rank 4 exactly, recovered at rank 4 and at a higher rank */
    int64_t m = 70, n = 45;
    double s[4] = {3, 2, 1, 0.5};
    float *M = with_spectrum(m, n, s, 4);
    int ranks[2] = {4, 9};
    for (int t = 0; t < 2; t++) {
        int r = ranks[t];
        svd_out o;
        if (!run(M, m, n, r, &o)) continue;
        double e = recon_error(M, m, n, o.U, o.S, o.Vt, r);
        CHECK_MSG(e < 1e-7, "rank-4 input at r=%d: relative error %.3g", r, e);
        for (int k = 4; k < r; k++) CHECK_MSG(o.S[k] < 1e-6, "sigma[%d] = %.3g past the rank", k, o.S[k]);
        CHECK(orthogonality(o.U, o.S, o.Vt, m, n, r) < 1e-9);
        CHECK(all_finite(o.U, (size_t)m * (size_t)r) && all_finite(o.Vt, (size_t)r * (size_t)n));
        /* the float factors give the same through lorc_lowrank_rel_error */
        float *fb = malloc((size_t)m * (size_t)r * sizeof *fb), *fa = malloc((size_t)r * (size_t)n * sizeof *fa);
        for (int k = 0; k < r; k++) {
            for (int64_t i = 0; i < m; i++) fb[i * r + k] = (float)(o.U[i * r + k] * sqrt(o.S[k]));
            for (int64_t l = 0; l < n; l++) fa[k * n + l] = (float)(o.Vt[k * n + l] * sqrt(o.S[k]));
        }
        double fe = lorc_lowrank_rel_error(M, m, n, fb, fa, r);
        CHECK_MSG(fe < 1e-6, "float factors: relative error %.3g", fe);
        free(fa);
        free(fb);
        out_free(&o);
    }
    free(M);
}

static void test_degenerate(void) {
    /* all zeros: zeros out, nothing NaN */
    float *Z = calloc(20 * 30, sizeof *Z);
    svd_out o;
    if (run(Z, 20, 30, 5, &o)) {
        bool zero = true;
        for (int k = 0; k < 5; k++) zero &= o.S[k] == 0;
        for (int i = 0; i < 20 * 5; i++) zero &= o.U[i] == 0;
        for (int i = 0; i < 5 * 30; i++) zero &= o.Vt[i] == 0;
        CHECK_MSG(zero, "zero matrix gives non-zero factors");
        /* 0/0: undefined, reported as NaN rather than a perfect 0 */
        CHECK(isnan(lorc_lowrank_rel_error(Z, 20, 30, (float[100]){0}, (float[150]){0}, 5)));
        out_free(&o);
    }
    free(Z);

    /* rank 1 with repeated columns, asked for rank 8 */
    int64_t m = 16, n = 24;
    float *M = malloc((size_t)(m * n) * sizeof *M);
    for (int64_t i = 0; i < m; i++)
        for (int64_t l = 0; l < n; l++) M[i * n + l] = (float)((i + 1) * 0.25);
    if (run(M, m, n, 8, &o)) {
        CHECK(o.S[0] > 0);
        for (int k = 1; k < 8; k++) CHECK_MSG(o.S[k] < 1e-6 * o.S[0], "sigma[%d] = %.3g", k, o.S[k]);
        CHECK(all_finite(o.U, (size_t)(m * 8)) && all_finite(o.Vt, (size_t)(8 * n)));
        CHECK(recon_error(M, m, n, o.U, o.S, o.Vt, 8) < 1e-7);
        out_free(&o);
    }
    free(M);

    /* rank larger than both dimensions: exact */
    float small[3 * 7];
    for (int i = 0; i < 21; i++) small[i] = (float)urand();
    if (run(small, 3, 7, 5, &o)) {
        CHECK(recon_error(small, 3, 7, o.U, o.S, o.Vt, 5) < 1e-7);
        CHECK(o.S[3] == 0 && o.S[4] == 0);
        CHECK(o.S[0] >= o.S[1] && o.S[1] >= o.S[2]);
        out_free(&o);
    }

    /* one row / one column */
    float row[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    if (run(row, 1, 9, 2, &o)) {
        CHECK(recon_error(row, 1, 9, o.U, o.S, o.Vt, 2) < 1e-7);
        out_free(&o);
    }
    if (run(row, 9, 1, 2, &o)) {
        CHECK(recon_error(row, 9, 1, o.U, o.S, o.Vt, 2) < 1e-7);
        out_free(&o);
    }

    lorc_error err = {0};
    double dummy[4];
    CHECK(lorc_svd_truncated(row, 0, 9, 1, dummy, dummy, dummy, &err) == LORC_ERR_INVALID);
    CHECK(lorc_svd_truncated(row, 1, 9, 0, dummy, dummy, dummy, &err) == LORC_ERR_INVALID);
}

static void test_deterministic(void) {
    double s[5] = {4, 3, 2, 1, 0.5};
    float *M = with_spectrum(40, 33, s, 5);
    svd_out a, b;
    if (run(M, 40, 33, 3, &a) && run(M, 40, 33, 3, &b)) {
        CHECK(!memcmp(a.U, b.U, 40 * 3 * sizeof(double)) && !memcmp(a.S, b.S, 3 * sizeof(double)) &&
              !memcmp(a.Vt, b.Vt, 3 * 33 * sizeof(double)));
        out_free(&a);
        out_free(&b);
    }
    free(M);
}

int main(void) {
    test_known_spectrum(60, 40);  /* tall */
    test_known_spectrum(30, 90);  /* wide */
    test_known_spectrum(256, 256);
    test_exact_low_rank();
    test_degenerate();
    test_deterministic();
    return test_finish("test_svd");
}
