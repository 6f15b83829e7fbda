/* quant_kquants_quantize.c — F32 -> k-quants (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K,
 * and the intermediate Q8_K).
 *
 * Two levels, as the formats require: each sub-block gets a float scale (and
 * for Q2/Q4/Q5_K a min) fitted by least squares; then those are themselves
 * quantized against one fp16 super-block scale. The fit tries a range of
 * step sizes around max/nmax, rounds every value for each, solves the
 * least-squares scale (and offset) for that rounding, and keeps the one with
 * the smallest squared error (unweighted: we minimise plain MSE). After the
 * sub-block scales are quantized, both neighbouring integer scale codes are
 * tried and every value is re-rounded against the scale actually stored, so
 * the final per-value error is at most half of the stored step. */
#include <math.h>
#include <string.h>

#include "quant_impl.h"

#define FIT_STEPS 10     /* candidates nmax + k*FIT_DELTA for k in -FIT_STEPS..FIT_STEPS */
#define FIT_DELTA 0.1f

/* Nearest integer of v clamped to [lo, hi] (ties up); NaN goes to lo. */
static inline int round_clamp(float v, int lo, int hi) {
    if (!(v >= (float)lo)) v = (float)lo; /* also catches NaN */
    if (v > (float)hi) v = (float)hi;
    return (int)(v - (float)lo + 0.5f) + lo; /* non-negative before the cast: truncation rounds */
}

/* Fits x ~= s*L - m with L in 0..nmax and m >= 0 (the formats subtract a
 * non-negative min). Writes L, returns s, stores m. */
static float fit_scale_min(int n, int nmax, const float *x, uint8_t *L, float *m_out) {
    float mn = x[0], mx = x[0], sum_x = 0.0f, sum_x2 = 0.0f;
    for (int i = 0; i < n; i++) {
        mn = fminf(mn, x[i]);
        mx = fmaxf(mx, x[i]);
        sum_x += x[i];
        sum_x2 += x[i] * x[i];
    }
    if (mn > 0.0f) mn = 0.0f; /* all positive: the min code stays 0 */
    memset(L, 0, (size_t)n);
    if (!(mx > mn)) { /* constant (or NaN) sub-block: the min alone says it */
        *m_out = (mn == mn) ? -mn : 0.0f;
        return 0.0f;
    }
    float best_s = (mx - mn) / (float)nmax, best_b = mn, best_err = INFINITY;
    uint8_t cand[32];
    for (int k = -FIT_STEPS; k <= FIT_STEPS; k++) {
        const float iscale = ((float)nmax + FIT_DELTA * (float)k) / (mx - mn);
        float sl = 0.0f, sl2 = 0.0f, sxl = 0.0f;
        for (int i = 0; i < n; i++) {
            int l = round_clamp((x[i] - mn) * iscale, 0, nmax);
            cand[i] = (uint8_t)l;
            sl += (float)l;
            sl2 += (float)(l * l);
            sxl += (float)l * x[i];
        }
        /* least squares for x ~= s*l + b, then b <= 0 enforced */
        const float det = (float)n * sl2 - sl * sl;
        if (!(det > 0.0f)) continue;
        float s = ((float)n * sxl - sum_x * sl) / det;
        float b = (sl2 * sum_x - sl * sxl) / det;
        if (b > 0.0f) {
            b = 0.0f;
            s = sxl / sl2;
        }
        if (!(s > 0.0f)) continue;
        /* sum (s*l + b - x)^2 expanded, so no second pass over the values */
        const float err = s * s * sl2 + 2.0f * s * b * sl + (float)n * b * b - 2.0f * s * sxl - 2.0f * b * sum_x + sum_x2;
        if (err < best_err) {
            best_err = err;
            best_s = s;
            best_b = b;
            memcpy(L, cand, (size_t)n);
        }
    }
    *m_out = -best_b;
    return best_s;
}

/* Fits x ~= s*L with L in -nmax..nmax-1. The largest magnitude is tried both
 * on the extra negative level and on the top positive one. Returns s (its
 * sign follows the mapping; 0 for an all-zero sub-block). */
