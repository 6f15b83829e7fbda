/* matmul.c — y = x·Wᵀ (+ bias) (+ per-row LoRA terms) for a batch of rows,
 * split across the thread pool by output rows; plus a double-precision
 * reference. The per-row dot products come from the type table (scalar
 * today); SIMD kernels slot in behind lorc_type_get(...)->vec_dot.
 *
 * Every output element is produced by exactly one thread running the same
 * code whatever the thread count, so results do not depend on -t. */
#include "matmul.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "types.h"

/* Weight rows processed together: they stay in cache while every
 * activation row of the batch streams past them. */
#define MM_ROW_BLOCK 16
/* Below this many multiply-adds a product runs on the calling thread: waking
 * the pool would cost more than it saves. Results are identical either way. */
#define MM_PARALLEL_MIN_WORK 32768

/* ------------------------------------------------------------ scratch */

void lorc_matmul_scratch_free(lorc_matmul_scratch *s) {
    if (!s) return;
    free(s->buf);
    s->buf = NULL;
    s->size = 0;
}

void *lorc_matmul_scratch_get(lorc_matmul_scratch *s, size_t size) {
    if (size <= s->size) return s->buf;
    /* Grow geometrically so a sequence of slightly larger requests does not
     * reallocate each time. */
    size_t want = size + size / 2 + 64;
    void *p = malloc(want);
    if (!p) return NULL;
    free(s->buf);
    s->buf = p;
    s->size = want;
    return p;
}

/* Carves aligned regions out of one scratch block. */
typedef struct carver {
    uint8_t *base;
    size_t used;
} carver;

static size_t align_up(size_t n) { return (n + 63) & ~(size_t)63; }

static void *carve(carver *c, size_t n) {
    void *p = c->base + c->used;
    c->used += align_up(n);
    return p;
}

/* ------------------------------------------------------------ kernel */

/* One product over a subset of rows: for k in [0, n) and each output row j,
 *   out[y_row(k)][j] (=|+=) alpha * dot(W_j, x[x_row(k)]) (+ bias[j]). */
typedef struct mm_job {
    const uint8_t *w;     /* weight rows */
    size_t w_row_bytes;
    int64_t n_in;
    int64_t n_out;
    lorc_vec_dot_fn dot;
    const uint8_t *x;     /* activations in the weight type's dot_type */
    size_t x_stride;      /* bytes between activation rows */
    const int64_t *x_map; /* NULL: row k of x is k */
    float *y;
    int64_t y_stride;     /* floats between output rows */
    const int64_t *y_map; /* NULL: row k of y is k */
    int64_t n;
    const float *bias;    /* n_out or NULL (only when !accumulate) */
    float alpha;
    bool accumulate;
} mm_job;

static void mm_job_run(void *user, int ith, int nth) {
    const mm_job *jb = user;
    int64_t per = (jb->n_out + nth - 1) / nth;
    int64_t j0 = per * ith;
    int64_t j1 = j0 + per < jb->n_out ? j0 + per : jb->n_out;
    lorc_vec_dot_fn dot = jb->dot;
    for (int64_t jb0 = j0; jb0 < j1; jb0 += MM_ROW_BLOCK) {
        int64_t jb1 = jb0 + MM_ROW_BLOCK < j1 ? jb0 + MM_ROW_BLOCK : j1;
        for (int64_t k = 0; k < jb->n; k++) {
            const uint8_t *xr = jb->x + (size_t)(jb->x_map ? jb->x_map[k] : k) * jb->x_stride;
            float *yr = jb->y + (jb->y_map ? jb->y_map[k] : k) * jb->y_stride;
            const uint8_t *wr = jb->w + (size_t)jb0 * jb->w_row_bytes;
            if (jb->accumulate) {
                for (int64_t j = jb0; j < jb1; j++, wr += jb->w_row_bytes)
                    yr[j] += jb->alpha * dot(wr, xr, jb->n_in);
            } else if (jb->bias) {
                for (int64_t j = jb0; j < jb1; j++, wr += jb->w_row_bytes)
                    yr[j] = dot(wr, xr, jb->n_in) + jb->bias[j];
            } else {
                for (int64_t j = jb0; j < jb1; j++, wr += jb->w_row_bytes) yr[j] = dot(wr, xr, jb->n_in);
            }
        }
    }
}

