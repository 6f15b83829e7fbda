/* quant_kquants.c — ggml's k-quants (256-value super-blocks): dequantize and
 * fused dot with an F32 row for Q2_K..Q6_K and Q8_K, plus the packing of
 * their sub-block scales. Quantizers are in quant_kquants_quantize.c.
 *
 * Where each value lives (facts of ggml's layout; e = index 0..255 in the
 * super-block, sub-block scale index e/16 or e/32):
 *  Q2_K/Q3_K: 2 low bits in qs[32*(e/128) + e%32] at shift 2*((e%128)/32);
 *             Q3_K's third bit: hmask[e%32] bit e/32 (set = +0, clear = -4).
 *  Q4_K/Q5_K: nibble of qs[32*(e/64) + e%32], low if e%64 < 32 else high;
 *             Q5_K's fifth bit: qh[e%32] bit e/32.
 *  Q6_K:      ql[64*(e/128) + e%32 + 32*(g&1)], low nibble for g<2 (g =
 *             (e%128)/32), high otherwise; 2 high bits in qh[32*(e/128) +
 *             e%32] at shift 2*g.
 * Dots sum q*x per sub-block in float, apply that sub-block's scale once
 * (and the min times the sum of x), and sum super-blocks in float. */
#include <string.h>

#include "quant_impl.h"

/* ---- scale packing ---- */

/* Q4_K/Q5_K: bytes 0-3 hold scales 0-3 (low 6 bits), bytes 4-7 mins 0-3
 * (low 6 bits); bytes 8-11 hold the low nibbles of scale/min 4-7, whose top
 * 2 bits sit in the spare top bits of bytes 0-3 (scales) and 4-7 (mins). */
void lorc_kq_unpack_scales_mins(const uint8_t p[12], uint8_t sc[8], uint8_t m[8]) {
    for (int j = 0; j < 4; j++) {
        sc[j] = p[j] & 63;
        m[j] = p[j + 4] & 63;
        sc[j + 4] = (uint8_t)((p[j + 8] & 0x0f) | ((p[j] >> 6) << 4));
        m[j + 4] = (uint8_t)((p[j + 8] >> 4) | ((p[j + 4] >> 6) << 4));
    }
}