static float fit_scale(int n, int nmax, const float *x) {
    float amax = 0.0f, max = 0.0f;
    for (int i = 0; i < n; i++) {
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    }
    if (!(amax > 1e-30f)) return 0.0f;
    float best_s = -max / (float)nmax, best_score = -1.0f;
    for (int side = 0; side < 2; side++) {
        for (int k = -FIT_STEPS; k <= FIT_STEPS; k++) {
            const float top = side == 0 ? -((float)nmax + FIT_DELTA * (float)k) : ((float)(nmax - 1) + FIT_DELTA * (float)k);
            const float iscale = top / max;
            float sxl = 0.0f, sl2 = 0.0f;
            for (int i = 0; i < n; i++) {
                int l = round_clamp(iscale * x[i], -nmax, nmax - 1);
                sxl += (float)l * x[i];
                sl2 += (float)(l * l);
            }
            /* error = sum x^2 - sxl^2/sl2, so maximise sxl^2/sl2 */
            if (sl2 > 0.0f && sxl * sxl / sl2 > best_score) {
                best_score = sxl * sxl / sl2;
                best_s = sxl / sl2;
            }
        }
    }
    return best_s;
}

/* ---- shared second level for the scale+min types (Q2_K, Q4_K, Q5_K) ---- */

/* Quantizes one super-block of 256 into sub-blocks of `sub` values with
 * codes 0..nmax, `code_max`-bit-limited scale and min codes; fills the fp16
 * d/dmin fields, the codes sc/mq (256/sub each) and the values L. */
static void quantize_scale_min_superblock(const float *x, int sub, int nmax, int code_max, uint8_t d_out[2],
                                          uint8_t dmin_out[2], uint8_t *sc, uint8_t *mq, uint8_t *L) {
    const int nsub = LORC_QK_K / sub;
    float s[16], m[16], max_s = 0.0f, max_m = 0.0f;
    for (int j = 0; j < nsub; j++) {
        s[j] = fit_scale_min(sub, nmax, x + sub * j, L + sub * j, &m[j]);
        max_s = fmaxf(max_s, s[j]);
        max_m = fmaxf(max_m, m[j]);
    }
    lorc_wr_f16(d_out, max_s / (float)code_max);
    lorc_wr_f16(dmin_out, max_m / (float)code_max);
    const float d = lorc_rd_f16(d_out), dmin = lorc_rd_f16(dmin_out);
    const float id = d > 0.0f ? 1.0f / d : 0.0f, idmin = dmin > 0.0f ? 1.0f / dmin : 0.0f;
    uint8_t cand[32];
    for (int j = 0; j < nsub; j++) {
        const float *xs = x + sub * j;
        const int s_lo = round_clamp(floorf(s[j] * id), 0, code_max), m_lo = round_clamp(floorf(m[j] * idmin), 0, code_max);
        float best_err = INFINITY;
        for (int ds = 0; ds < 2; ds++) {
            for (int dm = 0; dm < 2; dm++) {
                const int cs = s_lo + ds > code_max ? code_max : s_lo + ds;
                const int cm = m_lo + dm > code_max ? code_max : m_lo + dm;
                const float step = d * (float)cs, off = dmin * (float)cm;
                const float istep = step > 0.0f ? 1.0f / step : 0.0f;
                float err = 0.0f;
                for (int i = 0; i < sub; i++) {
                    int l = round_clamp((xs[i] + off) * istep, 0, nmax);
                    cand[i] = (uint8_t)l;
                    float e = step * (float)l - off - xs[i];
                    err += e * e;
                }
                if (err < best_err) {
                    best_err = err;
                    sc[j] = (uint8_t)cs;
                    mq[j] = (uint8_t)cm;
                    memcpy(L + sub * j, cand, (size_t)sub);
                }
            }
        }
    }
}

/* ---- shared second level for the signed-scale types (Q3_K, Q6_K) ---- */