static void mm_run(lorc_threadpool *pool, mm_job *jb) {
    if (jb->n == 0 || jb->n_out == 0) return;
    double work = (double)jb->n * (double)jb->n_out * (double)jb->n_in;
    if (!pool || work < MM_PARALLEL_MIN_WORK || lorc_threadpool_size(pool) == 1)
        mm_job_run(jb, 0, 1);
    else
        lorc_threadpool_run(pool, mm_job_run, jb);
}

/* Converts rows of F32 activations to a dot type (rows listed by map, placed
 * at the same row index in dst). */
typedef struct conv_job {
    lorc_from_float_fn from_float;
    const float *x;
    int64_t n_in;
    uint8_t *dst;
    size_t dst_stride;
    const int64_t *map; /* NULL: rows 0..n-1 */
    int64_t n;
} conv_job;

static void conv_job_run(void *user, int ith, int nth) {
    const conv_job *cj = user;
    for (int64_t k = ith; k < cj->n; k += nth) {
        int64_t r = cj->map ? cj->map[k] : k;
        cj->from_float(cj->x + r * cj->n_in, cj->dst + (size_t)r * cj->dst_stride, cj->n_in);
    }
}

/* Activations as the weight type's vec_dot wants them: F32 rows are used in
 * place, other dot types are converted into `buf`. */
typedef struct act_view {
    const uint8_t *x;
    size_t stride;
} act_view;

static act_view activations_for(lorc_threadpool *pool, lorc_type dt, const float *x, int64_t n_in, uint8_t *buf,
                                const int64_t *map, int64_t n) {
    act_view v;
    if (dt == LORC_TYPE_F32) {
        v.x = (const uint8_t *)x;
        v.stride = (size_t)n_in * sizeof(float);
        return v;
    }
    conv_job cj = {lorc_type_get(dt)->from_float, x, n_in, buf, lorc_row_bytes(dt, n_in), map, n};
    if (pool && n > 1 && lorc_threadpool_size(pool) > 1)
        lorc_threadpool_run(pool, conv_job_run, &cj);
    else
        conv_job_run(&cj, 0, 1);
    v.x = buf;
    v.stride = cj.dst_stride;
    return v;
}

/* Bytes a converted copy of n rows of length n_in takes in the dot type of
 * `type`; 0 when activations are used as F32 in place. */
static size_t conv_bytes(uint32_t type, int64_t n_in, int64_t n) {
    const lorc_type_info *ti = lorc_type_get(type);
    if (!ti || ti->dot_type == LORC_TYPE_F32) return 0;
    return lorc_row_bytes(ti->dot_type, n_in) * (size_t)n;
}

static bool usable(uint32_t type) {
    const lorc_type_info *ti = lorc_type_get(type);
    if (!ti || !ti->vec_dot) return false;
    if (ti->dot_type != LORC_TYPE_F32) {
        const lorc_type_info *dti = lorc_type_get(ti->dot_type);
        if (!dti || !dti->from_float) return false;
    }
    return true;
}

static bool list_active(const lorc_lora_list *l) { return l && (l->replace || l->n_terms > 0); }

/* For k in [0, n): y[y_map[k]] (= or +=) alpha · W·x[x_map[k]] (+ bias), with
 * NULL maps meaning row k. Converts those activation rows to W's dot type
 * (into conv_buf) first. Returns -1 when W's type cannot be computed with. */