void lorc_kq_pack_scales_mins(const uint8_t sc[8], const uint8_t m[8], uint8_t p[12]) {
    for (int j = 0; j < 4; j++) {
        p[j] = (uint8_t)((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
        p[j + 4] = (uint8_t)((m[j] & 63) | ((m[j + 4] >> 4) << 6));
        p[j + 8] = (uint8_t)((sc[j + 4] & 0x0f) | ((m[j + 4] & 0x0f) << 4));
    }
}

/* Q3_K: 16 values of 6 bits (stored value = scale + 32). Low nibbles: value
 * j < 8 in the low nibble of byte j, value j >= 8 in the high nibble of byte
 * j-8. High 2 bits: byte 8 + j%4, at shift 2*(j/4). */
void lorc_q3_K_unpack_scales(const uint8_t p[12], int8_t sc[16]) {
    for (int j = 0; j < 16; j++) {
        int lo = j < 8 ? (p[j] & 0x0f) : (p[j - 8] >> 4);
        int hi = (p[8 + j % 4] >> (2 * (j / 4))) & 3;
        sc[j] = (int8_t)((lo | (hi << 4)) - 32);
    }
}

void lorc_q3_K_pack_scales(const uint8_t v[16], uint8_t p[12]) {
    memset(p, 0, 12);
    for (int j = 0; j < 16; j++) {
        if (j < 8)
            p[j] |= (uint8_t)(v[j] & 0x0f);
        else
            p[j - 8] |= (uint8_t)((v[j] & 0x0f) << 4);
        p[8 + j % 4] |= (uint8_t)(((v[j] >> 4) & 3) << (2 * (j / 4)));
    }
}

/* ---------------- Q2_K: x = d*(sc&15)*q - dmin*(sc>>4), q 0..3 ---------------- */

void lorc_q2_K_to_float(const void *src, float *y, int64_t n) {
    const lorc_block_q2_K *b = src;
    for (int64_t i = 0; i < n / LORC_QK_K; i++, b++) {
        const float d = lorc_rd_f16(b->d), dmin = lorc_rd_f16(b->dmin);
        for (int h = 0; h < 2; h++) {
            const uint8_t *q = b->qs + 32 * h;
            for (int j = 0; j < 4; j++) {
                const int shift = 2 * j;
                for (int part = 0; part < 2; part++, y += 16) {
                    const uint8_t sc = b->scales[8 * h + 2 * j + part];
                    const float dl = d * (float)(sc & 0x0f), ml = dmin * (float)(sc >> 4);
                    const uint8_t *qq = q + 16 * part;
                    for (int l = 0; l < 16; l++) y[l] = dl * (float)((qq[l] >> shift) & 3) - ml;
                }
            }
        }
    }
}

float lorc_q2_K_vec_dot(const void *w, const void *xv, int64_t n) {
    const lorc_block_q2_K *b = w;
    const float *x = xv;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / LORC_QK_K; i++, b++) {
        float sd = 0.0f, sm = 0.0f; /* sums scaled by d and by dmin */
        for (int h = 0; h < 2; h++) {
            const uint8_t *q = b->qs + 32 * h;
            for (int j = 0; j < 4; j++) {
                const int shift = 2 * j;
                for (int part = 0; part < 2; part++, x += 16) {
                    const uint8_t sc = b->scales[8 * h + 2 * j + part];
                    const uint8_t *qq = q + 16 * part;
                    float sq = 0.0f, sx = 0.0f;
                    for (int l = 0; l < 16; l++) {
                        sq += (float)((qq[l] >> shift) & 3) * x[l];
                        sx += x[l];
                    }
                    sd += (float)(sc & 0x0f) * sq;
                    sm += (float)(sc >> 4) * sx;
                }
            }
        }
        sum += lorc_rd_f16(b->d) * sd - lorc_rd_f16(b->dmin) * sm;
    }
    return sum;
}

/* ---------------- Q3_K: x = d*sc*q, sc -32..31, q -4..3 ---------------- */

void lorc_q3_K_to_float(const void *src, float *y, int64_t n) {
    const lorc_block_q3_K *b = src;
    for (int64_t i = 0; i < n / LORC_QK_K; i++, b++) {
        const float d = lorc_rd_f16(b->d);
        int8_t sc[16];
        lorc_q3_K_unpack_scales(b->scales, sc);
        for (int h = 0; h < 2; h++) {
            const uint8_t *q = b->qs + 32 * h;
            for (int j = 0; j < 4; j++) {
                const int shift = 2 * j, hbit = 4 * h + j;
                for (int part = 0; part < 2; part++, y += 16) {
                    const float dl = d * (float)sc[8 * h + 2 * j + part];
                    const uint8_t *qq = q + 16 * part, *hm = b->hmask + 16 * part;
                    for (int l = 0; l < 16; l++) {
                        int v = ((qq[l] >> shift) & 3) - (((hm[l] >> hbit) & 1) ? 0 : 4);
                        y[l] = dl * (float)v;
                    }
                }
            }
        }
    }
}

float lorc_q3_K_vec_dot(const void *w, const void *xv, int64_t n) {
    const lorc_block_q3_K *b = w;
    const float *x = xv;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / LORC_QK_K; i++, b++) {
        int8_t sc[16];
        lorc_q3_K_unpack_scales(b->scales, sc);
        float sd = 0.0f;
        for (int h = 0; h < 2; h++) {
            const uint8_t *q = b->qs + 32 * h;
            for (int j = 0; j < 4; j++) {
                const int shift = 2 * j, hbit = 4 * h + j;
                for (int part = 0; part < 2; part++, x += 16) {
                    const uint8_t *qq = q + 16 * part, *hm = b->hmask + 16 * part;
                    float sq = 0.0f;
                    for (int l = 0; l < 16; l++) {
                        int v = ((qq[l] >> shift) & 3) - (((hm[l] >> hbit) & 1) ? 0 : 4);
                        sq += (float)v * x[l];
                    }
                    sd += (float)sc[8 * h + 2 * j + part] * sq;
                }
            }
        }
        sum += lorc_rd_f16(b->d) * sd;
    }
    return sum;
}

