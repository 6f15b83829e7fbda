/* gguf_write.c — builds a GGUF v3 file in memory (metadata + tensor list)
 * and writes it atomically, streaming lazily-produced tensors one by one. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/checked.h"
#include "../base/error.h"
#include "../tensor/finite_check.h"
#include "../tensor/types.h"
#include "gguf_internal.h"

typedef struct wkv {
    char *key;            /* owned */
    gguf_value_type type; /* as written before the value */
    uint8_t *val;         /* owned: the encoded bytes that follow the type */
    size_t val_len;
} wkv;

typedef struct wtensor {
    char *name; /* owned */
    uint32_t type;
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    uint64_t nbytes;
    uint64_t offset;          /* in the data section, set at write time */
    const void *data;         /* borrowed, or NULL when lazy */
    gguf_tensor_fill_fn fill; /* lazy producer */
    void *user;
} wtensor;

struct gguf_writer {
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *t;
    size_t n_t, cap_t;
    /* the first failure of a set/add call, reported again by write: callers
     * may check each call or only the final write */
    lorc_error deferred;
    /* test fixtures only: write non-finite tensor values (see gguf.h) */
    bool allow_nonfinite;
};

/* ------------------------------------------------------------ encoding */

typedef struct bytes {
    uint8_t *p;
    size_t len, cap;
    bool oom;
} bytes;

static void b_put(bytes *b, const void *src, size_t n) {
    if (b->oom) return;
    if (n > SIZE_MAX - b->len) {
        b->oom = true;
        return;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n) cap = cap > SIZE_MAX / 2 ? b->len + n : cap * 2;
        uint8_t *np = realloc(b->p, cap);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void b_uint(bytes *b, uint64_t v, size_t n) {
    uint8_t tmp[8];
    for (size_t i = 0; i < n; i++) tmp[i] = (uint8_t)(v >> (8 * i));
    b_put(b, tmp, n);
}

static void b_str(bytes *b, const char *s, uint64_t len) {
    b_uint(b, len, 8);
    b_put(b, s, (size_t)len);
}

/* ------------------------------------------------------------ lifetime */

gguf_writer *gguf_writer_new(void) { return calloc(1, sizeof(gguf_writer)); }

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].val);
    }
    for (size_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w);
}

static lorc_status defer_fail(gguf_writer *w, lorc_status st, const char *fmt, ...) LORC_PRINTF(3, 4);
static lorc_status defer_fail(gguf_writer *w, lorc_status st, const char *fmt, ...) {
    if (w && w->deferred.status == LORC_OK) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->deferred.message, sizeof w->deferred.message, fmt, ap);
        va_end(ap);
        w->deferred.status = st;
    }
    return st;
}

/* ------------------------------------------------------------ metadata */

/* Keys and tensor names: non-empty and printable (what the reader accepts). */
static bool name_ok(const char *name) {
    if (!name || !*name) return false;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p < 0x20 || *p == 0x7f) return false;
    return true;
}

/* Stores an encoded value under key (takes ownership of b's buffer). */
static lorc_status set_encoded(gguf_writer *w, const char *key, gguf_value_type type, bytes *b) {
    if (!w) {
        free(b->p);
        return LORC_ERR_INVALID;
    }
    if (b->oom) {
        free(b->p);
        return defer_fail(w, LORC_ERR_NOMEM, "gguf writer: out of memory setting key '%s'", key ? key : "");
    }
    if (!name_ok(key)) {
        free(b->p);
        return defer_fail(w, LORC_ERR_INVALID, "gguf writer: metadata key is empty or has control characters");
    }
    for (size_t i = 0; i < w->n_kv; i++) {
        if (!strcmp(w->kv[i].key, key)) {
            free(w->kv[i].val);
            w->kv[i].type = type;
            w->kv[i].val = b->p;
            w->kv[i].val_len = b->len;
            return LORC_OK;
        }
    }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? w->cap_kv * 2 : 16;
        wkv *nk = realloc(w->kv, cap * sizeof *nk);
        if (!nk) {
            free(b->p);
            return defer_fail(w, LORC_ERR_NOMEM, "gguf writer: out of memory setting key '%s'", key);
        }
        w->kv = nk;
        w->cap_kv = cap;
    }
    char *k = strdup(key);
    if (!k) {
        free(b->p);
        return defer_fail(w, LORC_ERR_NOMEM, "gguf writer: out of memory setting key '%s'", key);
    }
    w->kv[w->n_kv++] = (wkv){k, type, b->p, b->len};
    return LORC_OK;
}