static int product(lorc_threadpool *pool, const lorc_tensor *w, int64_t n_in, int64_t n_out, const float *x,
                   const int64_t *x_map, float *y, int64_t y_stride, const int64_t *y_map, int64_t n,
                   const float *bias, float alpha, bool accumulate, uint8_t *conv_buf) {
    if (!usable(w->type)) return -1;
    const lorc_type_info *ti = lorc_type_get(w->type);
    act_view av = activations_for(pool, ti->dot_type, x, n_in, conv_buf, x_map, n);
    mm_job jb = {
        .w = w->data,
        .w_row_bytes = lorc_row_bytes(w->type, n_in),
        .n_in = n_in,
        .n_out = n_out,
        .dot = ti->vec_dot,
        .x = av.x,
        .x_stride = av.stride,
        .x_map = x_map,
        .y = y,
        .y_stride = y_stride,
        .y_map = y_map,
        .n = n,
        .bias = bias,
        .alpha = alpha,
        .accumulate = accumulate,
    };
    mm_run(pool, &jb);
    return 0;
}

/* ------------------------------------------------------------ grouping */

/* Rows grouped by a key pointer: group g holds rows[start[g] .. start[g+1]). */
typedef struct row_groups {
    int n_groups;
    const void **keys; /* [n_rows] */
    int64_t *start;    /* [n_rows + 1] */
    int64_t *rows;     /* [n_rows] */
} row_groups;

/* Groups rows by key(i); rows with a NULL key are left out. `gidx` is
 * [n_rows] scratch. Groups are few (one per sequence at most), so the
 * lookup is a scan that starts from the previous row's group. */
static void group_rows(row_groups *g, int32_t *gidx, const lorc_lora_list *const *row_lora, int64_t n_rows,
                       bool by_replace) {
    g->n_groups = 0;
    int last = -1;
    for (int64_t i = 0; i < n_rows; i++) {
        const lorc_lora_list *l = row_lora[i];
        const void *key = NULL;
        if (l) key = by_replace ? (const void *)l->replace : (l->n_terms > 0 ? (const void *)l : NULL);
        if (!key) {
            gidx[i] = -1;
            continue;
        }
        int found = -1;
        if (last >= 0 && g->keys[last] == key) found = last;
        for (int k = 0; found < 0 && k < g->n_groups; k++)
            if (g->keys[k] == key) found = k;
        if (found < 0) {
            found = g->n_groups++;
            g->keys[found] = key;
            g->start[found] = 0;
        }
        g->start[found]++;
        gidx[i] = found;
        last = found;
    }
    /* Counts -> start offsets, then place the rows. */
    int64_t acc = 0;
    for (int k = 0; k < g->n_groups; k++) {
        int64_t c = g->start[k];
        g->start[k] = acc;
        acc += c;
    }
    g->start[g->n_groups] = acc;
    for (int64_t i = 0; i < n_rows; i++)
        if (gidx[i] >= 0) g->rows[g->start[gidx[i]]++] = i;
    for (int k = g->n_groups; k > 0; k--) g->start[k] = g->start[k - 1];
    g->start[0] = 0;
}

/* ------------------------------------------------------------ lorc_matmul */