/* Sub-blocks of 16 with codes -nmax..nmax-1 and signed scale codes
 * -code_lim..code_lim-1 against one fp16 d; fills d, sc and L (biased by +nmax). */
static void quantize_signed_superblock(const float *x, int nmax, int code_lim, uint8_t d_out[2], int8_t sc[16],
                                       uint8_t L[256]) {
    float s[16], s_max = 0.0f;
    for (int j = 0; j < 16; j++) {
        s[j] = fit_scale(16, nmax, x + 16 * j);
        if (fabsf(s[j]) > fabsf(s_max)) s_max = s[j];
    }
    /* The largest scale goes on the extra negative code, like the values. */
    lorc_wr_f16(d_out, s_max / -(float)code_lim);
    const float d = lorc_rd_f16(d_out);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    uint8_t cand[16];
    for (int j = 0; j < 16; j++) {
        const float *xs = x + 16 * j;
        const int c_lo = round_clamp(floorf(s[j] * id), -code_lim, code_lim - 1);
        float best_err = INFINITY;
        for (int dc = 0; dc < 2; dc++) {
            const int c = c_lo + dc > code_lim - 1 ? code_lim - 1 : c_lo + dc;
            const float step = d * (float)c;
            const float istep = step != 0.0f ? 1.0f / step : 0.0f;
            float err = 0.0f;
            for (int i = 0; i < 16; i++) {
                int l = round_clamp(xs[i] * istep, -nmax, nmax - 1);
                cand[i] = (uint8_t)(l + nmax);
                float e = step * (float)l - xs[i];
                err += e * e;
            }
            if (err < best_err) {
                best_err = err;
                sc[j] = (int8_t)c;
                memcpy(L + 16 * j, cand, 16);
            }
        }
    }
}

/* ---------------- Q2_K ---------------- */

void lorc_q2_K_from_float(const float *src, void *dst, int64_t n) {
    lorc_block_q2_K *b = dst;
    uint8_t L[LORC_QK_K], sc[16], mq[16];
    for (int64_t i = 0; i < n / LORC_QK_K; i++, b++, src += LORC_QK_K) {
        quantize_scale_min_superblock(src, 16, 3, 15, b->d, b->dmin, sc, mq, L);
        for (int j = 0; j < 16; j++) b->scales[j] = (uint8_t)(sc[j] | (mq[j] << 4));
        for (int h = 0; h < 2; h++) {
            const uint8_t *Lh = L + 128 * h;
            for (int l = 0; l < 32; l++)
                b->qs[32 * h + l] = (uint8_t)(Lh[l] | (Lh[l + 32] << 2) | (Lh[l + 64] << 4) | (Lh[l + 96] << 6));
        }
    }
}

/* ---------------- Q3_K ---------------- */

void lorc_q3_K_from_float(const float *src, void *dst, int64_t n) {
    lorc_block_q3_K *b = dst;
    uint8_t L[LORC_QK_K], codes[16];
    int8_t sc[16];
    for (int64_t i = 0; i < n / LORC_QK_K; i++, b++, src += LORC_QK_K) {
        quantize_signed_superblock(src, 4, 32, b->d, sc, L);
        for (int j = 0; j < 16; j++) codes[j] = (uint8_t)(sc[j] + 32);
        lorc_q3_K_pack_scales(codes, b->scales);
        memset(b->hmask, 0, sizeof b->hmask);
        for (int e = 0; e < LORC_QK_K; e++) { /* L is q+4 in 0..7: bit 2 goes to hmask */
            if (L[e] & 4) b->hmask[e % 32] |= (uint8_t)(1u << (e / 32));
        }
        for (int h = 0; h < 2; h++) {
            const uint8_t *Lh = L + 128 * h;
            for (int l = 0; l < 32; l++)
                b->qs[32 * h + l] = (uint8_t)((Lh[l] & 3) | ((Lh[l + 32] & 3) << 2) | ((Lh[l + 64] & 3) << 4) |
                                              ((Lh[l + 96] & 3) << 6));
        }
    }
}