/* ---------------- Q4_K: x = d*sc*q - dmin*m, q 0..15 ---------------- */

void lorc_q4_K_to_float(const void *src, float *y, int64_t n) {
    const lorc_block_q4_K *b = src;
    for (int64_t i = 0; i < n / LORC_QK_K; i++, b++) {
        const float d = lorc_rd_f16(b->d), dmin = lorc_rd_f16(b->dmin);
        uint8_t sc[8], m[8];
        lorc_kq_unpack_scales_mins(b->scales, sc, m);
        for (int c = 0; c < 4; c++, y += 64) {
            const uint8_t *q = b->qs + 32 * c;
            const float d1 = d * (float)sc[2 * c], m1 = dmin * (float)m[2 * c];
            const float d2 = d * (float)sc[2 * c + 1], m2 = dmin * (float)m[2 * c + 1];
            for (int l = 0; l < 32; l++) {
                y[l] = d1 * (float)(q[l] & 0x0f) - m1;
                y[l + 32] = d2 * (float)(q[l] >> 4) - m2;
            }
        }
    }
}

float lorc_q4_K_vec_dot(const void *w, const void *xv, int64_t n) {
    const lorc_block_q4_K *b = w;
    const float *x = xv;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / LORC_QK_K; i++, b++) {
        uint8_t sc[8], m[8];
        lorc_kq_unpack_scales_mins(b->scales, sc, m);
        float sd = 0.0f, sm = 0.0f;
        for (int c = 0; c < 4; c++, x += 64) {
            const uint8_t *q = b->qs + 32 * c;
            float q1 = 0.0f, q2 = 0.0f, x1 = 0.0f, x2 = 0.0f;
            for (int l = 0; l < 32; l++) {
                q1 += (float)(q[l] & 0x0f) * x[l];
                q2 += (float)(q[l] >> 4) * x[l + 32];
                x1 += x[l];
                x2 += x[l + 32];
            }
            sd += (float)sc[2 * c] * q1 + (float)sc[2 * c + 1] * q2;
            sm += (float)m[2 * c] * x1 + (float)m[2 * c + 1] * x2;
        }
        sum += lorc_rd_f16(b->d) * sd - lorc_rd_f16(b->dmin) * sm;
    }
    return sum;
}

/* ---------------- Q5_K: as Q4_K with q 0..31 ---------------- */

void lorc_q5_K_to_float(const void *src, float *y, int64_t n) {
    const lorc_block_q5_K *b = src;
    for (int64_t i = 0; i < n / LORC_QK_K; i++, b++) {
        const float d = lorc_rd_f16(b->d), dmin = lorc_rd_f16(b->dmin);
        uint8_t sc[8], m[8];
        lorc_kq_unpack_scales_mins(b->scales, sc, m);
        for (int c = 0; c < 4; c++, y += 64) {
            const uint8_t *q = b->qs + 32 * c;
            const int s1 = 2 * c, s2 = 2 * c + 1;
            const float d1 = d * (float)sc[s1], m1 = dmin * (float)m[s1];
            const float d2 = d * (float)sc[s2], m2 = dmin * (float)m[s2];
            for (int l = 0; l < 32; l++) {
                int v1 = (q[l] & 0x0f) | (((b->qh[l] >> s1) & 1) << 4);
                int v2 = (q[l] >> 4) | (((b->qh[l] >> s2) & 1) << 4);
                y[l] = d1 * (float)v1 - m1;
                y[l + 32] = d2 * (float)v2 - m2;
            }
        }
    }
}

