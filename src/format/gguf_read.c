/* gguf_read.c — parses and validates a GGUF v2/v3 file (header, metadata,
 * tensor infos) against its size; tensor data stays in the mapping. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/checked.h"
#include "../base/error.h"
#include "../tensor/types.h"
#include "gguf_internal.h"

/* Smallest possible encodings, used to refuse counts that cannot fit in the
 * bytes left: a kv is key length (8) + 1 key byte + type (4) + a 1-byte
 * value; a tensor info is name length (8) + 1 name byte + n_dims (4) + one
 * dim (8) + type (4) + offset (8). */
#define GGUF_MIN_KV_BYTES 14u
#define GGUF_MIN_TENSOR_INFO_BYTES 33u

typedef struct reader {
    const uint8_t *data;
    uint64_t size;
    uint64_t pos;
    uint64_t field; /* start of the field read last: where messages point */
    const char *path;
    lorc_error *err;
    bool str_len_read; /* after a failed rd_str: whether its length was read */
    uint64_t str_len;  /* ... and its value */
} reader;

static uint64_t remaining(const reader *r) { return r->size - r->pos; }

static bool rd_u32(reader *r, uint32_t *out) {
    r->field = r->pos;
    if (remaining(r) < 4) return false;
    const uint8_t *p = r->data + r->pos;
    *out = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    r->pos += 4;
    return true;
}

static bool rd_u64(reader *r, uint64_t *out) {
    uint32_t lo = 0, hi = 0;
    uint64_t start = r->pos;
    if (remaining(r) < 8) {
        r->field = start;
        return false;
    }
    rd_u32(r, &lo);
    rd_u32(r, &hi);
    r->field = start;
    *out = (uint64_t)hi << 32 | lo;
    return true;
}

/* A length-prefixed string; false when the length or the bytes are cut off. */
static bool rd_str(reader *r, gguf_string *s) {
    uint64_t len;
    r->str_len_read = false;
    if (!rd_u64(r, &len)) return false;
    r->str_len_read = true;
    r->str_len = len;
    if (len > remaining(r)) return false;
    s->ptr = (const char *)(r->data + r->pos);
    s->len = len;
    r->pos += len;
    return true;
}

/* Why the last rd_str failed, for messages: "truncated" or "length N
 * exceeds the M bytes left". */
static const char *str_problem(const reader *r, char *buf, size_t cap) {
    if (!r->str_len_read) return "truncated";
    snprintf(buf, cap, "length %llu exceeds the %llu bytes left", (unsigned long long)r->str_len,
             (unsigned long long)remaining(r));
    return buf;
}

