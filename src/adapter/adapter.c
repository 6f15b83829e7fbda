/* adapter.c — lorc_adapter_load (a GGUF adapter file or a PEFT directory),
 * lorc_adapter_free, and the storage and base checks the loaders share. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../base/error.h"
#include "../tensor/finite_check.h"
#include "../tensor/lora_cols.h"
#include "../tensor/types.h"
#include "adapter_load.h"
#include "identity.h"
#include "lora_gguf.h"
#include "peft.h"

static void storage_free(void *p) {
    adapter_storage *s = p;
    if (!s) return;
    adapter_dora_free(s);
    pthread_mutex_destroy(&s->lock);
    for (size_t i = 0; i < s->n_bufs; i++) free(s->bufs[i]);
    free(s->bufs);
    safetensors_close(s->st);
    gguf_close(s->gguf);
    free(s);
}

void lorc_adapter_free(lorc_adapter *adapter) {
    if (!adapter) return;
    if (adapter->free_storage) adapter->free_storage(adapter->storage);
    free(adapter->slots);
    free(adapter->path);
    free(adapter);
}

lorc_status adapter_new(const lorc_model *model, const char *path, lorc_adapter **out, lorc_error *err) {
    *out = NULL;
    lorc_adapter *ad = calloc(1, sizeof *ad);
    adapter_storage *s = calloc(1, sizeof *s);
    size_t plen = strlen(path) + 1;
    char *p = malloc(plen);
    lorc_adapter_weight *slots = calloc(model->n_slots > 0 ? (size_t)model->n_slots : 1, sizeof *slots);
    if (!ad || !s || !p || !slots || pthread_mutex_init(&s->lock, NULL) != 0) {
        free(ad);
        free(s);
        free(p);
        free(slots);
        return lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory", path);
    }
    memcpy(p, path, plen);
    ad->path = p;
    ad->model = model;
    ad->n_slots = model->n_slots;
    ad->slots = slots;
    ad->storage = s;
    ad->free_storage = storage_free;
    *out = ad;
    return LORC_OK;
}

void *adapter_alloc(lorc_adapter *ad, size_t n) {
    adapter_storage *s = adapter_store(ad);
    if (s->n_bufs == s->cap_bufs) {
        size_t cap = s->cap_bufs ? 2 * s->cap_bufs : 16;
        void **b = realloc(s->bufs, cap * sizeof *b);
        if (!b) return NULL;
        s->bufs = b;
        s->cap_bufs = cap;
    }
    void *p = malloc(n ? n : 1);
    if (p) {
        s->bufs[s->n_bufs++] = p;
        s->buf_bytes += n;
    }
    return p;
}

static size_t gguf_bytes(const gguf_file *f) {
    if (!f) return 0;
    return sizeof *f + f->map.size + (size_t)f->n_kv * sizeof *f->kv + (size_t)f->n_tensors * sizeof *f->tensors;
}

static size_t safetensors_bytes(const safetensors_file *f) {
    if (!f) return 0;
    return sizeof *f + (f->owns_map ? f->map.size : 0) + f->n_tensors * sizeof *f->tensors +
           f->n_meta * sizeof *f->meta;
}

size_t lorc_adapter_resident_bytes(const lorc_adapter *ad) {
    if (!ad) return 0;
    size_t n = sizeof *ad + strlen(ad->path) + 1 + (size_t)ad->n_slots * sizeof *ad->slots;
    adapter_storage *s = ad->storage;
    if (!s) return n;
    n += sizeof *s + gguf_bytes(s->gguf) + safetensors_bytes(s->st) + s->buf_bytes + s->cap_bufs * sizeof *s->bufs;
    pthread_mutex_lock(&s->lock);
    n += s->dora_bytes;
    pthread_mutex_unlock(&s->lock);
    return n;
}

char *adapter_strdup(lorc_adapter *ad, const char *str) {
    size_t n = strlen(str) + 1;
    char *d = adapter_alloc(ad, n);
    if (d) memcpy(d, str, n);
    return d;
}

bool adapter_slot_is_matrix(int slot) {
    if (slot < 0) return false;
    if (slot < GW_COUNT) return slot == GW_TOKEN_EMBD || slot == GW_OUTPUT;
    switch ((slot - GW_COUNT) % LW_COUNT) {
    case LW_ATTN_Q:
    case LW_ATTN_K:
    case LW_ATTN_V:
    case LW_ATTN_OUT:
    case LW_FFN_GATE:
    case LW_FFN_UP:
    case LW_FFN_DOWN:
        return true;
    default:
        return false;
    }
}

const lorc_tensor *adapter_base_weight(const lorc_model *model, int slot) {
    if (slot < 0 || slot >= model->n_slots) return NULL;
    if (model->w && model->w[slot]) return model->w[slot];
    return model->base ? model->base[slot] : NULL;
}

static bool is_2d(const lorc_tensor *t) { return t->ne[2] == 1 && t->ne[3] == 1 && t->ne[0] > 0 && t->ne[1] > 0; }

static lorc_status non_finite(const char *path, const lorc_tensor *t, float v, int64_t row, int64_t col,
                              lorc_error *err) {
    return lorc_fail(err, LORC_ERR_NUMERIC, "%s: tensor '%s': non-finite value (%s) at row %lld, column %lld", path,
                     t->name, isnan(v) ? "NaN" : "Inf", (long long)row, (long long)col);
}

lorc_status adapter_check_finite(const char *path, const lorc_tensor *t, float *max_abs, lorc_error *err) {
    const lorc_type_info *ti = lorc_type_get(t->type);
    const bool half = t->type == LORC_TYPE_F16 || t->type == LORC_TYPE_BF16;
    if (!ti || !ti->to_float)
        return lorc_fail(err, LORC_ERR_UNSUPPORTED, "%s: tensor '%s': type %s is not supported", path, t->name,
                         lorc_type_name(t->type));
    int64_t row = t->ne[0];
    int64_t rows = lorc_tensor_nelements(t) / (row ? row : 1);
    size_t rb = lorc_row_bytes(t->type, row);
    if (row <= 0 || rb == 0)
        return lorc_fail(err, LORC_ERR_FORMAT, "%s: tensor '%s': row of %lld values does not fit type %s", path,
                         t->name, (long long)row, ti->name);
    float *buf = half ? NULL : malloc((size_t)row * sizeof *buf); /* decoded rows (not for F16, BF16) */
    if (!half && !buf) return lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory", path);
    lorc_status st = LORC_OK;
    float max = 0.0f;
    for (int64_t r = 0; r < rows && st == LORC_OK; r++) {
        const uint8_t *enc = (const uint8_t *)t->data + (size_t)r * rb;
        if (half) {
            /* on the bits (lorc_half_row_scan), decoding only the largest
             * magnitude or the first non-finite value: decoding every value
             * took most of the attach time of a 25 MB F16 adapter (rank 16
             * on all seven linears of a TinyLlama) */
            int64_t bad = 0;
            uint16_t top;
            const int64_t first = lorc_half_row_scan(t->type, enc, row, &bad, &top);
            const uint8_t top_bits[2] = {(uint8_t)(top & 0xff), (uint8_t)(top >> 8)};
            float v;
            ti->to_float(first >= 0 ? enc + 2 * first : top_bits, &v, 1);
            if (first >= 0)
                st = non_finite(path, t, v, r, first, err);
            else if (v > max)
                max = v;
            continue;
        }
        ti->to_float(enc, buf, row);
        for (int64_t i = 0; i < row; i++) {
            if (!isfinite(buf[i])) {
                st = non_finite(path, t, buf[i], r, i, err);
                break;
            }
            if (fabsf(buf[i]) > max) max = fabsf(buf[i]);
        }
    }
    free(buf);
    if (max_abs) *max_abs = max;
    return st;
}