static lorc_status set_uint(gguf_writer *w, const char *key, gguf_value_type t, uint64_t bits) {
    bytes b = {0};
    b_uint(&b, bits, gguf_value_type_size(t));
    return set_encoded(w, key, t, &b);
}

lorc_status gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v) {
    return set_uint(w, key, GGUF_TYPE_UINT32, v);
}
lorc_status gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v) {
    return set_uint(w, key, GGUF_TYPE_INT32, (uint32_t)v);
}
lorc_status gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v) {
    return set_uint(w, key, GGUF_TYPE_UINT64, v);
}
lorc_status gguf_writer_set_f32(gguf_writer *w, const char *key, float v) {
    uint32_t bits;
    memcpy(&bits, &v, 4);
    return set_uint(w, key, GGUF_TYPE_FLOAT32, bits);
}
lorc_status gguf_writer_set_bool(gguf_writer *w, const char *key, bool v) {
    return set_uint(w, key, GGUF_TYPE_BOOL, v ? 1 : 0);
}

lorc_status gguf_writer_set_u8(gguf_writer *w, const char *key, uint8_t v) {
    return set_uint(w, key, GGUF_TYPE_UINT8, v);
}
lorc_status gguf_writer_set_i8(gguf_writer *w, const char *key, int8_t v) {
    return set_uint(w, key, GGUF_TYPE_INT8, (uint8_t)v);
}
lorc_status gguf_writer_set_u16(gguf_writer *w, const char *key, uint16_t v) {
    return set_uint(w, key, GGUF_TYPE_UINT16, v);
}
lorc_status gguf_writer_set_i16(gguf_writer *w, const char *key, int16_t v) {
    return set_uint(w, key, GGUF_TYPE_INT16, (uint16_t)v);
}
lorc_status gguf_writer_set_i64(gguf_writer *w, const char *key, int64_t v) {
    return set_uint(w, key, GGUF_TYPE_INT64, (uint64_t)v);
}
lorc_status gguf_writer_set_f64(gguf_writer *w, const char *key, double v) {
    uint64_t bits;
    memcpy(&bits, &v, 8);
    return set_uint(w, key, GGUF_TYPE_FLOAT64, bits);
}

lorc_status gguf_writer_set_strn(gguf_writer *w, const char *key, const char *v, size_t len) {
    if (!v && len) return defer_fail(w, LORC_ERR_INVALID, "gguf writer: NULL string for key '%s'", key ? key : "");
    bytes b = {0};
    b_str(&b, v, len);
    return set_encoded(w, key, GGUF_TYPE_STRING, &b);
}

lorc_status gguf_writer_set_str(gguf_writer *w, const char *key, const char *v) {
    if (!v) return defer_fail(w, LORC_ERR_INVALID, "gguf writer: NULL string for key '%s'", key ? key : "");
    bytes b = {0};
    b_str(&b, v, strlen(v));
    return set_encoded(w, key, GGUF_TYPE_STRING, &b);
}

lorc_status gguf_writer_set_arr(gguf_writer *w, const char *key, gguf_value_type elem_type, const void *data,
                                uint64_t n) {
    size_t esz = gguf_value_type_size(elem_type);
    uint64_t total;
    if (esz == 0)
        return defer_fail(w, LORC_ERR_INVALID, "gguf writer: key '%s': array elements of type %s need their own setter",
                          key ? key : "", gguf_value_type_name(elem_type));
    if (!lorc_mul_u64(n, esz, &total) || total > SIZE_MAX || (n && !data))
        return defer_fail(w, LORC_ERR_INVALID, "gguf writer: key '%s': bad array of %llu elements", key ? key : "",
                          (unsigned long long)n);
    if (elem_type == GGUF_TYPE_BOOL)
        for (uint64_t i = 0; i < n; i++)
            if (((const uint8_t *)data)[i] > 1)
                return defer_fail(w, LORC_ERR_INVALID, "gguf writer: key '%s': bool element %llu is not 0 or 1",
                                  key ? key : "", (unsigned long long)i);
    bytes b = {0};
    b_uint(&b, (uint64_t)elem_type, 4);
    b_uint(&b, n, 8);
    b_put(&b, data, (size_t)total);
    return set_encoded(w, key, GGUF_TYPE_ARRAY, &b);
}