/* "<path>: <message> (at byte N)" for a field that runs past the end. */
static lorc_status fail_at(reader *r, const char *fmt, ...) LORC_PRINTF(2, 3);
static lorc_status fail_at(reader *r, const char *fmt, ...) {
    char what[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return lorc_fail(r->err, LORC_ERR_FORMAT, "%s: %s (at byte %llu of %llu)", r->path, what,
                     (unsigned long long)r->field, (unsigned long long)r->size);
}

size_t gguf_value_type_size(gguf_value_type t) {
    switch (t) {
    case GGUF_TYPE_UINT8:
    case GGUF_TYPE_INT8:
    case GGUF_TYPE_BOOL: return 1;
    case GGUF_TYPE_UINT16:
    case GGUF_TYPE_INT16: return 2;
    case GGUF_TYPE_UINT32:
    case GGUF_TYPE_INT32:
    case GGUF_TYPE_FLOAT32: return 4;
    case GGUF_TYPE_UINT64:
    case GGUF_TYPE_INT64:
    case GGUF_TYPE_FLOAT64: return 8;
    default: return 0;
    }
}

/* Makes room for element `i` in an array that starts small and doubles up
 * to `limit` elements: memory follows the entries actually present in the
 * file, never a count it merely claims. New elements are zeroed. */
static bool grow(void **arr, uint64_t *cap, uint64_t i, uint64_t limit, size_t elem) {
    if (i < *cap) return true;
    uint64_t ncap = *cap ? *cap * 2 : 64;
    if (ncap > limit) ncap = limit;
    if (ncap <= i || ncap > SIZE_MAX / elem) return false;
    void *p = realloc(*arr, (size_t)ncap * elem);
    if (!p) return false;
    memset((char *)p + (size_t)*cap * elem, 0, (size_t)(ncap - *cap) * elem);
    *arr = p;
    *cap = ncap;
    return true;
}

/* Reads a name (key or tensor name): non-empty, printable, copied. */
static lorc_status rd_name(reader *r, const char *kind, uint64_t i, char **out) {
    gguf_string s;
    char why[96];
    if (!rd_str(r, &s))
        return fail_at(r, "%s #%llu: name %s", kind, (unsigned long long)i, str_problem(r, why, sizeof why));
    if (s.len == 0) return fail_at(r, "%s #%llu has an empty name", kind, (unsigned long long)i);
    /* names end up in messages and lookups: no NUL, no control bytes */
    for (uint64_t k = 0; k < s.len; k++) {
        unsigned char c = (unsigned char)s.ptr[k];
        if (c < 0x20 || c == 0x7f)
            return fail_at(r, "%s #%llu: name contains %s byte 0x%02x", kind, (unsigned long long)i,
                           c ? "a control" : "a NUL", c);
    }
    char *name = malloc((size_t)s.len + 1);
    if (!name) return lorc_fail(r->err, LORC_ERR_NOMEM, "%s: out of memory", r->path);
    memcpy(name, s.ptr, (size_t)s.len);
    name[s.len] = 0;
    *out = name;
    return LORC_OK;
}

/* Decodes one fixed-size little-endian scalar of type t at p into kv->v. */
static void decode_scalar(gguf_kv *kv, gguf_value_type t, const uint8_t *p) {
    uint64_t u = 0;
    size_t n = gguf_value_type_size(t);
    for (size_t i = 0; i < n; i++) u |= (uint64_t)p[i] << (8 * i);
    switch (t) {
    case GGUF_TYPE_INT8: kv->v.i64 = (int8_t)(uint8_t)u; break;
    case GGUF_TYPE_INT16: kv->v.i64 = (int16_t)(uint16_t)u; break;
    case GGUF_TYPE_INT32: kv->v.i64 = (int32_t)(uint32_t)u; break;
    case GGUF_TYPE_INT64: kv->v.i64 = (int64_t)u; break;
    case GGUF_TYPE_FLOAT32: {
        uint32_t b = (uint32_t)u;
        float x;
        memcpy(&x, &b, 4);
        kv->v.f64 = x;
        break;
    }
    case GGUF_TYPE_FLOAT64: memcpy(&kv->v.f64, &u, 8); break;
    case GGUF_TYPE_BOOL: kv->v.b = u != 0; break;
    default: kv->v.u64 = u; break;
    }
}

static lorc_status parse_array(reader *r, gguf_kv *kv) {
    uint32_t et;
    if (!rd_u32(r, &et)) return fail_at(r, "key '%s': array element type truncated", kv->key);
    if (et >= GGUF_TYPE_COUNT) return fail_at(r, "key '%s': invalid array element type %u", kv->key, et);
    if (et == GGUF_TYPE_ARRAY)
        return fail_at(r, "key '%s' is an array of arrays, which lorc does not support", kv->key);
    kv->arr_type = (gguf_value_type)et;
    uint64_t n;
    if (!rd_u64(r, &n)) return fail_at(r, "key '%s': array length truncated", kv->key);
    kv->arr_len = n;
    if (et == GGUF_TYPE_STRING) {
        /* every string takes at least its 8-byte length */
        if (n > remaining(r) / 8)
            return fail_at(r, "key '%s': array of %llu strings does not fit in the %llu bytes left", kv->key,
                           (unsigned long long)n, (unsigned long long)remaining(r));
        char why[96];
        uint64_t cap = 0;
        void *strs = NULL;
        if (n == 0 && !grow(&strs, &cap, 0, 1, sizeof *kv->arr_strs))
            return lorc_fail(r->err, LORC_ERR_NOMEM, "%s: out of memory", r->path);
        kv->arr_strs = strs;
        for (uint64_t i = 0; i < n; i++) {
            if (!grow(&strs, &cap, i, n, sizeof *kv->arr_strs))
                return lorc_fail(r->err, LORC_ERR_NOMEM, "%s: out of memory reading key '%s'", r->path, kv->key);
            kv->arr_strs = strs;
            if (!rd_str(r, &kv->arr_strs[i]))
                return fail_at(r, "key '%s': string %llu of %llu: %s", kv->key, (unsigned long long)i,
                               (unsigned long long)n, str_problem(r, why, sizeof why));
        }
        return LORC_OK;
    }
    uint64_t esz = gguf_value_type_size(kv->arr_type), bytes;
    if (!lorc_mul_u64(n, esz, &bytes) || bytes > remaining(r))
        return fail_at(r, "key '%s': array of %llu %s values does not fit in the %llu bytes left", kv->key,
                       (unsigned long long)n, gguf_value_type_name(kv->arr_type), (unsigned long long)remaining(r));
    kv->arr_data = r->data + r->pos;
    if (kv->arr_type == GGUF_TYPE_BOOL)
        for (uint64_t i = 0; i < n; i++) {
            if (kv->arr_data[i] > 1) {
                r->field = r->pos + i;
                return fail_at(r, "key '%s': element %llu is not a valid bool (%u)", kv->key, (unsigned long long)i,
                               kv->arr_data[i]);
            }
        }
    r->pos += bytes;
    return LORC_OK;
}

static lorc_status parse_kv(reader *r, uint64_t i, gguf_kv *kv) {
    lorc_status st = rd_name(r, "metadata entry", i, &kv->key);
    if (st) return st;
    uint32_t t;
    if (!rd_u32(r, &t)) return fail_at(r, "key '%s': value type truncated", kv->key);
    if (t >= GGUF_TYPE_COUNT) return fail_at(r, "key '%s' has invalid value type %u", kv->key, t);
    kv->type = (gguf_value_type)t;
    if (kv->type == GGUF_TYPE_STRING) {
        char why[96];
        if (!rd_str(r, &kv->str))
            return fail_at(r, "key '%s': string value %s", kv->key, str_problem(r, why, sizeof why));
        return LORC_OK;
    }
    if (kv->type == GGUF_TYPE_ARRAY) return parse_array(r, kv);
    size_t n = gguf_value_type_size(kv->type);
    if (remaining(r) < n) return fail_at(r, "key '%s': %s value truncated", kv->key, gguf_value_type_name(kv->type));
    const uint8_t *p = r->data + r->pos;
    r->field = r->pos;
    if (kv->type == GGUF_TYPE_BOOL && p[0] > 1)
        return fail_at(r, "key '%s' is not a valid bool (%u)", kv->key, p[0]);
    decode_scalar(kv, kv->type, p);
    r->pos += n;
    return LORC_OK;
}

static lorc_status parse_tensor_info(reader *r, uint64_t i, uint64_t alignment, gguf_tensor_info *ti) {
    lorc_status st = rd_name(r, "tensor", i, &ti->name);
    if (st) return st;
    if (!rd_u32(r, &ti->n_dims)) return fail_at(r, "tensor '%s': n_dims truncated", ti->name);
    if (ti->n_dims < 1 || ti->n_dims > GGUF_MAX_DIMS)
        return fail_at(r, "tensor '%s' has %u dimensions (expected 1 to %d)", ti->name, ti->n_dims, GGUF_MAX_DIMS);
    uint64_t n_el = 1;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) ti->ne[d] = 1;
    for (uint32_t d = 0; d < ti->n_dims; d++) {
        uint64_t ne;
        if (!rd_u64(r, &ne)) return fail_at(r, "tensor '%s': dimension %u truncated", ti->name, d);
        if (ne == 0) return fail_at(r, "tensor '%s': dimension %u is 0", ti->name, d);
        if (ne > (uint64_t)INT64_MAX || !lorc_mul_u64(n_el, ne, &n_el) || n_el > (uint64_t)INT64_MAX)
            return fail_at(r, "tensor '%s': dimension %u (%llu) makes the element count overflow", ti->name, d,
                           (unsigned long long)ne);
        ti->ne[d] = (int64_t)ne;
    }
    if (!rd_u32(r, &ti->type)) return fail_at(r, "tensor '%s': type truncated", ti->name);
    const lorc_type_info *info = lorc_type_get(ti->type);
    if (!info) return fail_at(r, "tensor '%s' has unknown type id %u", ti->name, ti->type);
    if (!info->to_float)
        return lorc_fail(r->err, LORC_ERR_UNSUPPORTED, "%s: tensor '%s' has type %s, which lorc does not support",
                         r->path, ti->name, lorc_type_name(ti->type));
    if (ti->ne[0] % info->block_size != 0)
        return fail_at(r, "tensor '%s': row length %lld is not a multiple of the %s block size %lld", ti->name,
                       (long long)ti->ne[0], info->name, (long long)info->block_size);
    uint64_t rows = n_el / (uint64_t)ti->ne[0];
    uint64_t row_bytes;
    if (!lorc_mul_u64((uint64_t)(ti->ne[0] / info->block_size), info->block_bytes, &row_bytes) ||
        !lorc_mul_u64(row_bytes, rows, &ti->nbytes))
        return fail_at(r, "tensor '%s': byte size overflows", ti->name);
    if (!rd_u64(r, &ti->offset)) return fail_at(r, "tensor '%s': data offset truncated", ti->name);
    if (ti->offset % alignment != 0)
        return fail_at(r, "tensor '%s': data offset %llu is not a multiple of the alignment %llu", ti->name,
                       (unsigned long long)ti->offset, (unsigned long long)alignment);
    return LORC_OK;
}