lorc_status adapter_check_pair(const lorc_adapter *ad, int slot, const char *name, const lorc_tensor *a,
                               const lorc_tensor *b, double *ab_bound, lorc_error *err) {
    const lorc_tensor *w = adapter_base_weight(ad->model, slot);
    if (!w) return lorc_fail(err, LORC_ERR_MISMATCH, "%s: tensor '%s': the base model has no such tensor", ad->path, name);
    if (!adapter_slot_is_matrix(slot))
        return lorc_fail(err, LORC_ERR_MISMATCH, "%s: tensor '%s': LoRA can only target matrix weights", ad->path, name);
    const lorc_tensor *ab[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        if (!is_2d(ab[i]))
            return lorc_fail(err, LORC_ERR_FORMAT, "%s: tensor '%s': lora_%c is not a 2-D matrix", ad->path, name,
                             i ? 'b' : 'a');
        if (!lorc_type_supported(ab[i]->type))
            return lorc_fail(err, LORC_ERR_UNSUPPORTED, "%s: tensor '%s': lora_%c has type %s, which lorc cannot compute with",
                             ad->path, name, i ? 'b' : 'a', lorc_type_name(ab[i]->type));
    }
    int64_t n_in = w->ne[0], n_out = w->ne[1];
    if (slot == GW_TOKEN_EMBD) {
        /* A is stored transposed: [r, n_vocab]; the embedding row of token t gains B·A[t,:]. */
        if (a->ne[1] != n_out || b->ne[1] != n_in)
            return lorc_fail(err, LORC_ERR_MISMATCH,
                             "%s: tensor '%s': lora_a [%lld, %lld] / lora_b [%lld, %lld] do not fit the base [%lld, %lld] "
                             "(token_embd wants A [r, n_vocab], B [r, n_embd])",
                             ad->path, name, (long long)a->ne[0], (long long)a->ne[1], (long long)b->ne[0],
                             (long long)b->ne[1], (long long)n_in, (long long)n_out);
        if (a->ne[0] != b->ne[0])
            return lorc_fail(err, LORC_ERR_MISMATCH, "%s: tensor '%s': lora_a rank %lld != lora_b rank %lld", ad->path,
                             name, (long long)a->ne[0], (long long)b->ne[0]);
    } else {
        if (a->ne[0] != n_in)
            return lorc_fail(err, LORC_ERR_MISMATCH, "%s: tensor '%s': lora_a has %lld inputs, the base weight %lld",
                             ad->path, name, (long long)a->ne[0], (long long)n_in);
        if (b->ne[1] != n_out)
            return lorc_fail(err, LORC_ERR_MISMATCH, "%s: tensor '%s': lora_b has %lld outputs, the base weight %lld",
                             ad->path, name, (long long)b->ne[1], (long long)n_out);
        if (a->ne[1] != b->ne[0])
            return lorc_fail(err, LORC_ERR_MISMATCH, "%s: tensor '%s': lora_a rank %lld != lora_b rank %lld", ad->path,
                             name, (long long)a->ne[1], (long long)b->ne[0]);
    }
    float max_abs[2];
    for (int i = 0; i < 2; i++) {
        if (lorc_row_bytes(ab[i]->type, ab[i]->ne[0]) == 0)
            return lorc_fail(err, LORC_ERR_FORMAT, "%s: tensor '%s': lora_%c rows of %lld do not fit type %s", ad->path,
                             name, i ? 'b' : 'a', (long long)ab[i]->ne[0], lorc_type_name(ab[i]->type));
        lorc_status st = adapter_check_finite(ad->path, ab[i], &max_abs[i], err);
        if (st != LORC_OK) return st;
    }
    /* The rank is B's row length for every slot (token_embd's A is [r, n_vocab]). */
    *ab_bound = (double)max_abs[0] * (double)max_abs[1] * (double)b->ne[0];
    return LORC_OK;
}

