/* kernels_scalar.c — the reference family: activations stay F32 and every
 * tile entry is the type table's scalar vec_dot, so the fast families are
 * tested against exactly the kernels the rest of lorc was verified with. */
#include <math.h>
#include <string.h>

#include "kernels.h"
#include "ops.h"
#include "quant_impl.h"

static void f32_pack(const float *x, void *dst, int64_t n) { memcpy(dst, x, (size_t)n * sizeof(float)); }

static const lorc_act_format act_f32 = {"f32", 1, sizeof(float), f32_pack, true};

/* One instance per type so each tile knows its vec_dot without a lookup
 * per call: the type id is baked in by the macro below. */
static void tile_generic(lorc_vec_dot_fn dot, int64_t n, const void *w, size_t w_stride, int nr, const void *x,
                         size_t x_stride, int nc, float *y, size_t y_stride) {
    for (int c = 0; c < nc; c++)
        for (int r = 0; r < nr; r++)
            y[(size_t)c * y_stride + (size_t)r] =
                dot((const uint8_t *)w + (size_t)r * w_stride, (const uint8_t *)x + (size_t)c * x_stride, n);
}

#define SCALAR_TILE(ID)                                                                                        \
    static void tile_##ID(int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, \
                          int nc, float *y, size_t y_stride) {                                                 \
        tile_generic(lorc_type_get(ID)->vec_dot, n, w, w_stride, nr, x, x_stride, nc, y, y_stride);            \
    }
SCALAR_TILE(LORC_TYPE_F32)
SCALAR_TILE(LORC_TYPE_F16)
SCALAR_TILE(LORC_TYPE_BF16)
SCALAR_TILE(LORC_TYPE_Q4_0)
SCALAR_TILE(LORC_TYPE_Q4_1)
SCALAR_TILE(LORC_TYPE_Q5_0)
SCALAR_TILE(LORC_TYPE_Q5_1)
SCALAR_TILE(LORC_TYPE_Q8_0)
SCALAR_TILE(LORC_TYPE_Q8_1)
SCALAR_TILE(LORC_TYPE_Q2_K)
SCALAR_TILE(LORC_TYPE_Q3_K)
SCALAR_TILE(LORC_TYPE_Q4_K)
SCALAR_TILE(LORC_TYPE_Q5_K)
SCALAR_TILE(LORC_TYPE_Q6_K)
SCALAR_TILE(LORC_TYPE_Q8_K)

static float dot_f32(const float *a, const float *b, int64_t n) {
    float s = 0;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static void axpy_f32(float a, const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

/* Query by query, position by position: exactly the additions of one
 * axpy_f32 per (query, position), the order the fast families keep. */
static void weighted_rows_f32(int n_q, int n_t, const float *p, size_t p_stride, const float *v, size_t v_stride,
                              float *const *out, int64_t n) {
    for (int c = 0; c < n_q; c++)
        for (int t = 0; t < n_t; t++) axpy_f32(p[(size_t)c * p_stride + (size_t)t], v + (size_t)t * v_stride, out[c], n);
}

/* The reference: one fmaf chain per score. */
static void scores_cols(int n_q, int hd, const float *q, const void *k, bool f16, size_t k_stride, int n_t, float *s,
                        size_t s_stride) {
    for (int c = 0; c < n_q; c++)
        for (int t = 0; t < n_t; t++) {
            float acc = 0.0f;
            for (int d = 0; d < hd; d++) {
                const size_t i = (size_t)d * k_stride + (size_t)t;
                float kv;
                if (f16) lorc_f16_to_float((const uint8_t *)k + 2 * i, &kv, 1);
                else kv = ((const float *)k)[i];
                acc = fmaf(q[(size_t)c * (size_t)hd + (size_t)d], kv, acc);
            }
            s[(size_t)c * s_stride + (size_t)t] = acc;
        }
}

/* The two passes the fast families fuse. */
static void softmax_scaled_f32(float *x, int64_t n, float scale) {
    for (int64_t i = 0; i < n; i++) x[i] *= scale;
    lorc_softmax(x, n);
}

void lorc_kernels_fill_scalar(lorc_kernels *k) {
#define SET(ID) k->type[ID] = lorc_tile_entry(&act_f32, tile_##ID, 4, 4)
    SET(LORC_TYPE_F32);
    SET(LORC_TYPE_F16);
    SET(LORC_TYPE_BF16);
    SET(LORC_TYPE_Q4_0);
    SET(LORC_TYPE_Q4_1);
    SET(LORC_TYPE_Q5_0);
    SET(LORC_TYPE_Q5_1);
    SET(LORC_TYPE_Q8_0);
    SET(LORC_TYPE_Q8_1);
    SET(LORC_TYPE_Q2_K);
    SET(LORC_TYPE_Q3_K);
    SET(LORC_TYPE_Q4_K);
    SET(LORC_TYPE_Q5_K);
    SET(LORC_TYPE_Q6_K);
    SET(LORC_TYPE_Q8_K);
#undef SET
    k->vec.dot_f32 = dot_f32;
    k->vec.axpy_f32 = axpy_f32;
    k->vec.softmax_f32 = lorc_softmax;
    k->vec.f16_to_f32 = lorc_f16_to_float;
    k->vec.f32_to_f16 = lorc_f16_from_float;
    k->vec.swiglu_f32 = lorc_swiglu;
    k->vec.weighted_rows_f32 = weighted_rows_f32;
    k->vec.softmax_scaled_f32 = softmax_scaled_f32;
    k->vec.scores_cols = scores_cols;
}