static int cmp_name_ref(const void *a, const void *b) {
    return strcmp(((const gguf_name_ref *)a)->name, ((const gguf_name_ref *)b)->name);
}

/* Sorts names into an index; returns the first duplicated name, or NULL. */
static const char *build_index(gguf_name_ref *index, uint64_t n) {
    if (n > 1) qsort(index, (size_t)n, sizeof *index, cmp_name_ref);
    for (uint64_t i = 1; i < n; i++)
        if (!strcmp(index[i - 1].name, index[i].name)) return index[i].name;
    return NULL;
}

static lorc_status read_alignment(reader *r, gguf_file_impl *fi) {
    gguf_file *f = &fi->pub;
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    const gguf_kv *kv = gguf_find_kv(f, "general.alignment");
    if (!kv) return LORC_OK;
    if (kv->type != GGUF_TYPE_UINT32)
        return lorc_fail(r->err, LORC_ERR_FORMAT, "%s: key 'general.alignment' has type %s (expected u32)", r->path,
                         gguf_value_type_name(kv->type));
    uint64_t a = kv->v.u64;
    if (a == 0 || (a & (a - 1)) != 0)
        return lorc_fail(r->err, LORC_ERR_FORMAT, "%s: general.alignment is %llu (must be a non-zero power of two)",
                         r->path, (unsigned long long)a);
    f->alignment = a;
    return LORC_OK;
}