lorc_status gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *strs, uint64_t n) {
    if (n && !strs) return defer_fail(w, LORC_ERR_INVALID, "gguf writer: key '%s': NULL string array", key ? key : "");
    bytes b = {0};
    b_uint(&b, GGUF_TYPE_STRING, 4);
    b_uint(&b, n, 8);
    for (uint64_t i = 0; i < n; i++) {
        const char *s = strs[i] ? strs[i] : "";
        b_str(&b, s, strlen(s));
    }
    return set_encoded(w, key, GGUF_TYPE_ARRAY, &b);
}

lorc_status gguf_writer_copy_kv(gguf_writer *w, const gguf_kv *kv) {
    if (!kv) return defer_fail(w, LORC_ERR_INVALID, "gguf writer: NULL kv to copy");
    bytes b = {0};
    if (kv->type == GGUF_TYPE_STRING) {
        b_str(&b, kv->str.ptr, kv->str.len);
    } else if (kv->type == GGUF_TYPE_ARRAY) {
        b_uint(&b, (uint64_t)kv->arr_type, 4);
        b_uint(&b, kv->arr_len, 8);
        if (kv->arr_type == GGUF_TYPE_STRING) {
            for (uint64_t i = 0; i < kv->arr_len; i++) b_str(&b, kv->arr_strs[i].ptr, kv->arr_strs[i].len);
        } else {
            /* the reader checked arr_len * size against the file */
            b_put(&b, kv->arr_data, (size_t)(kv->arr_len * gguf_value_type_size(kv->arr_type)));
        }
    } else {
        size_t n = gguf_value_type_size(kv->type);
        if (n == 0) return defer_fail(w, LORC_ERR_INVALID, "gguf writer: key '%s' has invalid type", kv->key);
        uint64_t bits;
        switch (kv->type) {
        case GGUF_TYPE_FLOAT32: {
            float x = (float)kv->v.f64;
            uint32_t u;
            memcpy(&u, &x, 4);
            bits = u;
            break;
        }
        case GGUF_TYPE_FLOAT64: memcpy(&bits, &kv->v.f64, 8); break;
        case GGUF_TYPE_BOOL: bits = kv->v.b ? 1 : 0; break;
        case GGUF_TYPE_INT8:
        case GGUF_TYPE_INT16:
        case GGUF_TYPE_INT32:
        case GGUF_TYPE_INT64: bits = (uint64_t)kv->v.i64; break;
        default: bits = kv->v.u64; break;
        }
        b_uint(&b, bits, n);
    }
    return set_encoded(w, kv->key, kv->type, &b);
}

void gguf_writer_remove_kv(gguf_writer *w, const char *key) {
    if (!w || !key) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        if (!strcmp(w->kv[i].key, key)) {
            free(w->kv[i].key);
            free(w->kv[i].val);
            memmove(&w->kv[i], &w->kv[i + 1], (w->n_kv - i - 1) * sizeof *w->kv);
            w->n_kv--;
            return;
        }
    }
}

/* ------------------------------------------------------------- tensors */

static lorc_status add_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims, const int64_t *ne,
                              const void *data, gguf_tensor_fill_fn fill, void *user) {
    if (!w) return LORC_ERR_INVALID;
    if (!name_ok(name))
        return defer_fail(w, LORC_ERR_INVALID, "gguf writer: tensor name is empty or has control characters");
    for (size_t i = 0; i < w->n_t; i++)
        if (!strcmp(w->t[i].name, name))
            return defer_fail(w, LORC_ERR_INVALID, "gguf writer: duplicate tensor '%s'", name);
    if (!data && !fill) return defer_fail(w, LORC_ERR_INVALID, "gguf writer: tensor '%s' has no data", name);
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS || !ne)
        return defer_fail(w, LORC_ERR_INVALID, "gguf writer: tensor '%s' has %u dimensions (expected 1 to %d)", name,
                          n_dims, GGUF_MAX_DIMS);
    const lorc_type_info *info = lorc_type_get(type);
    if (!info) return defer_fail(w, LORC_ERR_INVALID, "gguf writer: tensor '%s' has unknown type id %u", name, type);
    wtensor t = {0};
    t.type = type;
    t.n_dims = n_dims;
    uint64_t rows = 1;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) t.ne[d] = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] <= 0 || (d > 0 && !lorc_mul_u64(rows, (uint64_t)ne[d], &rows)))
            return defer_fail(w, LORC_ERR_INVALID, "gguf writer: tensor '%s' has a bad dimension %u (%lld)", name, d,
                              (long long)ne[d]);
        t.ne[d] = ne[d];
    }
    if (t.ne[0] % info->block_size != 0)
        return defer_fail(w, LORC_ERR_INVALID,
                          "gguf writer: tensor '%s': row length %lld is not a multiple of the %s block size %lld", name,
                          (long long)t.ne[0], info->name, (long long)info->block_size);
    uint64_t row_bytes;
    if (!lorc_mul_u64((uint64_t)(t.ne[0] / info->block_size), info->block_bytes, &row_bytes) ||
        !lorc_mul_u64(row_bytes, rows, &t.nbytes) || t.nbytes > SIZE_MAX)
        return defer_fail(w, LORC_ERR_INVALID, "gguf writer: tensor '%s' is too large", name);
    t.data = data;
    t.fill = fill;
    t.user = user;
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? w->cap_t * 2 : 16;
        wtensor *nt = realloc(w->t, cap * sizeof *nt);
        if (!nt) return defer_fail(w, LORC_ERR_NOMEM, "gguf writer: out of memory adding tensor '%s'", name);
        w->t = nt;
        w->cap_t = cap;
    }
    t.name = strdup(name);
    if (!t.name) return defer_fail(w, LORC_ERR_NOMEM, "gguf writer: out of memory adding tensor '%s'", name);
    w->t[w->n_t++] = t;
    return LORC_OK;
}