float lorc_q5_K_vec_dot(const void *w, const void *xv, int64_t n) {
    const lorc_block_q5_K *b = w;
    const float *x = xv;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / LORC_QK_K; i++, b++) {
        uint8_t sc[8], m[8];
        lorc_kq_unpack_scales_mins(b->scales, sc, m);
        float sd = 0.0f, sm = 0.0f;
        for (int c = 0; c < 4; c++, x += 64) {
            const uint8_t *q = b->qs + 32 * c;
            const int s1 = 2 * c, s2 = 2 * c + 1;
            float q1 = 0.0f, q2 = 0.0f, x1 = 0.0f, x2 = 0.0f;
            for (int l = 0; l < 32; l++) {
                int v1 = (q[l] & 0x0f) | (((b->qh[l] >> s1) & 1) << 4);
                int v2 = (q[l] >> 4) | (((b->qh[l] >> s2) & 1) << 4);
                q1 += (float)v1 * x[l];
                q2 += (float)v2 * x[l + 32];
                x1 += x[l];
                x2 += x[l + 32];
            }
            sd += (float)sc[s1] * q1 + (float)sc[s2] * q2;
            sm += (float)m[s1] * x1 + (float)m[s2] * x2;
        }
        sum += lorc_rd_f16(b->d) * sd - lorc_rd_f16(b->dmin) * sm;
    }
    return sum;
}

/* ---------------- Q6_K: x = d*sc*(q-32), sc int8, q 0..63 ---------------- */

void lorc_q6_K_to_float(const void *src, float *y, int64_t n) {
    const lorc_block_q6_K *b = src;
    for (int64_t i = 0; i < n / LORC_QK_K; i++, b++) {
        const float d = lorc_rd_f16(b->d);
        for (int h = 0; h < 2; h++, y += 128) {
            const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
            const int8_t *sc = b->scales + 8 * h;
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                int v0 = ((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int v1 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int v2 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int v3 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * (float)sc[is] * (float)v0;
                y[l + 32] = d * (float)sc[is + 2] * (float)v1;
                y[l + 64] = d * (float)sc[is + 4] * (float)v2;
                y[l + 96] = d * (float)sc[is + 6] * (float)v3;
            }
        }
    }
}

float lorc_q6_K_vec_dot(const void *w, const void *xv, int64_t n) {
    const lorc_block_q6_K *b = w;
    const float *x = xv;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / LORC_QK_K; i++, b++) {
        float sd = 0.0f;
        for (int h = 0; h < 2; h++, x += 128) {
            const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
            const int8_t *sc = b->scales + 8 * h;
            for (int part = 0; part < 2; part++) { /* values l in [16*part, 16*part+16) share scales */
                float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
                for (int l = 16 * part; l < 16 * part + 16; l++) {
                    int v0 = ((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
                    int v1 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
                    int v2 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                    int v3 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                    s0 += (float)v0 * x[l];
                    s1 += (float)v1 * x[l + 32];
                    s2 += (float)v2 * x[l + 64];
                    s3 += (float)v3 * x[l + 96];
                }
                sd += (float)sc[part] * s0 + (float)sc[part + 2] * s1 + (float)sc[part + 4] * s2 +
                      (float)sc[part + 6] * s3;
            }
        }
        sum += lorc_rd_f16(b->d) * sd;
    }
    return sum;
}

/* ---------------- Q8_K: x = d*q, d a float32 ---------------- */

static float rd_f32(const uint8_t *p) {
    uint32_t u = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

void lorc_q8_K_to_float(const void *src, float *y, int64_t n) {
    const lorc_block_q8_K *b = src;
    for (int64_t i = 0; i < n / LORC_QK_K; i++, b++, y += LORC_QK_K) {
        const float d = rd_f32(b->d);
        for (int l = 0; l < LORC_QK_K; l++) y[l] = d * (float)b->qs[l];
    }
}

float lorc_q8_K_vec_dot(const void *w, const void *xv, int64_t n) {
    const lorc_block_q8_K *b = w;
    const float *x = xv;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / LORC_QK_K; i++, b++, x += LORC_QK_K) {
        float s0 = 0.0f, s1 = 0.0f;
        for (int l = 0; l < LORC_QK_K; l += 2) {
            s0 += (float)b->qs[l] * x[l];
            s1 += (float)b->qs[l + 1] * x[l + 1];
        }
        sum += rd_f32(b->d) * (s0 + s1);
    }
    return sum;
}