/* ---------------- Q4_K ---------------- */

void lorc_q4_K_from_float(const float *src, void *dst, int64_t n) {
    lorc_block_q4_K *b = dst;
    uint8_t L[LORC_QK_K], sc[8], mq[8];
    for (int64_t i = 0; i < n / LORC_QK_K; i++, b++, src += LORC_QK_K) {
        quantize_scale_min_superblock(src, 32, 15, 63, b->d, b->dmin, sc, mq, L);
        lorc_kq_pack_scales_mins(sc, mq, b->scales);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) b->qs[32 * c + l] = (uint8_t)(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
    }
}

/* ---------------- Q5_K ---------------- */

void lorc_q5_K_from_float(const float *src, void *dst, int64_t n) {
    lorc_block_q5_K *b = dst;
    uint8_t L[LORC_QK_K], sc[8], mq[8];
    for (int64_t i = 0; i < n / LORC_QK_K; i++, b++, src += LORC_QK_K) {
        quantize_scale_min_superblock(src, 32, 31, 63, b->d, b->dmin, sc, mq, L);
        lorc_kq_pack_scales_mins(sc, mq, b->scales);
        memset(b->qh, 0, sizeof b->qh);
        for (int c = 0; c < 4; c++) {
            for (int l = 0; l < 32; l++) {
                const uint8_t v1 = L[64 * c + l], v2 = L[64 * c + 32 + l];
                b->qs[32 * c + l] = (uint8_t)((v1 & 0x0f) | ((v2 & 0x0f) << 4));
                b->qh[l] |= (uint8_t)(((v1 >> 4) << (2 * c)) | ((v2 >> 4) << (2 * c + 1)));
            }
        }
    }
}

/* ---------------- Q6_K ---------------- */

void lorc_q6_K_from_float(const float *src, void *dst, int64_t n) {
    lorc_block_q6_K *b = dst;
    uint8_t L[LORC_QK_K];
    for (int64_t i = 0; i < n / LORC_QK_K; i++, b++, src += LORC_QK_K) {
        quantize_signed_superblock(src, 32, 128, b->d, b->scales, L);
        for (int h = 0; h < 2; h++) {
            const uint8_t *Lh = L + 128 * h;
            uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
            for (int l = 0; l < 32; l++) {
                ql[l] = (uint8_t)((Lh[l] & 0x0f) | ((Lh[l + 64] & 0x0f) << 4));
                ql[l + 32] = (uint8_t)((Lh[l + 32] & 0x0f) | ((Lh[l + 96] & 0x0f) << 4));
                qh[l] = (uint8_t)((Lh[l] >> 4) | ((Lh[l + 32] >> 4) << 2) | ((Lh[l + 64] >> 4) << 4) |
                                  ((Lh[l + 96] >> 4) << 6));
            }
        }
    }
}

/* ---------------- Q8_K (intermediate activations) ---------------- */

void lorc_q8_K_from_float(const float *src, void *dst, int64_t n) {
    lorc_block_q8_K *b = dst;
    for (int64_t i = 0; i < n / LORC_QK_K; i++, b++, src += LORC_QK_K) {
        float amax = 0.0f;
        for (int l = 0; l < LORC_QK_K; l++) amax = fmaxf(amax, fabsf(src[l]));
        const float d = amax / 127.0f, id = d > 0.0f ? 1.0f / d : 0.0f;
        uint32_t u;
        memcpy(&u, &d, sizeof u);
        for (int k = 0; k < 4; k++) b->d[k] = (uint8_t)(u >> (8 * k));
        for (int g = 0; g < 16; g++) {
            int sum = 0;
            for (int l = 16 * g; l < 16 * g + 16; l++) {
                b->qs[l] = (int8_t)round_clamp(src[l] * id, -127, 127);
                sum += b->qs[l];
            }
            lorc_wr_u16(b->bsums + 2 * g, (uint16_t)(int16_t)sum);
        }
    }
}
