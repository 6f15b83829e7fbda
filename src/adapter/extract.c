/* extract.c — tensor-table comparison of a fine-tune with its base, and
 * the rank-r factors of one tensor's difference (see svd.c). */
#include "extract.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/error.h"
#include "../tensor/types.h"
#include "svd.h"

static void shape_str(const gguf_tensor_info *t, char *buf, size_t cap) {
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (uint32_t d = 0; d < t->n_dims && n < cap; d++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", d ? ", " : "", (long long)t->ne[d]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

lorc_status lorc_finetune_check_tables(const gguf_file *base, const gguf_file *ft, lorc_error *err) {
    char *ab = gguf_get_str_dup(base, "general.architecture"), *af = gguf_get_str_dup(ft, "general.architecture");
    bool same = ab && af && !strcmp(ab, af);
    lorc_status st = LORC_OK;
    if (!same)
        st = lorc_fail(err, LORC_ERR_MISMATCH, "%s: architecture '%s' differs from '%s' of %s", ft->path,
                       af ? af : "(none)", ab ? ab : "(none)", base->path);
    free(ab);
    free(af);
    if (st) return st;
    for (uint64_t i = 0; i < base->n_tensors; i++) {
        const gguf_tensor_info *b = &base->tensors[i];
        const gguf_tensor_info *f = gguf_find_tensor(ft, b->name);
        if (!f) return lorc_fail(err, LORC_ERR_MISMATCH, "%s: no tensor '%s' (it is in %s)", ft->path, b->name, base->path);
        bool eq = b->n_dims == f->n_dims;
        for (uint32_t d = 0; eq && d < b->n_dims; d++) eq = b->ne[d] == f->ne[d];
        if (!eq) {
            char sb[96], sf[96];
            shape_str(b, sb, sizeof sb);
            shape_str(f, sf, sizeof sf);
            return lorc_fail(err, LORC_ERR_MISMATCH, "%s: tensor '%s' has shape %s, %s's is %s", ft->path, b->name, sf,
                             base->path, sb);
        }
    }
    for (uint64_t i = 0; i < ft->n_tensors; i++)
        if (!gguf_find_tensor(base, ft->tensors[i].name))
            return lorc_fail(err, LORC_ERR_MISMATCH, "%s: tensor '%s' is not in %s", ft->path, ft->tensors[i].name,
                             base->path);
    return LORC_OK;
}

bool lorc_finetune_tensor_same(const gguf_tensor_info *b, const gguf_tensor_info *f) {
    return b->type == f->type && b->nbytes == f->nbytes && memcmp(b->data, f->data, (size_t)b->nbytes) == 0;
}

void lorc_lowrank_free(lorc_lowrank *lr) {
    if (!lr) return;
    free(lr->a);
    free(lr->b);
    memset(lr, 0, sizeof *lr);
}

static float *dequant(const gguf_tensor_info *t, int64_t n) {
    const lorc_type_info *ti = lorc_type_get(t->type);
    if (!ti || !ti->to_float) return NULL;
    float *x = malloc((size_t)n * sizeof *x);
    if (x) ti->to_float(t->data, x, n);
    return x;
}

lorc_status lorc_lowrank_extract(const gguf_tensor_info *base, const gguf_tensor_info *ft, int r, bool embd,
                                 lorc_lowrank *out, lorc_error *err) {
    memset(out, 0, sizeof *out);
    if (base->n_dims != 2 || ft->n_dims != 2 || base->ne[0] != ft->ne[0] || base->ne[1] != ft->ne[1])
        return lorc_fail(err, LORC_ERR_INVALID, "extract: tensor '%s' is not a 2-D matrix of the same shape in both files",
                         base->name);
    if (!lorc_type_supported(base->type) || !lorc_type_supported(ft->type))
        return lorc_fail(err, LORC_ERR_UNSUPPORTED, "extract: tensor '%s': type %s/%s cannot be dequantized", base->name,
                         lorc_type_name(base->type), lorc_type_name(ft->type));
    if (r < 1) return lorc_fail(err, LORC_ERR_INVALID, "extract: rank %d must be at least 1", r);
    int64_t n = base->ne[0], m = base->ne[1], cnt = n * m; /* m rows of n */
    float *d = dequant(ft, cnt), *bd = dequant(base, cnt);
    double *U = malloc((size_t)m * (size_t)r * sizeof *U), *S = malloc((size_t)r * sizeof *S);
    double *Vt = malloc((size_t)r * (size_t)n * sizeof *Vt);
    float *fa = malloc((size_t)r * (size_t)n * sizeof *fa); /* √Σ·Vᵀ: r rows of n */
    float *fb = malloc((size_t)m * (size_t)r * sizeof *fb); /* U·√Σ: m rows of r */
    lorc_status st = LORC_OK;
    if (!d || !bd || !U || !S || !Vt || !fa || !fb) {
        st = lorc_fail(err, LORC_ERR_NOMEM, "extract: out of memory for tensor '%s'", base->name);
        goto done;
    }
    double norm2 = 0;
    for (int64_t i = 0; i < cnt; i++) {
        d[i] -= bd[i];
        norm2 += (double)d[i] * (double)d[i];
    }
    if ((st = lorc_svd_truncated(d, m, n, r, U, S, Vt, err))) goto done;
    for (int k = 0; k < r; k++) {
        double s = sqrt(S[k]);
        for (int64_t l = 0; l < n; l++) fa[(size_t)k * (size_t)n + (size_t)l] = (float)(s * Vt[(size_t)k * (size_t)n + (size_t)l]);
        for (int64_t i = 0; i < m; i++) fb[(size_t)i * (size_t)r + (size_t)k] = (float)(U[(size_t)i * (size_t)r + (size_t)k] * s);
    }
    out->r = r;
    out->norm = sqrt(norm2);
    out->rel_err = lorc_lowrank_rel_error(d, m, n, fb, fa, r);
    if (embd) {
        /* token t = row t of D: A[t][k] = (U√Σ)[t][k] is fb as is (m rows of r);
         * B[j][k] = (√ΣVᵀ)[k][j] is fa transposed (n rows of r). */
        float *bt = malloc((size_t)n * (size_t)r * sizeof *bt);
        if (!bt) {
            st = lorc_fail(err, LORC_ERR_NOMEM, "extract: out of memory for tensor '%s'", base->name);
            goto done;
        }
        for (int k = 0; k < r; k++)
            for (int64_t j = 0; j < n; j++) bt[(size_t)j * (size_t)r + (size_t)k] = fa[(size_t)k * (size_t)n + (size_t)j];
        out->a = fb;
        out->a_ne[0] = r, out->a_ne[1] = m;
        out->b = bt;
        out->b_ne[0] = r, out->b_ne[1] = n;
        free(fa);
    } else {
        out->a = fa;
        out->a_ne[0] = n, out->a_ne[1] = r;
        out->b = fb;
        out->b_ne[0] = r, out->b_ne[1] = m;
    }
    fa = fb = NULL;
done:
    free(d);
    free(bd);
    free(U);
    free(S);
    free(Vt);
    free(fa);
    free(fb);
    if (st) lorc_lowrank_free(out);
    return st;
}