lorc_status gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                                   const int64_t *ne, const void *data) {
    if (!data) return defer_fail(w, LORC_ERR_INVALID, "gguf writer: tensor '%s' has no data", name ? name : "");
    return add_tensor(w, name, type, n_dims, ne, data, NULL, NULL);
}

lorc_status gguf_writer_add_tensor_lazy(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                                        const int64_t *ne, gguf_tensor_fill_fn fill, void *user) {
    if (!fill) return defer_fail(w, LORC_ERR_INVALID, "gguf writer: tensor '%s' has no fill function", name ? name : "");
    return add_tensor(w, name, type, n_dims, ne, NULL, fill, user);
}

/* --------------------------------------------------------------- write */

/* stdio buffer of gguf_writer_write: a multiple of 2 MB */
#define GGUF_WRITE_BUFFER ((size_t)8 << 20)

static lorc_status put(FILE *fp, const char *path, const void *p, size_t n, lorc_error *err) {
    if (n && fwrite(p, 1, n, fp) != n)
        return lorc_fail(err, LORC_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return LORC_OK;
}

static lorc_status put_pad(FILE *fp, const char *path, uint64_t pos, uint64_t alignment, lorc_error *err) {
    static const uint8_t zeros[256];
    uint64_t pad = (alignment - pos % alignment) % alignment;
    while (pad) {
        size_t n = pad > sizeof zeros ? sizeof zeros : (size_t)pad;
        lorc_status st = put(fp, path, zeros, n, err);
        if (st) return st;
        pad -= n;
    }
    return LORC_OK;
}

static lorc_status writer_alignment(const gguf_writer *w, const char *path, uint64_t *out, lorc_error *err) {
    *out = GGUF_DEFAULT_ALIGNMENT;
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, "general.alignment") != 0) continue;
        uint64_t a = 0;
        if (w->kv[i].type == GGUF_TYPE_UINT32)
            for (int b = 0; b < 4; b++) a |= (uint64_t)w->kv[i].val[b] << (8 * b);
        if (a == 0 || (a & (a - 1)) != 0)
            return lorc_fail(err, LORC_ERR_INVALID, "%s: general.alignment must be a u32 power of two", path);
        *out = a;
    }
    return LORC_OK;
}

/* Header, metadata and tensor infos, encoded in memory. */
static lorc_status encode_head(const gguf_writer *w, const char *path, bytes *h, lorc_error *err) {
    b_put(h, "GGUF", 4);
    b_uint(h, 3, 4);
    b_uint(h, w->n_t, 8);
    b_uint(h, w->n_kv, 8);
    for (size_t i = 0; i < w->n_kv; i++) {
        b_str(h, w->kv[i].key, strlen(w->kv[i].key));
        b_uint(h, (uint64_t)w->kv[i].type, 4);
        b_put(h, w->kv[i].val, w->kv[i].val_len);
    }
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        b_str(h, t->name, strlen(t->name));
        b_uint(h, t->n_dims, 4);
        for (uint32_t d = 0; d < t->n_dims; d++) b_uint(h, (uint64_t)t->ne[d], 8);
        b_uint(h, t->type, 4);
        b_uint(h, t->offset, 8);
    }
    if (h->oom) return lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory encoding the header", path);
    return LORC_OK;
}

