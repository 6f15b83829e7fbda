/* merge.c — one merged weight: dequantize W (or the adapter's replacement),
 * add Σ s·B·A in F32, re-quantize row by row across the thread pool. Only
 * a few rows per thread are ever held in F32, so huge tensors (embeddings)
 * merge in bounded memory. */
#include "merge.h"

#include <stdlib.h>
#include <string.h>

#include "../base/error.h"
#include "../tensor/finite_check.h"
#include "../tensor/types.h"

enum { MERGE_CHUNK_ROWS = 16 };

uint32_t lorc_merge_pick_type(uint32_t want, int64_t row_len) {
    const lorc_type_info *w = lorc_type_get(want);
    if (w && w->from_float && w->to_float && lorc_row_bytes(want, row_len) != 0) return want;
    double want_bpw = w ? 8.0 * (double)w->block_bytes / (double)w->block_size : 0.0;
    uint32_t best = LORC_TYPE_F32;
    double best_bpw = 32.0;
    for (uint32_t t = 0; t < LORC_TYPE_COUNT; t++) {
        const lorc_type_info *ti = lorc_type_get(t);
        if (!ti || !ti->from_float || !ti->to_float || lorc_row_bytes(t, row_len) == 0) continue;
        double bpw = 8.0 * (double)ti->block_bytes / (double)ti->block_size;
        if (bpw + 1e-9 < want_bpw) continue;
        if (bpw < best_bpw) {
            best = t;
            best_bpw = bpw;
        }
    }
    return best;
}

typedef struct term_f32 {
    float *a, *b; /* owned: A as r rows of n_in (token_embd: n_vocab rows of r), B as n_out rows of r */
    int64_t r;
    float scale;
} term_f32;

typedef struct merge_ctx {
    const lorc_tensor *w;
    const lorc_type_info *wti;
    size_t w_row_bytes;
    int64_t n_in, n_out;
    bool embd; /* token_embd: A is stored transposed */
    int n_terms;
    term_f32 *terms; /* owned */
} merge_ctx;

static void ctx_free(merge_ctx *c) {
    for (int i = 0; i < c->n_terms; i++) {
        free(c->terms[i].a);
        free(c->terms[i].b);
    }
    free(c->terms);
    memset(c, 0, sizeof *c);
}

static float *dequant_all(const lorc_tensor *t) {
    const lorc_type_info *ti = lorc_type_get(t->type);
    int64_t n = lorc_tensor_nelements(t);
    if (!ti || !ti->to_float || n <= 0) return NULL;
    float *out = malloc((size_t)n * sizeof *out);
    if (out) ti->to_float(t->data, out, n);
    return out;
}

static lorc_status ctx_init(merge_ctx *c, const lorc_merge_job *job, lorc_error *err) {
    memset(c, 0, sizeof *c);
    const lorc_model *m = job->model;
    char name[96];
    lorc_model_slot_name(m, job->slot, name, sizeof name);
    if (job->slot < 0 || job->slot >= m->n_slots) return lorc_fail(err, LORC_ERR_INVALID, "merge: bad slot %d", job->slot);
    c->w = job->list && job->list->replace ? job->list->replace : m->w[job->slot];
    if (!c->w) return lorc_fail(err, LORC_ERR_INVALID, "merge: the model has no tensor '%s'", name);
    c->wti = lorc_type_get(c->w->type);
    c->n_in = c->w->ne[0];
    c->n_out = lorc_tensor_nelements(c->w) / (c->n_in ? c->n_in : 1);
    c->w_row_bytes = lorc_row_bytes(c->w->type, c->n_in);
    if (!c->wti || !c->wti->to_float || c->w_row_bytes == 0)
        return lorc_fail(err, LORC_ERR_UNSUPPORTED, "merge: tensor '%s' has type %s, which lorc cannot dequantize", name,
                         lorc_type_name(c->w->type));
    c->embd = job->slot == lorc_slot_global(GW_TOKEN_EMBD);
    int n = job->list ? job->list->n_terms : 0;
    if (n == 0) return LORC_OK;
    c->terms = calloc((size_t)n, sizeof *c->terms);
    if (!c->terms) return lorc_fail(err, LORC_ERR_NOMEM, "merge: out of memory for '%s'", name);
    c->n_terms = n;
    for (int i = 0; i < n; i++) {
        const lorc_lora_term *t = &job->list->terms[i];
        term_f32 *f = &c->terms[i];
        f->scale = t->scale;
        f->r = c->embd ? t->a->ne[0] : t->a->ne[1];
        int64_t a_len = c->embd ? t->a->ne[1] : t->a->ne[0]; /* n_vocab, or n_in */
        if (a_len != (c->embd ? c->n_out : c->n_in) || t->b->ne[0] != f->r ||
            t->b->ne[1] != (c->embd ? c->n_in : c->n_out)) {
            ctx_free(c);
            return lorc_fail(err, LORC_ERR_MISMATCH, "merge: the LoRA pair of '%s' does not fit the weight", name);
        }
        f->a = dequant_all(t->a);
        f->b = dequant_all(t->b);
        if (!f->a || !f->b) {
            ctx_free(c);
            return lorc_fail(err, LORC_ERR_NOMEM, "merge: out of memory (or unsupported LoRA type) for '%s'", name);
        }
    }
    return LORC_OK;
}