int lorc_matmul(lorc_threadpool *pool, lorc_matmul_scratch *scratch, const lorc_matmul_args *args) {
    const lorc_tensor *w = args->w;
    const int64_t n_in = w->ne[0], n_out = w->ne[1], n_rows = args->n_rows;
    if (n_rows <= 0) return 0;

    bool any_lora = false;
    if (args->row_lora)
        for (int64_t i = 0; i < n_rows && !any_lora; i++) any_lora = list_active(args->row_lora[i]);

    if (!any_lora) {
        size_t need = conv_bytes(w->type, n_in, n_rows);
        uint8_t *buf = NULL;
        if (need && !(buf = lorc_matmul_scratch_get(scratch, need))) return -1;
        return product(pool, w, n_in, n_out, args->x, NULL, args->y, n_out, NULL, n_rows, args->bias, 1.0f, false, buf);
    }

    /* Size everything up front: conversions of x for the base, for
     * replacements and A matrices, the A·x intermediates (t) and their
     * conversion for B. */
    size_t other_conv = 0, t_conv = 0;
    int64_t max_r = 0;
    const lorc_lora_list *prev = NULL;
    for (int64_t i = 0; i < n_rows; i++) {
        const lorc_lora_list *l = args->row_lora[i];
        if (!list_active(l) || l == prev) continue;
        prev = l;
        if (l->replace) {
            size_t b = conv_bytes(l->replace->type, n_in, n_rows);
            if (b > other_conv) other_conv = b;
        }
        for (int t = 0; t < l->n_terms; t++) {
            const lorc_lora_term *tm = &l->terms[t];
            int64_t r = tm->a->ne[1];
            if (r > max_r) max_r = r;
            size_t b = conv_bytes(tm->a->type, n_in, n_rows);
            if (b > other_conv) other_conv = b;
            b = conv_bytes(tm->b->type, r, n_rows);
            if (b > t_conv) t_conv = b;
        }
    }
    size_t n = (size_t)n_rows;
    size_t need = align_up(n * sizeof(int32_t)) + 2 * align_up(n * sizeof(void *)) +
                  2 * align_up((n + 1) * sizeof(int64_t)) + 2 * align_up(n * sizeof(int64_t)) +
                  align_up(conv_bytes(w->type, n_in, n_rows)) + align_up(other_conv) +
                  align_up(n * (size_t)max_r * sizeof(float)) + align_up(t_conv);
    carver c = {lorc_matmul_scratch_get(scratch, need), 0};
    if (!c.base) return -1;
    int32_t *gidx = carve(&c, n * sizeof(int32_t));
    row_groups rg = {0, carve(&c, n * sizeof(void *)), carve(&c, (n + 1) * sizeof(int64_t)),
                     carve(&c, n * sizeof(int64_t))};
    row_groups lg = {0, carve(&c, n * sizeof(void *)), carve(&c, (n + 1) * sizeof(int64_t)),
                     carve(&c, n * sizeof(int64_t))};
    uint8_t *base_conv = carve(&c, conv_bytes(w->type, n_in, n_rows));
    uint8_t *oconv = carve(&c, other_conv);
    float *tbuf = carve(&c, n * (size_t)max_r * sizeof(float));
    uint8_t *tconv = carve(&c, t_conv);

    /* 1. Base product for rows without a replacement (all rows when none
     * has one), then each replacement over its rows. */
    group_rows(&rg, gidx, args->row_lora, n_rows, true);
    if (rg.n_groups == 0) {
        if (product(pool, w, n_in, n_out, args->x, NULL, args->y, n_out, NULL, n_rows, args->bias, 1.0f, false,
                    base_conv) != 0)
            return -1;
    } else {
        /* Rows without a replacement, gathered into `lg.rows` temporarily. */
        int64_t nb = 0;
        for (int64_t i = 0; i < n_rows; i++)
            if (gidx[i] < 0) lg.rows[nb++] = i;
        if (nb && product(pool, w, n_in, n_out, args->x, lg.rows, args->y, n_out, lg.rows, nb, args->bias, 1.0f, false,
                          base_conv) != 0)
            return -1;
        for (int g = 0; g < rg.n_groups; g++) {
            const lorc_tensor *rw = rg.keys[g];
            if (rw->ne[0] != n_in || rw->ne[1] != n_out) return -1;
            const int64_t *rows = rg.rows + rg.start[g];
            if (product(pool, rw, n_in, n_out, args->x, rows, args->y, n_out, rows, rg.start[g + 1] - rg.start[g],
                        args->bias, 1.0f, false, oconv) != 0)
                return -1;
        }
    }

    /* 2. LoRA terms, one group of rows per distinct list: t = A·x over the
     * group, then y += scale · B·t. */
    group_rows(&lg, gidx, args->row_lora, n_rows, false);
    for (int g = 0; g < lg.n_groups; g++) {
        const lorc_lora_list *l = lg.keys[g];
        const int64_t *rows = lg.rows + lg.start[g];
        int64_t m = lg.start[g + 1] - lg.start[g];
        for (int t = 0; t < l->n_terms; t++) {
            const lorc_lora_term *tm = &l->terms[t];
            const lorc_tensor *a = tm->a, *b = tm->b;
            int64_t r = a->ne[1];
            if (a->ne[0] != n_in || b->ne[0] != r || b->ne[1] != n_out) return -1;
            /* t = A·x over the group's rows, then y[rows] += scale · B·t */
            if (product(pool, a, n_in, r, args->x, rows, tbuf, r, NULL, m, NULL, 1.0f, false, oconv) != 0 ||
                product(pool, b, r, n_out, tbuf, NULL, args->y, n_out, rows, m, NULL, tm->scale, true, tconv) != 0)
                return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------ reference */

/* Dequantizes row `row` of t (ne[0] values) into dst. */
static void row_to_float(const lorc_tensor *t, int64_t row, float *dst) {
    const lorc_type_info *ti = lorc_type_get(t->type);
    size_t rb = lorc_row_bytes(t->type, t->ne[0]);
    ti->to_float((const uint8_t *)t->data + (size_t)row * rb, dst, t->ne[0]);
}

void lorc_matmul_reference(const lorc_matmul_args *args) {
    const lorc_tensor *w = args->w;
    const int64_t n_in = w->ne[0], n_out = w->ne[1];
    int64_t max_r = 0;
    for (int64_t i = 0; args->row_lora && i < args->n_rows; i++) {
        const lorc_lora_list *l = args->row_lora[i];
        for (int t = 0; l && t < l->n_terms; t++)
            if (l->terms[t].a->ne[1] > max_r) max_r = l->terms[t].a->ne[1];
    }
    int64_t wide = n_in > max_r ? n_in : max_r;
    float *row = malloc((size_t)wide * sizeof(float));
    double *acc = malloc((size_t)n_out * sizeof(double));
    double *tv = malloc((size_t)(max_r > 0 ? max_r : 1) * sizeof(double));
    if (!row || !acc || !tv) {
        /* Test-only code: make an allocation failure impossible to miss. */
        for (int64_t i = 0; i < args->n_rows * n_out; i++) args->y[i] = NAN;
        free(row);
        free(acc);
        free(tv);
        return;
    }
    for (int64_t i = 0; i < args->n_rows; i++) {
        const float *x = args->x + i * n_in;
        const lorc_lora_list *l = args->row_lora ? args->row_lora[i] : NULL;
        const lorc_tensor *wi = l && l->replace ? l->replace : w;
        for (int64_t j = 0; j < n_out; j++) {
            row_to_float(wi, j, row);
            double s = 0;
            for (int64_t k = 0; k < n_in; k++) s += (double)row[k] * (double)x[k];
            acc[j] = s + (args->bias ? (double)args->bias[j] : 0.0);
        }
        for (int t = 0; l && t < l->n_terms; t++) {
            const lorc_lora_term *tm = &l->terms[t];
            int64_t r = tm->a->ne[1];
            for (int64_t q = 0; q < r; q++) {
                row_to_float(tm->a, q, row);
                double s = 0;
                for (int64_t k = 0; k < n_in; k++) s += (double)row[k] * (double)x[k];
                tv[q] = s;
            }
            for (int64_t j = 0; j < n_out; j++) {
                row_to_float(tm->b, j, row);
                double s = 0;
                for (int64_t q = 0; q < r; q++) s += (double)row[q] * tv[q];
                acc[j] += (double)tm->scale * s;
            }
        }
        for (int64_t j = 0; j < n_out; j++) args->y[i * n_out + j] = (float)acc[j];
    }
    free(row);
    free(acc);
    free(tv);
}
