/* svd.c — truncated SVD (randomized subspace iteration + one-sided Jacobi),
 * in double precision over an F32 matrix. Written for extract's sizes:
 * ranks of a few dozen, matrices up to tens of thousands on a side. */
#include "svd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../base/checked.h"
#include "../base/error.h"

enum {
    SVD_OVERSAMPLE = 10, /* extra random directions beyond r: makes the captured subspace robust */
    SVD_POWER_ITERS = 4, /* (M Mᵀ)^q sharpens slowly decaying spectra */
    SVD_MAX_SWEEPS = 60
};

/* splitmix64: a tiny deterministic generator kept on the stack (no globals). */
static uint64_t next_u64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double next_normal(uint64_t *s) {
    /* Box-Muller; u1 in (0, 1] so the log is finite */
    double u1 = ((double)(next_u64(s) >> 11) + 1.0) * 0x1.0p-53;
    double u2 = (double)(next_u64(s) >> 11) * 0x1.0p-53;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static double dot(const double *a, const double *b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* Orthonormalizes k columns of length len (column j at X + j*len) by
 * modified Gram-Schmidt with a second pass; columns that are (numerically)
 * in the span of earlier ones are dropped. Returns the number kept, packed first. */
static int orthonormalize(double *X, int64_t len, int k) {
    int kept = 0;
    for (int j = 0; j < k; j++) {
        double *v = X + (size_t)kept * (size_t)len;
        if (kept != j) memcpy(v, X + (size_t)j * (size_t)len, (size_t)len * sizeof *v);
        double n0 = sqrt(dot(v, v, len));
        if (!(n0 > 0)) continue;
        for (int pass = 0; pass < 2; pass++)
            for (int i = 0; i < kept; i++) {
                const double *q = X + (size_t)i * (size_t)len;
                double d = dot(q, v, len);
                for (int64_t t = 0; t < len; t++) v[t] -= d * q[t];
            }
        double n1 = sqrt(dot(v, v, len));
        if (!(n1 > 1e-12 * n0)) continue;
        for (int64_t t = 0; t < len; t++) v[t] /= n1;
        kept++;
    }
    return kept;
}

/* Y (k columns of length m) = M · X (k columns of length n). */
static void mul_m(const float *M, int64_t m, int64_t n, const double *X, int k, double *Y) {
    for (int64_t i = 0; i < m; i++) {
        const float *row = M + (size_t)i * (size_t)n;
        for (int j = 0; j < k; j++) {
            const double *x = X + (size_t)j * (size_t)n;
            double s = 0;
            for (int64_t l = 0; l < n; l++) s += (double)row[l] * x[l];
            Y[(size_t)j * (size_t)m + (size_t)i] = s;
        }
    }
}

/* Z (k columns of length n) = Mᵀ · Q (k columns of length m). */
static void mul_mt(const float *M, int64_t m, int64_t n, const double *Q, int k, double *Z) {
    memset(Z, 0, (size_t)k * (size_t)n * sizeof *Z);
    for (int64_t i = 0; i < m; i++) {
        const float *row = M + (size_t)i * (size_t)n;
        for (int j = 0; j < k; j++) {
            double q = Q[(size_t)j * (size_t)m + (size_t)i];
            if (q == 0) continue;
            double *z = Z + (size_t)j * (size_t)n;
            for (int64_t l = 0; l < n; l++) z[l] += q * (double)row[l];
        }
    }
}

/* One-sided (Hestenes) Jacobi: rotates the k columns of W (length len) until
 * they are mutually orthogonal, applying the same rotations to V (k×k,
 * column j at V + j*k, starting as the identity). */
static void jacobi(double *W, int64_t len, double *V, int k) {
    for (int i = 0; i < k * k; i++) V[i] = 0;
    for (int i = 0; i < k; i++) V[i * k + i] = 1;
    for (int sweep = 0; sweep < SVD_MAX_SWEEPS; sweep++) {
        int rotated = 0;
        for (int p = 0; p < k - 1; p++)
            for (int q = p + 1; q < k; q++) {
                double *wp = W + (size_t)p * (size_t)len, *wq = W + (size_t)q * (size_t)len;
                double a = dot(wp, wp, len), b = dot(wq, wq, len), g = dot(wp, wq, len);
                if (!(fabs(g) > 1e-15 * sqrt(a * b))) continue;
                rotated = 1;
                double zeta = (b - a) / (2 * g);
                double t = (zeta >= 0 ? 1.0 : -1.0) / (fabs(zeta) + sqrt(1 + zeta * zeta));
                double c = 1 / sqrt(1 + t * t), s = c * t;
                for (int64_t i = 0; i < len; i++) {
                    double x = wp[i], y = wq[i];
                    wp[i] = c * x - s * y;
                    wq[i] = s * x + c * y;
                }
                double *vp = V + (size_t)p * (size_t)k, *vq = V + (size_t)q * (size_t)k;
                for (int i = 0; i < k; i++) {
                    double x = vp[i], y = vq[i];
                    vp[i] = c * x - s * y;
                    vq[i] = s * x + c * y;
                }
            }
        if (!rotated) break;
    }
}

lorc_status lorc_svd_truncated(const float *M, int64_t m, int64_t n, int r, double *U, double *S, double *Vt,
                               lorc_error *err) {
    if (m <= 0 || n <= 0 || r <= 0) return lorc_fail(err, LORC_ERR_INVALID, "svd: bad dimensions %lldx%lld rank %d",
                                                     (long long)m, (long long)n, r);
    int64_t mn = m < n ? m : n;
    int k = r + SVD_OVERSAMPLE;
    if (k > mn) k = (int)mn;
    uint64_t big = (uint64_t)(m > n ? m : n), bytes;
    if (!lorc_mul_u64(big, (uint64_t)k * 3, &bytes) || !lorc_mul_u64(bytes, sizeof(double), &bytes) || bytes > SIZE_MAX)
        return lorc_fail(err, LORC_ERR_NOMEM, "svd: %lldx%lld matrix is too large", (long long)m, (long long)n);
    double *Y = malloc((size_t)k * (size_t)m * sizeof *Y);  /* range basis Q, columns of length m */
    double *Z = malloc((size_t)k * (size_t)n * sizeof *Z);  /* co-range, columns of length n */
    double *V = malloc((size_t)k * (size_t)k * sizeof *V);
    double *sig = malloc((size_t)k * sizeof *sig);
    int *order = malloc((size_t)k * sizeof *order);
    if (!Y || !Z || !V || !sig || !order) {
        free(Y), free(Z), free(V), free(sig), free(order);
        return lorc_fail(err, LORC_ERR_NOMEM, "svd: out of memory for a %lldx%lld matrix", (long long)m, (long long)n);
    }
    uint64_t seed = 0x6c6f7263ull; /* fixed: the same input gives the same adapter */
    for (size_t i = 0; i < (size_t)k * (size_t)n; i++) Z[i] = next_normal(&seed);
    int kk = k;
    mul_m(M, m, n, Z, kk, Y);
    kk = orthonormalize(Y, m, kk);
    for (int it = 0; it < SVD_POWER_ITERS && kk > 0; it++) {
        mul_mt(M, m, n, Y, kk, Z);
        kk = orthonormalize(Z, n, kk);
        if (kk == 0) break;
        mul_m(M, m, n, Z, kk, Y);
        kk = orthonormalize(Y, m, kk);
    }
    /* Z = Mᵀ Q (= Bᵀ for B = Qᵀ M); Jacobi gives Z·V = W with orthogonal
     * columns, so M ≈ (Q V) diag(‖W_j‖) (W_j / ‖W_j‖)ᵀ. */
    if (kk > 0) {
        mul_mt(M, m, n, Y, kk, Z);
        jacobi(Z, n, V, kk);
    }
    for (int j = 0; j < kk; j++) {
        sig[j] = sqrt(dot(Z + (size_t)j * (size_t)n, Z + (size_t)j * (size_t)n, n));
        order[j] = j;
    }
    for (int a = 1; a < kk; a++) { /* insertion sort, descending: kk is small */
        int v = order[a], b = a;
        while (b > 0 && sig[order[b - 1]] < sig[v]) {
            order[b] = order[b - 1];
            b--;
        }
        order[b] = v;
    }
    memset(U, 0, (size_t)m * (size_t)r * sizeof *U);
    memset(Vt, 0, (size_t)r * (size_t)n * sizeof *Vt);
    for (int c = 0; c < r; c++) S[c] = 0;
    double smax = kk > 0 ? sig[order[0]] : 0;
    for (int c = 0; c < r && c < kk; c++) {
        int j = order[c];
        /* a direction with no weight is noise from rounding: leave it zero */
        if (!(sig[j] > 1e-300) || !(sig[j] > 1e-14 * smax)) break;
        S[c] = sig[j];
        const double *w = Z + (size_t)j * (size_t)n;
        for (int64_t l = 0; l < n; l++) Vt[(size_t)c * (size_t)n + (size_t)l] = w[l] / sig[j];
        const double *v = V + (size_t)j * (size_t)kk;
        for (int64_t i = 0; i < m; i++) {
            double s = 0;
            for (int t = 0; t < kk; t++) s += Y[(size_t)t * (size_t)m + (size_t)i] * v[t];
            U[(size_t)i * (size_t)r + (size_t)c] = s;
        }
    }
    free(Y), free(Z), free(V), free(sig), free(order);
    return LORC_OK;
}

double lorc_lowrank_rel_error(const float *M, int64_t m, int64_t n, const float *B, const float *A, int r) {
    double *rec = malloc((size_t)n * sizeof *rec);
    if (!rec) return NAN;
    double num = 0, den = 0;
    for (int64_t i = 0; i < m; i++) {
        const float *row = M + (size_t)i * (size_t)n;
        const float *b = B + (size_t)i * (size_t)r;
        for (int64_t l = 0; l < n; l++) rec[l] = 0;
        for (int k = 0; k < r; k++) { /* row i of B·A, one row of A at a time (contiguous) */
            const float *a = A + (size_t)k * (size_t)n;
            double bk = b[k];
            if (bk == 0) continue;
            for (int64_t l = 0; l < n; l++) rec[l] += bk * (double)a[l];
        }
        for (int64_t l = 0; l < n; l++) {
            double d = (double)row[l] - rec[l];
            num += d * d;
            den += (double)row[l] * (double)row[l];
        }
    }
    free(rec);
    /* ‖M‖ = 0 and B·A = 0: the relative error is 0/0, undefined (NaN), not 0 */
    return den > 0 ? sqrt(num / den) : (num > 0 ? INFINITY : NAN);
}