/* Rows [row0, row0+n) of the merged weight into out (n × n_in floats). */
static void ctx_rows(const merge_ctx *c, int64_t row0, int64_t n, float *out) {
    const uint8_t *wd = c->w->data;
    for (int64_t i = 0; i < n; i++) {
        int64_t row = row0 + i;
        float *o = out + (size_t)i * (size_t)c->n_in;
        c->wti->to_float(wd + (size_t)row * c->w_row_bytes, o, c->n_in);
        for (int t = 0; t < c->n_terms; t++) {
            const term_f32 *f = &c->terms[t];
            if (c->embd) {
                /* token `row` gains s·B·A[row,:]: out[j] += s·Σ_k A[row][k]·B[j][k] */
                const float *a = f->a + (size_t)row * (size_t)f->r;
                for (int64_t j = 0; j < c->n_in; j++) {
                    const float *b = f->b + (size_t)j * (size_t)f->r;
                    float s = 0;
                    for (int64_t k = 0; k < f->r; k++) s += a[k] * b[k];
                    o[j] += f->scale * s;
                }
            } else {
                /* out[:] += Σ_k (s·B[row][k])·A[k][:] */
                const float *b = f->b + (size_t)row * (size_t)f->r;
                for (int64_t k = 0; k < f->r; k++) {
                    float sb = f->scale * b[k];
                    if (sb == 0) continue;
                    const float *a = f->a + (size_t)k * (size_t)c->n_in;
                    for (int64_t j = 0; j < c->n_in; j++) o[j] += sb * a[j];
                }
            }
        }
    }
}

lorc_status lorc_merge_rows_f32(const lorc_merge_job *job, int64_t row0, int64_t n_rows, float *out, lorc_error *err) {
    merge_ctx c;
    lorc_status st = ctx_init(&c, job, err);
    if (st) return st;
    if (row0 < 0 || n_rows < 0 || row0 + n_rows > c.n_out) {
        ctx_free(&c);
        return lorc_fail(err, LORC_ERR_INVALID, "merge: rows %lld..%lld out of range", (long long)row0,
                         (long long)(row0 + n_rows));
    }
    ctx_rows(&c, row0, n_rows, out);
    ctx_free(&c);
    return LORC_OK;
}

typedef struct fill_task {
    const merge_ctx *c;
    uint32_t out_type;
    const char *name;
    size_t out_row_bytes;
    uint8_t *dst;
    lorc_error *thread_err; /* [nth]: each thread reports only in its own entry */
} fill_task;

/* Each thread merges and encodes its own block of rows; a value the output
 * type cannot hold stops that thread (see tensor/finite_check.h). */
static void fill_worker(void *user, int ith, int nth) {
    fill_task *t = user;
    const merge_ctx *c = t->c;
    lorc_error *err = &t->thread_err[ith];
    int64_t per = (c->n_out + nth - 1) / nth;
    int64_t r0 = per * ith, r1 = r0 + per < c->n_out ? r0 + per : c->n_out;
    if (r0 >= r1) return;
    float *buf = malloc((size_t)MERGE_CHUNK_ROWS * (size_t)c->n_in * sizeof *buf);
    if (!buf) {
        lorc_fail(err, LORC_ERR_NOMEM, "merge: out of memory for '%s'", t->name);
        return;
    }
    for (int64_t r = r0; r < r1 && err->status == LORC_OK; r += MERGE_CHUNK_ROWS) {
        int64_t n = r1 - r < MERGE_CHUNK_ROWS ? r1 - r : MERGE_CHUNK_ROWS;
        ctx_rows(c, r, n, buf);
        for (int64_t i = 0; i < n; i++) {
            if (lorc_encode_row_checked(t->out_type, buf + (size_t)i * (size_t)c->n_in,
                                        t->dst + (size_t)(r + i) * t->out_row_bytes, c->n_in, t->name, r + i,
                                        err) != LORC_OK)
                break;
        }
    }
    free(buf);
}

lorc_status lorc_merge_fill(void *user, void *dst, uint64_t nbytes, lorc_error *err) {
    const lorc_merge_job *job = user;
    merge_ctx c;
    lorc_status st = ctx_init(&c, job, err);
    if (st) return st;
    const lorc_type_info *oti = lorc_type_get(job->out_type);
    size_t orb = lorc_row_bytes(job->out_type, c.n_in);
    char name[96];
    lorc_model_slot_name(job->model, job->slot, name, sizeof name);
    if (!oti || !oti->from_float || orb == 0) {
        ctx_free(&c);
        return lorc_fail(err, LORC_ERR_UNSUPPORTED, "merge: cannot write '%s' as %s", name, lorc_type_name(job->out_type));
    }
    if ((uint64_t)orb * (uint64_t)c.n_out != nbytes) {
        ctx_free(&c);
        return lorc_fail(err, LORC_ERR_INVALID, "merge: '%s' needs %llu bytes as %s, the writer asked for %llu", name,
                         (unsigned long long)orb * (unsigned long long)c.n_out, oti->name, (unsigned long long)nbytes);
    }
    int nth = job->pool ? lorc_threadpool_size(job->pool) : 1;
    lorc_error *errs = calloc((size_t)nth, sizeof *errs);
    if (!errs) {
        ctx_free(&c);
        return lorc_fail(err, LORC_ERR_NOMEM, "merge: out of memory for '%s'", name);
    }
    fill_task task = {.c = &c, .out_type = job->out_type, .name = name, .out_row_bytes = orb, .dst = dst,
                      .thread_err = errs};
    if (job->pool) lorc_threadpool_run(job->pool, fill_worker, &task);
    else fill_worker(&task, 0, 1);
    st = LORC_OK;
    for (int i = 0; i < nth && !st; i++) /* the lowest failing rows first */
        if (errs[i].status != LORC_OK) st = lorc_fail(err, errs[i].status, "%s", errs[i].message);
    free(errs);
    ctx_free(&c);
    return st;
}
