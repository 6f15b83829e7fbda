/* ops.c — RMSNorm, RoPE, softmax, SwiGLU and embedding lookup (with the
 * token_embd adapter terms). Plain loops over contiguous floats; the heavy
 * lifting of a forward pass is in matmul.c. */
#include "ops.h"

#include <math.h>
#include <string.h>

#include "types.h"

void lorc_rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps) {
    /* Sum of squares in double: n can be thousands of values. */
    double ss = 0;
    for (int64_t i = 0; i < n; i++) ss += (double)x[i] * (double)x[i];
    float scale = (float)(1.0 / sqrt(ss / (double)n + (double)eps));
    for (int64_t i = 0; i < n; i++) out[i] = x[i] * scale * w[i];
}

void lorc_rope_angles(const lorc_rope_cfg *cfg, int64_t pos, float *cs) {
    int half = cfg->n_rot / 2;
    for (int i = 0; i < half; i++) {
        double theta = (double)pos * (double)cfg->freq_scale *
                       pow((double)cfg->freq_base, -2.0 * (double)i / (double)cfg->n_rot);
        if (cfg->freq_factors) theta /= (double)cfg->freq_factors[i];
        cs[2 * i] = (float)cos(theta);
        cs[2 * i + 1] = (float)sin(theta);
    }
}

void lorc_rope_apply(const lorc_rope_cfg *cfg, float *x, int n_heads, const float *cs) {
    int half = cfg->n_rot / 2;
    for (int h = 0; h < n_heads; h++) {
        float *v = x + (int64_t)h * cfg->head_dim;
        for (int i = 0; i < half; i++) {
            /* normal: rotate (2i, 2i+1); NeoX: rotate (i, i + n_rot/2). */
            int i0 = cfg->neox ? i : 2 * i;
            int i1 = cfg->neox ? i + half : 2 * i + 1;
            float c = cs[2 * i], s = cs[2 * i + 1];
            float a = v[i0], b = v[i1];
            v[i0] = a * c - b * s;
            v[i1] = a * s + b * c;
        }
    }
}

void lorc_softmax(float *x, int64_t n) {
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (x[i] > mx) mx = x[i];
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++) x[i] *= inv;
}

void lorc_swiglu(float *gate, const float *up, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float g = gate[i];
        gate[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

void lorc_tensor_row_f32(const lorc_tensor *t, int64_t row, float *dst) {
    size_t rb = lorc_row_bytes(t->type, t->ne[0]);
    const uint8_t *src = (const uint8_t *)t->data + (size_t)row * rb;
    if (t->type == LORC_TYPE_F32) {
        memcpy(dst, src, (size_t)t->ne[0] * sizeof(float));
        return;
    }
    lorc_type_get(t->type)->to_float(src, dst, t->ne[0]);
}

int lorc_embed_row(const lorc_tensor *emb, const lorc_lora_list *lora, int32_t token, float *out,
                   lorc_matmul_scratch *scratch) {
    const lorc_tensor *e = lora && lora->replace ? lora->replace : emb;
    lorc_tensor_row_f32(e, token, out);
    if (!lora) return 0;
    const int64_t n_embd = emb->ne[0];
    for (int t = 0; t < lora->n_terms; t++) {
        const lorc_lora_term *tm = &lora->terms[t];
        const lorc_tensor *a = tm->a, *b = tm->b;
        const int64_t r = a->ne[0];
        if (b->ne[0] != r || b->ne[1] != n_embd || token >= a->ne[1]) return -1;
        const lorc_type_info *bti = lorc_type_get(b->type);
        if (!bti || !bti->vec_dot || !lorc_type_supported(a->type)) return -1;
        size_t conv = 0;
        if (bti->dot_type != LORC_TYPE_F32) {
            conv = lorc_row_bytes(bti->dot_type, r);
            if (!conv || !lorc_type_get(bti->dot_type)->from_float) return -1;
        }
        size_t fl_bytes = ((size_t)r * sizeof(float) + 63) & ~(size_t)63;
        uint8_t *buf = lorc_matmul_scratch_get(scratch, fl_bytes + conv);
        if (!buf) return -1;
        float *arow = (float *)buf;
        lorc_tensor_row_f32(a, token, arow);
        const void *xr = arow;
        if (conv) {
            lorc_type_get(bti->dot_type)->from_float(arow, buf + fl_bytes, r);
            xr = buf + fl_bytes;
        }
        size_t brb = lorc_row_bytes(b->type, r);
        const uint8_t *brow = b->data;
        for (int64_t j = 0; j < n_embd; j++, brow += brb) out[j] += tm->scale * bti->vec_dot(brow, xr, r);
    }
    return 0;
}