static lorc_status parse_header(reader *r, gguf_file *f, uint64_t *out_n_kv, uint64_t *out_n_tensors) {
    if (r->size < 4 || memcmp(r->data, "GGUF", 4) != 0) {
        if (r->size < 4)
            return lorc_fail(r->err, LORC_ERR_FORMAT, "%s: not a GGUF file (only %llu bytes)", r->path,
                             (unsigned long long)r->size);
        return lorc_fail(r->err, LORC_ERR_FORMAT, "%s: not a GGUF file (bad magic %02x %02x %02x %02x)", r->path,
                         r->data[0], r->data[1], r->data[2], r->data[3]);
    }
    r->pos = 4;
    if (!rd_u32(r, &f->version)) return fail_at(r, "header truncated in the version");
    if (f->version == 1)
        return lorc_fail(r->err, LORC_ERR_UNSUPPORTED, "%s: GGUF version 1 is not supported (only 2 and 3)", r->path);
    if (f->version != 2 && f->version != 3)
        return lorc_fail(r->err, LORC_ERR_FORMAT, "%s: unsupported GGUF version %u (expected 2 or 3%s)", r->path,
                         f->version, f->version && (f->version & 0xffff) == 0 ? "; big-endian file?" : "");
    uint64_t n_tensors = 0, n_kv = 0;
    if (!rd_u64(r, &n_tensors)) return fail_at(r, "header truncated in the tensor count");
    if (!rd_u64(r, &n_kv)) return fail_at(r, "header truncated in the metadata count");
    uint64_t left = remaining(r);
    if (n_kv > left / GGUF_MIN_KV_BYTES)
        return lorc_fail(r->err, LORC_ERR_FORMAT,
                         "%s: metadata count %llu cannot fit in the %llu bytes left (truncated or corrupt header)",
                         r->path, (unsigned long long)n_kv, (unsigned long long)left);
    left -= n_kv * GGUF_MIN_KV_BYTES;
    if (n_tensors > left / GGUF_MIN_TENSOR_INFO_BYTES)
        return lorc_fail(r->err, LORC_ERR_FORMAT,
                         "%s: tensor count %llu cannot fit in the %llu bytes left (truncated or corrupt header)",
                         r->path, (unsigned long long)n_tensors, (unsigned long long)left);
    *out_n_kv = n_kv;
    *out_n_tensors = n_tensors;
    return LORC_OK;
}