lorc_status lorc_adapter_check_scale(const lorc_adapter *ad, const lorc_adapter_weight *w, const char *name,
                                     float user_scale, lorc_error *err) {
    const double s = (double)user_scale * (double)w->scale;
    if (!isfinite((float)s))
        return lorc_fail(err, LORC_ERR_NUMERIC, "%s: tensor '%s': scale %g x the adapter's %g = %g is not a finite float",
                         ad->path, name, (double)user_scale, (double)w->scale, s);
    if (w->has_lora && fabs(s) * w->ab_bound > FLT_MAX)
        return lorc_fail(err, LORC_ERR_NUMERIC,
                         "%s: tensor '%s': scale %g x max|B| x max|A| x rank = %g overflows a float (max %g)", ad->path,
                         name, s, fabs(s) * w->ab_bound, (double)FLT_MAX);
    return LORC_OK;
}

/* B of a slot's term in the column layout (lora_cols.h), which the B·t
 * tiles read without turning B around on every token: built once here,
 * counted in the adapter's bytes. Not for DoRA slots (no term) or the
 * embedding (its B is not applied through lorc_matmul). */
static lorc_status build_cols(lorc_adapter *ad, int slot, lorc_error *err) {
    lorc_adapter_weight *w = &ad->slots[slot];
    if (!w->has_lora || w->dora || slot == GW_TOKEN_EMBD) return LORC_OK;
    const lorc_tensor *b = &w->b;
    const size_t bytes = lorc_lora_cols_bytes(b->type, b->ne[0], b->ne[1]);
    if (!bytes) return LORC_OK;
    void *cols = adapter_alloc(ad, bytes);
    if (!cols) return lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory", ad->path);
    lorc_lora_cols_build(b->type, b->ne[0], b->ne[1], b->data, lorc_row_bytes(b->type, b->ne[0]), cols);
    w->b_cols = cols;
    return LORC_OK;
}

lorc_status lorc_adapter_load(lorc_model *model, const char *path, lorc_adapter **out, lorc_error *err) {
    if (!out) return lorc_fail(err, LORC_ERR_INVALID, "lorc_adapter_load: out is NULL");
    *out = NULL;
    if (!model || !path) return lorc_fail(err, LORC_ERR_INVALID, "lorc_adapter_load: model or path is NULL");
    struct stat st;
    if (stat(path, &st) != 0) return lorc_fail(err, LORC_ERR_IO, "%s: no such file or directory", path);
    lorc_adapter *ad = NULL;
    lorc_status s = adapter_new(model, path, &ad, err);
    if (s != LORC_OK) return s;
    s = S_ISDIR(st.st_mode) ? peft_load(ad, err) : lora_gguf_load(ad, err);
    if (s == LORC_OK) {
        for (int i = 0; i < ad->n_slots && s == LORC_OK; i++) {
            const lorc_adapter_weight *w = &ad->slots[i];
            if (!w->has_lora) continue;
            /* At user scale 1: the adapter as its file means it. Other user
             * scales are checked again when attached or merged. */
            char name[96];
            s = lorc_adapter_check_scale(ad, w, lorc_model_slot_name(model, i, name, sizeof name), 1.0f, err);
            int r = (int)(i == GW_TOKEN_EMBD ? w->a.ne[0] : w->a.ne[1]);
            if (r > ad->rank) ad->rank = r;
            if (w->dora) ad->is_dora = true;
        }
    }
    for (int i = 0; i < ad->n_slots && s == LORC_OK; i++) s = build_cols(ad, i, err);
    if (s == LORC_OK) {
        ad->identity = lorc_adapter_identity_compute(ad);
        *out = ad;
    } else {
        lorc_adapter_free(ad);
    }
    return s;
}