/* Every tensor, copied or produced, is checked as encoded: the writer is the
 * one place all output passes through (policy: tensor/finite_check.h). */
static lorc_status check_finite(const wtensor *t, const void *data, const char *path, lorc_error *err) {
    size_t row_bytes = lorc_row_bytes(t->type, t->ne[0]);
    if (row_bytes == 0) return LORC_OK;
    lorc_error e;
    if (lorc_check_encoded_finite(t->type, data, t->ne[0], (int64_t)(t->nbytes / row_bytes), t->name, &e) != LORC_OK)
        return lorc_fail(err, e.status, "%s: %s; refusing to write it", path, e.message);
    return LORC_OK;
}

static lorc_status write_body(gguf_writer *w, FILE *fp, const char *path, uint64_t alignment,
                              lorc_progress_fn progress, void *progress_user, lorc_error *err) {
    uint64_t total = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        w->t[i].offset = total;
        uint64_t pad = (alignment - w->t[i].nbytes % alignment) % alignment;
        if (!lorc_add_u64(total, w->t[i].nbytes, &total) || !lorc_add_u64(total, pad, &total))
            return lorc_fail(err, LORC_ERR_INVALID, "%s: tensor data too large", path);
    }
    bytes h = {0};
    lorc_status st = encode_head(w, path, &h, err);
    if (!st) st = put(fp, path, h.p, h.len, err);
    if (!st) st = put_pad(fp, path, h.len, alignment, err);
    free(h.p);
    if (st) return st;

    void *buf = NULL;
    size_t buf_cap = 0;
    uint64_t done = 0;
    for (size_t i = 0; i < w->n_t && !st; i++) {
        wtensor *t = &w->t[i];
        const void *src = t->data;
        if (!src) {
            if (t->nbytes > buf_cap) {
                free(buf);
                buf = malloc((size_t)t->nbytes);
                buf_cap = buf ? (size_t)t->nbytes : 0;
                if (!buf) {
                    st = lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory for tensor '%s'", path, t->name);
                    break;
                }
            }
            if ((st = t->fill(t->user, buf, t->nbytes, err))) break;
            src = buf;
        }
        if (!w->allow_nonfinite && (st = check_finite(t, src, path, err))) break;
        if ((st = put(fp, path, src, (size_t)t->nbytes, err))) break;
        if ((st = put_pad(fp, path, t->nbytes, alignment, err))) break;
        done += t->nbytes + (alignment - t->nbytes % alignment) % alignment;
        if (progress) progress(progress_user, done, total);
    }
    free(buf);
    return st;
}

void gguf_writer_allow_nonfinite(gguf_writer *w) {
    if (w) w->allow_nonfinite = true;
}

lorc_status gguf_writer_write(gguf_writer *w, const char *path, lorc_progress_fn progress, void *progress_user,
                              lorc_error *err) {
    if (!w || !path) return lorc_fail(err, LORC_ERR_INVALID, "gguf writer: no writer or no path");
    if (w->deferred.status != LORC_OK)
        return lorc_fail(err, w->deferred.status, "%s: %s", path, w->deferred.message);
    uint64_t alignment;
    lorc_status st = writer_alignment(w, path, &alignment, err);
    if (st) return st;
    lorc_atomic_file af;
    if ((st = lorc_atomic_file_open(&af, path, err))) return st;
    /* Writes in whole multiples of the buffer, at file offsets that are
     * multiples of it (how stdio flushes a full buffer): the page cache
     * then holds the new file in 2 MB folios, which a model loaded right
     * after (lorc quantize, then lorc run) maps as huge pages. With stdio's
     * 4 KB buffer a 150M-parameter Q8_0 file had 35% of its mapping in
     * them. Without the memory the default buffer stays. */
    char *wbuf = malloc(GGUF_WRITE_BUFFER);
    if (wbuf && setvbuf(af.fp, wbuf, _IOFBF, GGUF_WRITE_BUFFER) != 0) {
        free(wbuf);
        wbuf = NULL;
    }
    if ((st = write_body(w, af.fp, path, alignment, progress, progress_user, err)))
        lorc_atomic_file_abort(&af);
    else
        st = lorc_atomic_file_commit(&af, err);
    free(wbuf); /* after fclose: the stream used it until then */
    return st;
}