static lorc_status parse(reader *r, gguf_file_impl *fi) {
    gguf_file *f = &fi->pub;
    uint64_t n_kv = 0, n_tensors = 0;
    lorc_status st = parse_header(r, f, &n_kv, &n_tensors);
    if (st) return st;
    f->alignment = GGUF_DEFAULT_ALIGNMENT;

    /* f->n_kv / f->n_tensors count the entries parsed so far, so that
     * gguf_close frees exactly those after a failure half-way */

    uint64_t cap = 0;
    for (uint64_t i = 0; i < n_kv; i++) {
        void *arr = f->kv;
        if (!grow(&arr, &cap, i, n_kv, sizeof *f->kv))
            return lorc_fail(r->err, LORC_ERR_NOMEM, "%s: out of memory", r->path);
        f->kv = arr;
        f->n_kv = i + 1;
        if ((st = parse_kv(r, i, &f->kv[i]))) return st;
    }
    fi->kv_index = malloc((n_kv ? (size_t)n_kv : 1) * sizeof *fi->kv_index);
    if (!fi->kv_index) return lorc_fail(r->err, LORC_ERR_NOMEM, "%s: out of memory", r->path);
    for (uint64_t i = 0; i < n_kv; i++) fi->kv_index[i] = (gguf_name_ref){f->kv[i].key, i};
    const char *dup = build_index(fi->kv_index, n_kv);
    if (dup) return lorc_fail(r->err, LORC_ERR_FORMAT, "%s: duplicate key '%s'", r->path, dup);
    if ((st = read_alignment(r, fi))) return st;

    cap = 0;
    for (uint64_t i = 0; i < n_tensors; i++) {
        void *arr = f->tensors;
        if (!grow(&arr, &cap, i, n_tensors, sizeof *f->tensors))
            return lorc_fail(r->err, LORC_ERR_NOMEM, "%s: out of memory", r->path);
        f->tensors = arr;
        f->n_tensors = i + 1;
        if ((st = parse_tensor_info(r, i, f->alignment, &f->tensors[i]))) return st;
    }
    fi->tensor_index = malloc((n_tensors ? (size_t)n_tensors : 1) * sizeof *fi->tensor_index);
    if (!fi->tensor_index) return lorc_fail(r->err, LORC_ERR_NOMEM, "%s: out of memory", r->path);
    for (uint64_t i = 0; i < n_tensors; i++) fi->tensor_index[i] = (gguf_name_ref){f->tensors[i].name, i};
    dup = build_index(fi->tensor_index, n_tensors);
    if (dup) return lorc_fail(r->err, LORC_ERR_FORMAT, "%s: duplicate tensor name '%s'", r->path, dup);

    /* the data section starts at the next multiple of the alignment; a file
     * without tensors (vocab only) may end before it */
    uint64_t pad = (f->alignment - r->pos % f->alignment) % f->alignment;
    if (!lorc_add_u64(r->pos, pad, &f->data_offset))
        return lorc_fail(r->err, LORC_ERR_FORMAT, "%s: data section offset overflows", r->path);
    if (n_tensors == 0) return LORC_OK;
    if (f->data_offset > r->size)
        return lorc_fail(r->err, LORC_ERR_FORMAT, "%s: truncated: the tensor data section (at byte %llu) is missing",
                         r->path, (unsigned long long)f->data_offset);
    uint64_t data_size = r->size - f->data_offset;
    for (uint64_t i = 0; i < n_tensors; i++) {
        gguf_tensor_info *ti = &f->tensors[i];
        uint64_t end;
        if (!lorc_add_u64(ti->offset, ti->nbytes, &end) || end > data_size)
            return lorc_fail(r->err, LORC_ERR_FORMAT,
                             "%s: tensor '%s' data (offset %llu, %llu bytes) lies beyond the end of the file "
                             "(the data section holds %llu bytes)",
                             r->path, ti->name, (unsigned long long)ti->offset, (unsigned long long)ti->nbytes,
                             (unsigned long long)data_size);
        ti->data = r->data + f->data_offset + ti->offset;
        /* kernels read F32 values and fp16 block scales in place: a tiny
         * general.alignment (1 or 2) must not hand them misaligned data */
        size_t bb = lorc_type_get(ti->type)->block_bytes;
        uintptr_t need = bb % 4 == 0 ? 4 : bb % 2 == 0 ? 2 : 1;
        if ((uintptr_t)ti->data % need != 0)
            return lorc_fail(r->err, LORC_ERR_UNSUPPORTED,
                             "%s: tensor '%s' data (file byte %llu) is not %u-byte aligned (general.alignment %llu)",
                             r->path, ti->name, (unsigned long long)(f->data_offset + ti->offset), (unsigned)need,
                             (unsigned long long)f->alignment);
    }
    return LORC_OK;
}

