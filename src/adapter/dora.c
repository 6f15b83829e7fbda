/* dora.c — DoRA weights and replacement lookup for the adapter set.
 * DoRA rescales each output row of the merged weight to a trained
 * magnitude: W' = m · (W + s·B·A) / ‖W + s·B·A‖ (norm over the inputs of
 * each row, as PEFT defines it). W' depends on s, which includes the user's
 * scale, so it is computed per scale on first use and cached: adapter sets
 * hold references on the weights they use; unreferenced ones are kept up to
 * LORC_DORA_CACHED_SCALES per slot (LRU), and every cached byte is charged
 * to the adapter's budget (a registry's) before it is allocated. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../base/error.h"
#include "../format/fingerprint.h"
#include "../tensor/types.h"
#include "adapter_load.h"

struct dora_entry {
    int slot;
    float user_scale;
    const void *base_data; /* the weight it was computed from (an overlay may swap it) */
    uint64_t base_hash;    /* and its contents: a removed overlay's address can come back holding another one */
    lorc_tensor t;         /* F32 [n_in, n_out] */
    float *data;           /* owned */
    int refs;              /* adapter sets using it (lorc_adapter_weight_release drops one) */
    uint64_t last_use;     /* storage dora_clock tick of the last lookup */
};

void adapter_dora_free(adapter_storage *s) {
    for (size_t i = 0; i < s->n_dora; i++) {
        free(s->dora[i]->data);
        free(s->dora[i]);
    }
    free(s->dora);
    s->dora = NULL;
    s->n_dora = s->cap_dora = 0;
    s->dora_bytes = 0;
}

/* Dequantizes `rows` rows of a 2-D tensor into dst (rows × ne[0] floats). */
static void dequant_rows(const lorc_tensor *t, int64_t rows, float *dst) {
    const lorc_type_info *ti = lorc_type_get(t->type);
    size_t rb = lorc_row_bytes(t->type, t->ne[0]);
    for (int64_t r = 0; r < rows; r++) ti->to_float((const uint8_t *)t->data + (size_t)r * rb, dst + r * t->ne[0], t->ne[0]);
}

/* W' for one slot at scale s = user_scale × the adapter's own scale. */
static lorc_status dora_compute(const lorc_adapter *ad, const lorc_adapter_weight *w, const lorc_tensor *base,
                                float user_scale, float *out, lorc_error *err) {
    int64_t n_in = base->ne[0], n_out = base->ne[1], r = w->a.ne[1];
    const lorc_type_info *ti = lorc_type_get(base->type);
    if (!ti || !ti->to_float || lorc_row_bytes(base->type, n_in) == 0)
        return lorc_fail(err, LORC_ERR_UNSUPPORTED, "%s: tensor '%s': cannot dequantize type %s for DoRA", ad->path,
                         base->name, lorc_type_name(base->type));
    float *a = malloc((size_t)(r * n_in) * sizeof *a);
    float *b = malloc((size_t)(n_out * r) * sizeof *b);
    if (!a || !b) {
        free(a);
        free(b);
        return lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory computing DoRA weights", ad->path);
    }
    dequant_rows(&w->a, r, a);
    dequant_rows(&w->b, n_out, b);
    dequant_rows(base, n_out, out);
    const float *mag = w->magnitude.data;
    float s = user_scale * w->scale;
    for (int64_t o = 0; o < n_out; o++) {
        float *row = out + o * n_in;
        for (int64_t k = 0; k < r; k++) {
            float c = s * b[o * r + k];
            const float *ak = a + k * n_in;
            for (int64_t i = 0; i < n_in; i++) row[i] += c * ak[i];
        }
        double ss = 0.0;
        for (int64_t i = 0; i < n_in; i++) ss += (double)row[i] * row[i];
        /* A zero row has no direction to rescale; keep it zero rather than divide by 0. */
        float f = ss > 0.0 ? (float)(mag[o] / sqrt(ss)) : 0.0f;
        bool finite = true;
        for (int64_t i = 0; i < n_in; i++) {
            row[i] *= f;
            finite &= isfinite(row[i]) != 0;
        }
        /* An overflow anywhere (W + s·B·A, or a magnitude over a tiny norm)
         * shows up here as Inf, or NaN from Inf x 0. */
        if (!finite) {
            free(a);
            free(b);
            return lorc_fail(err, LORC_ERR_NUMERIC,
                             "%s: tensor '%s': DoRA weight at scale %g overflows in output row %lld (magnitude %g, "
                             "norm of W + s*B*A %g)",
                             ad->path, base->name, (double)s, (long long)o, (double)mag[o], sqrt(ss));
        }
    }
    free(a);
    free(b);
    return LORC_OK;
}

