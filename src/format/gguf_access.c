/* gguf_access.c — lookups and typed getters over a parsed GGUF file.
 * Everything here reads already-validated data; nothing touches the disk. */
#include <stdlib.h>
#include <string.h>

#include "../base/error.h"
#include "gguf_internal.h"

static const gguf_name_ref *index_find(const gguf_name_ref *index, uint64_t n, const char *name) {
    uint64_t lo = 0, hi = n;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, index[mid].name);
        if (c == 0) return &index[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key) {
    const gguf_file_impl *fi = (const gguf_file_impl *)f;
    if (!f || !key || !fi->kv_index) return NULL;
    const gguf_name_ref *r = index_find(fi->kv_index, f->n_kv, key);
    return r ? &f->kv[r->idx] : NULL;
}

const gguf_tensor_info *gguf_find_tensor(const gguf_file *f, const char *name) {
    const gguf_file_impl *fi = (const gguf_file_impl *)f;
    if (!f || !name || !fi->tensor_index) return NULL;
    const gguf_name_ref *r = index_find(fi->tensor_index, f->n_tensors, name);
    return r ? &f->tensors[r->idx] : NULL;
}

static bool type_is_signed_int(gguf_value_type t) {
    return t == GGUF_TYPE_INT8 || t == GGUF_TYPE_INT16 || t == GGUF_TYPE_INT32 || t == GGUF_TYPE_INT64;
}

static bool type_is_unsigned_int(gguf_value_type t) {
    return t == GGUF_TYPE_UINT8 || t == GGUF_TYPE_UINT16 || t == GGUF_TYPE_UINT32 || t == GGUF_TYPE_UINT64;
}

static bool type_is_float(gguf_value_type t) { return t == GGUF_TYPE_FLOAT32 || t == GGUF_TYPE_FLOAT64; }

/* 0: ok, 1: missing, 2: wrong type, 3: out of range. */
static int kv_to_u32(const gguf_kv *kv, uint32_t *out) {
    if (!kv) return 1;
    if (type_is_unsigned_int(kv->type)) {
        if (kv->v.u64 > UINT32_MAX) return 3;
        *out = (uint32_t)kv->v.u64;
        return 0;
    }
    if (type_is_signed_int(kv->type)) {
        if (kv->v.i64 < 0 || kv->v.i64 > (int64_t)UINT32_MAX) return 3;
        *out = (uint32_t)kv->v.i64;
        return 0;
    }
    return 2;
}

lorc_status gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, lorc_error *err) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    switch (kv_to_u32(kv, out)) {
    case 0: return LORC_OK;
    case 1: return lorc_fail(err, LORC_ERR_FORMAT, "%s: missing key '%s'", f->path, key);
    case 2:
        return lorc_fail(err, LORC_ERR_FORMAT, "%s: key '%s' has type %s (expected an integer)", f->path, key,
                         gguf_value_type_name(kv->type));
    default:
        if (type_is_signed_int(kv->type))
            return lorc_fail(err, LORC_ERR_FORMAT, "%s: key '%s' is %lld (expected 0..4294967295)", f->path, key,
                             (long long)kv->v.i64);
        return lorc_fail(err, LORC_ERR_FORMAT, "%s: key '%s' is %llu (expected 0..4294967295)", f->path, key,
                         (unsigned long long)kv->v.u64);
    }
}

uint32_t gguf_get_u32_or(const gguf_file *f, const char *key, uint32_t def) {
    uint32_t v;
    return kv_to_u32(gguf_find_kv(f, key), &v) == 0 ? v : def;
}

lorc_status gguf_get_f32(const gguf_file *f, const char *key, float *out, lorc_error *err) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return lorc_fail(err, LORC_ERR_FORMAT, "%s: missing key '%s'", f->path, key);
    if (!type_is_float(kv->type))
        return lorc_fail(err, LORC_ERR_FORMAT, "%s: key '%s' has type %s (expected a float)", f->path, key,
                         gguf_value_type_name(kv->type));
    *out = (float)kv->v.f64;
    return LORC_OK;
}

float gguf_get_f32_or(const gguf_file *f, const char *key, float def) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    return kv && type_is_float(kv->type) ? (float)kv->v.f64 : def;
}