static lorc_status open_common(gguf_file_impl *fi, lorc_error *err) {
    gguf_file *f = &fi->pub;
    reader r = {f->map.data, f->map.size, 0, 0, f->path, err, false, 0};
    return parse(&r, fi);
}

static gguf_file_impl *impl_new(const char *name, lorc_error *err) {
    gguf_file_impl *fi = calloc(1, sizeof *fi);
    char *path = strdup(name ? name : "(memory)");
    if (!fi || !path) {
        free(fi);
        free(path);
        lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory", name ? name : "(memory)");
        return NULL;
    }
    fi->pub.path = path;
    return fi;
}

lorc_status gguf_open(const char *path, gguf_file **out, lorc_error *err) {
    *out = NULL;
    gguf_file_impl *fi = impl_new(path, err);
    if (!fi) return LORC_ERR_NOMEM;
    lorc_status st = lorc_mapped_file_open(&fi->pub.map, path, err);
    if (st) {
        gguf_close(&fi->pub);
        return st;
    }
    fi->owns_map = true;
    if ((st = open_common(fi, err))) {
        gguf_close(&fi->pub);
        return st;
    }
    *out = &fi->pub;
    return LORC_OK;
}

lorc_status gguf_open_memory(const uint8_t *data, size_t size, const char *name, gguf_file **out,
                             lorc_error *err) {
    *out = NULL;
    gguf_file_impl *fi = impl_new(name, err);
    if (!fi) return LORC_ERR_NOMEM;
    fi->pub.map.data = data;
    fi->pub.map.size = data ? size : 0;
    lorc_status st = open_common(fi, err);
    if (st) {
        gguf_close(&fi->pub);
        return st;
    }
    *out = &fi->pub;
    return LORC_OK;
}

void gguf_close(gguf_file *f) {
    if (!f) return;
    gguf_file_impl *fi = (gguf_file_impl *)f;
    for (uint64_t i = 0; i < f->n_kv; i++) {
        free(f->kv[i].key);
        free(f->kv[i].arr_strs);
    }
    for (uint64_t i = 0; i < f->n_tensors; i++) free(f->tensors[i].name);
    free(f->kv);
    free(f->tensors);
    free(fi->kv_index);
    free(fi->tensor_index);
    if (fi->owns_map) lorc_mapped_file_close(&f->map);
    free(f->path);
    free(fi);
}