static lorc_status cache_add(adapter_storage *s, dora_entry *e) {
    if (s->n_dora == s->cap_dora) {
        size_t cap = s->cap_dora ? 2 * s->cap_dora : 8;
        dora_entry **d = realloc(s->dora, cap * sizeof *d);
        if (!d) return LORC_ERR_NOMEM;
        s->dora = d;
        s->cap_dora = cap;
    }
    s->dora[s->n_dora++] = e;
    return LORC_OK;
}

static size_t entry_bytes(const dora_entry *e) { return sizeof *e + (size_t)e->t.nbytes; }

/* Keeps at most LORC_DORA_CACHED_SCALES unreferenced weights for `slot`,
 * dropping the least recently used first; referenced ones always stay.
 * Returns the bytes freed. Under s->lock. */
static size_t trim_slot(adapter_storage *s, int slot) {
    size_t freed = 0;
    for (;;) {
        size_t n = 0, victim = SIZE_MAX;
        for (size_t i = 0; i < s->n_dora; i++) {
            const dora_entry *e = s->dora[i];
            if (e->slot != slot) continue;
            n++;
            if (e->refs == 0 && (victim == SIZE_MAX || e->last_use < s->dora[victim]->last_use)) victim = i;
        }
        if (n <= LORC_DORA_CACHED_SCALES || victim == SIZE_MAX) return freed;
        dora_entry *e = s->dora[victim];
        freed += entry_bytes(e);
        s->dora_bytes -= entry_bytes(e);
        s->dora[victim] = s->dora[--s->n_dora];
        free(e->data);
        free(e);
    }
}

static dora_entry *cache_find(adapter_storage *s, int slot, float user_scale, const void *base_data,
                              uint64_t base_hash) {
    for (size_t i = 0; i < s->n_dora; i++) {
        dora_entry *e = s->dora[i];
        /* Compared bitwise: the same scale value gives the same weights. */
        if (e->slot == slot && !memcmp(&e->user_scale, &user_scale, sizeof user_scale) && e->base_data == base_data &&
            e->base_hash == base_hash)
            return e;
    }
    return NULL;
}

static void budget_release(lorc_adapter *ad, size_t bytes) {
    if (bytes && ad->budget.release) ad->budget.release(ad->budget.user, bytes);
}