bool gguf_get_bool_or(const gguf_file *f, const char *key, bool def) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    return kv && kv->type == GGUF_TYPE_BOOL ? kv->v.b : def;
}

bool gguf_get_u64_if(const gguf_file *f, const char *key, uint64_t *out) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return false;
    if (type_is_unsigned_int(kv->type)) {
        *out = kv->v.u64;
        return true;
    }
    if (type_is_signed_int(kv->type) && kv->v.i64 >= 0) {
        *out = (uint64_t)kv->v.i64;
        return true;
    }
    return false;
}

bool gguf_str_has_nul(const gguf_file *f, const char *key) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    return kv && kv->type == GGUF_TYPE_STRING && kv->str.len && memchr(kv->str.ptr, 0, (size_t)kv->str.len) != NULL;
}

char *gguf_get_str_dup(const gguf_file *f, const char *key) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv || kv->type != GGUF_TYPE_STRING) return NULL;
    char *s = malloc((size_t)kv->str.len + 1);
    if (!s) return NULL;
    if (kv->str.len) memcpy(s, kv->str.ptr, (size_t)kv->str.len);
    s[kv->str.len] = 0;
    return s;
}

bool gguf_str_eq(const gguf_file *f, const char *key, const char *s) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv || kv->type != GGUF_TYPE_STRING) return false;
    size_t n = strlen(s);
    return kv->str.len == n && (n == 0 || memcmp(kv->str.ptr, s, n) == 0);
}

/* Element i of a fixed-size array as raw little-endian bits. */
static uint64_t arr_bits(const gguf_kv *kv, uint64_t i, size_t n) {
    const uint8_t *p = kv->arr_data + i * n;
    uint64_t u = 0;
    for (size_t b = 0; b < n; b++) u |= (uint64_t)p[b] << (8 * b);
    return u;
}

double gguf_arr_get_f64(const gguf_kv *kv, uint64_t i) {
    if (!kv || kv->type != GGUF_TYPE_ARRAY || !kv->arr_data || i >= kv->arr_len) return 0.0;
    size_t n = gguf_value_type_size(kv->arr_type);
    uint64_t u = arr_bits(kv, i, n);
    switch (kv->arr_type) {
    case GGUF_TYPE_FLOAT32: {
        uint32_t b = (uint32_t)u;
        float x;
        memcpy(&x, &b, 4);
        return x;
    }
    case GGUF_TYPE_FLOAT64: {
        double x;
        memcpy(&x, &u, 8);
        return x;
    }
    case GGUF_TYPE_INT8: return (int8_t)(uint8_t)u;
    case GGUF_TYPE_INT16: return (int16_t)(uint16_t)u;
    case GGUF_TYPE_INT32: return (int32_t)(uint32_t)u;
    case GGUF_TYPE_INT64: return (double)(int64_t)u;
    default: return (double)u;
    }
}

int64_t gguf_arr_get_i64(const gguf_kv *kv, uint64_t i) {
    if (!kv || kv->type != GGUF_TYPE_ARRAY || !kv->arr_data || i >= kv->arr_len) return 0;
    if (type_is_float(kv->arr_type)) {
        double x = gguf_arr_get_f64(kv, i);
        /* saturate instead of the undefined out-of-range conversion */
        if (!(x == x)) return 0;
        if (x >= 9.2233720368547758e18) return INT64_MAX;
        if (x <= -9.2233720368547758e18) return INT64_MIN;
        return (int64_t)x;
    }
    size_t n = gguf_value_type_size(kv->arr_type);
    uint64_t u = arr_bits(kv, i, n);
    switch (kv->arr_type) {
    case GGUF_TYPE_INT8: return (int8_t)(uint8_t)u;
    case GGUF_TYPE_INT16: return (int16_t)(uint16_t)u;
    case GGUF_TYPE_INT32: return (int32_t)(uint32_t)u;
    default: return (int64_t)u; /* unsigned and INT64: bits as-is */
    }
}

const char *gguf_value_type_name(gguf_value_type t) {
    static const char *const names[GGUF_TYPE_COUNT] = {"u8",   "i8",     "u16",   "i16", "u32",
                                                       "i32",  "f32",    "bool",  "str", "array",
                                                       "u64",  "i64",    "f64"};
    return (unsigned)t < GGUF_TYPE_COUNT ? names[t] : "invalid";
}