lorc_status lorc_adapter_weight_for_scale(lorc_adapter *ad, int slot, float user_scale, const lorc_tensor *weight,
                                          const lorc_tensor **out, lorc_error *err) {
    if (!out) return lorc_fail(err, LORC_ERR_INVALID, "lorc_adapter_weight_for_scale: out is NULL");
    *out = NULL;
    if (!ad || slot < 0 || slot >= ad->n_slots)
        return lorc_fail(err, LORC_ERR_INVALID, "lorc_adapter_weight_for_scale: no slot %d", slot);
    const lorc_adapter_weight *w = &ad->slots[slot];
    if (w->has_replace) {
        *out = &w->replace;
        return LORC_OK;
    }
    if (!w->dora) return LORC_OK;
    if (!isfinite(user_scale))
        return lorc_fail(err, LORC_ERR_INVALID, "%s: adapter scale %g is not finite", ad->path, (double)user_scale);
    /* A sequence's overlay tensor, else the model's weight in use. */
    const lorc_tensor *base = weight ? weight : adapter_base_weight(ad->model, slot);
    if (!base) return lorc_fail(err, LORC_ERR_MISMATCH, "%s: the base has no weight for slot %d", ad->path, slot);
    adapter_storage *s = adapter_store(ad);
    /* Hashed on every lookup (xxhash: a small cost next to the forward pass
     * the set is built for), so a cached W' never outlives the W it came from. */
    uint64_t base_hash = lorc_fingerprint_bytes(base->data, (size_t)base->nbytes);
    pthread_mutex_lock(&s->lock);
    dora_entry *hit = cache_find(s, slot, user_scale, base->data, base_hash);
    if (hit) {
        hit->refs++;
        hit->last_use = ++s->dora_clock;
        *out = &hit->t;
    }
    pthread_mutex_unlock(&s->lock);
    if (hit) return LORC_OK;

    /* A miss: the weight is computed outside the lock, after its bytes are
     * granted by whoever pays for the adapter's memory (a registry may
     * evict other entries for them, or refuse). */
    size_t n = (size_t)(base->ne[0] * base->ne[1]);
    size_t bytes = sizeof(dora_entry) + n * sizeof(float);
    if (ad->budget.reserve) {
        lorc_status st = ad->budget.reserve(ad->budget.user, bytes, err);
        if (st != LORC_OK) return st;
    }
    dora_entry *e = calloc(1, sizeof *e);
    float *data = malloc(n * sizeof *data);
    lorc_status st = LORC_OK;
    if (!e || !data) st = lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory computing DoRA weights", ad->path);
    if (st == LORC_OK) st = dora_compute(ad, w, base, user_scale, data, err);
    if (st != LORC_OK) {
        free(e);
        free(data);
        budget_release(ad, bytes);
        return st;
    }
    e->slot = slot;
    e->user_scale = user_scale;
    e->base_data = base->data;
    e->base_hash = base_hash;
    e->data = data;
    e->t.name = base->name;
    e->t.type = LORC_TYPE_F32;
    e->t.n_dims = 2;
    e->t.ne[0] = base->ne[0];
    e->t.ne[1] = base->ne[1];
    e->t.ne[2] = e->t.ne[3] = 1;
    e->t.data = data;
    e->t.nbytes = n * sizeof *data;
    e->refs = 1;
    size_t freed = 0;
    pthread_mutex_lock(&s->lock);
    /* Another thread may have computed the same weight meanwhile: use its copy. */
    hit = cache_find(s, slot, user_scale, base->data, base_hash);
    if (hit) {
        hit->refs++;
        hit->last_use = ++s->dora_clock;
        *out = &hit->t;
        freed = bytes;
    } else if (cache_add(s, e) != LORC_OK) {
        st = lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory", ad->path);
        freed = bytes;
    } else {
        e->last_use = ++s->dora_clock;
        s->dora_bytes += bytes;
        *out = &e->t;
        freed = trim_slot(s, slot);
        e = NULL;
        data = NULL;
    }
    pthread_mutex_unlock(&s->lock);
    free(e);
    free(data);
    budget_release(ad, freed);
    return st;
}

void lorc_adapter_weight_release(lorc_adapter *ad, const lorc_tensor *weight) {
    if (!ad || !weight || !ad->storage) return;
    adapter_storage *s = adapter_store(ad);
    size_t freed = 0;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->n_dora; i++) {
        dora_entry *e = s->dora[i];
        if (&e->t != weight) continue;
        if (e->refs > 0) e->refs--;
        freed = trim_slot(s, e->slot);
        break;
    }
    pthread_mutex_unlock(&s->lock);
    budget_release(ad, freed);
}

size_t lorc_adapter_drop_unused_weights(lorc_adapter *ad) {
    if (!ad || !ad->storage) return 0;
    adapter_storage *s = adapter_store(ad);
    size_t freed = 0;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->n_dora;) {
        dora_entry *e = s->dora[i];
        if (e->refs > 0) {
            i++;
            continue;
        }
        freed += entry_bytes(e);
        s->dora_bytes -= entry_bytes(e);
        s->dora[i] = s->dora[--s->n_dora];
        free(e->data);
        free(e);
    }
    pthread_mutex_unlock(&s->lock);
    return freed;
}
