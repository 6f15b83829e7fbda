/* safetensors.c — validated, zero-copy reader of .safetensors files: an
 * 8-byte little-endian header length, a JSON header (parsed with jansson),
 * then the raw tensor bytes. Nothing is trusted before it is checked. */
#include "safetensors.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../base/checked.h"
#include "../base/error.h"
#include "../tensor/types.h"

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

void safetensors_close(safetensors_file *f) {
    if (!f) return;
    for (size_t i = 0; i < f->n_tensors; i++) free(f->tensors[i].name);
    free(f->tensors);
    for (size_t i = 0; i < f->n_meta; i++) {
        free(f->meta[i].key);
        free(f->meta[i].value);
    }
    free(f->meta);
    if (f->owns_map) lorc_mapped_file_close(&f->map);
    free(f->path);
    free(f);
}

/* dtype string -> lorc type id and element size; false for dtypes lorc refuses. */
static bool parse_dtype(const char *s, uint32_t *type, uint64_t *elsize) {
    if (!strcmp(s, "F32")) {
        *type = LORC_TYPE_F32;
        *elsize = 4;
    } else if (!strcmp(s, "F16")) {
        *type = LORC_TYPE_F16;
        *elsize = 2;
    } else if (!strcmp(s, "BF16")) {
        *type = LORC_TYPE_BF16;
        *elsize = 2;
    } else {
        return false;
    }
    return true;
}

/* A JSON integer in [0, max], or false. */
static bool json_u64(const json_t *v, uint64_t max, uint64_t *out) {
    if (!json_is_integer(v)) return false;
    json_int_t i = json_integer_value(v);
    if (i < 0 || (uint64_t)i > max) return false;
    *out = (uint64_t)i;
    return true;
}

/* Names end up in messages and lookups: no control bytes (JSON escapes such
 * as "\n" would otherwise split a one-line error). */
static bool name_ok(const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f) return false;
    return true;
}

static lorc_status parse_metadata(safetensors_file *f, const json_t *obj, lorc_error *err) {
    if (!json_is_object(obj)) return lorc_fail(err, LORC_ERR_FORMAT, "%s: __metadata__ is not an object", f->path);
    size_t n = json_object_size(obj);
    f->meta = calloc(n ? n : 1, sizeof *f->meta);
    if (!f->meta) return lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory", f->path);
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)obj, key, val) {
        if (!name_ok(key))
            return lorc_fail(err, LORC_ERR_FORMAT, "%s: __metadata__ key #%zu contains a control character", f->path,
                             f->n_meta);
        if (!json_is_string(val))
            return lorc_fail(err, LORC_ERR_FORMAT, "%s: __metadata__ '%s' is not a string", f->path, key);
        safetensors_meta *m = &f->meta[f->n_meta++];
        m->key = dup_str(key);
        m->value = dup_str(json_string_value(val));
        if (!m->key || !m->value) return lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory", f->path);
    }
    return LORC_OK;
}

/* Parses one tensor entry; offsets are checked against the data section size. */
static lorc_status parse_tensor(safetensors_file *f, const char *name, const json_t *obj, const uint8_t *data,
                                uint64_t data_size, uint64_t *begin_out, lorc_error *err) {
    safetensors_tensor *t = &f->tensors[f->n_tensors];
    if (!name_ok(name))
        return lorc_fail(err, LORC_ERR_FORMAT, "%s: tensor #%zu: name contains a control character", f->path,
                         f->n_tensors);
    if (!json_is_object(obj)) return lorc_fail(err, LORC_ERR_FORMAT, "%s: tensor '%s': entry is not an object", f->path, name);
    const json_t *dtype = json_object_get(obj, "dtype");
    const json_t *shape = json_object_get(obj, "shape");
    const json_t *offs = json_object_get(obj, "data_offsets");
    if (!json_is_string(dtype))
        return lorc_fail(err, LORC_ERR_FORMAT, "%s: tensor '%s': missing or non-string dtype", f->path, name);
    uint64_t elsize;
    if (!parse_dtype(json_string_value(dtype), &t->type, &elsize))
        return lorc_fail(err, LORC_ERR_UNSUPPORTED, "%s: tensor '%s': dtype %s is not supported (F32, F16, BF16 only)",
                         f->path, name, json_string_value(dtype));
    if (!json_is_array(shape))
        return lorc_fail(err, LORC_ERR_FORMAT, "%s: tensor '%s': missing or non-array shape", f->path, name);
    size_t nd = json_array_size(shape);
    if (nd > SAFETENSORS_MAX_DIMS)
        return lorc_fail(err, LORC_ERR_FORMAT, "%s: tensor '%s': %zu dims (max %d)", f->path, name, nd, SAFETENSORS_MAX_DIMS);
    uint64_t numel = 1;
    for (size_t i = 0; i < nd; i++) {
        uint64_t d;
        if (!json_u64(json_array_get(shape, i), (uint64_t)INT64_MAX, &d))
            return lorc_fail(err, LORC_ERR_FORMAT, "%s: tensor '%s': shape[%zu] is not a non-negative integer", f->path,
                             name, i);
        if (!lorc_mul_u64(numel, d, &numel) || numel > (uint64_t)INT64_MAX)
            return lorc_fail(err, LORC_ERR_FORMAT, "%s: tensor '%s': shape overflows", f->path, name);
        t->shape[i] = (int64_t)d;
    }
    t->n_dims = (int)nd;
    uint64_t nbytes;
    if (!lorc_mul_u64(numel, elsize, &nbytes))
        return lorc_fail(err, LORC_ERR_FORMAT, "%s: tensor '%s': size overflows", f->path, name);
    uint64_t b, e;
    if (!json_is_array(offs) || json_array_size(offs) != 2 || !json_u64(json_array_get(offs, 0), UINT64_MAX >> 1, &b) ||
        !json_u64(json_array_get(offs, 1), UINT64_MAX >> 1, &e))
        return lorc_fail(err, LORC_ERR_FORMAT, "%s: tensor '%s': data_offsets is not [begin, end]", f->path, name);
    if (b > e) return lorc_fail(err, LORC_ERR_FORMAT, "%s: tensor '%s': data_offsets begin %llu > end %llu", f->path,
                                name, (unsigned long long)b, (unsigned long long)e);
    if (e > data_size)
        return lorc_fail(err, LORC_ERR_FORMAT, "%s: tensor '%s': data ends at %llu, beyond the %llu data bytes (truncated?)",
                         f->path, name, (unsigned long long)e, (unsigned long long)data_size);
    if (e - b != nbytes)
        return lorc_fail(err, LORC_ERR_FORMAT, "%s: tensor '%s': %llu data bytes, but dtype and shape need %llu", f->path,
                         name, (unsigned long long)(e - b), (unsigned long long)nbytes);
    t->name = dup_str(name);
    if (!t->name) return lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory", f->path);
    t->n_elements = (int64_t)numel;
    t->nbytes = nbytes;
    t->data = data + b;
    *begin_out = b;
    f->n_tensors++;
    return LORC_OK;
}

typedef struct span {
    uint64_t begin, end;
    size_t idx;
} span;

static int span_cmp(const void *a, const void *b) {
    const span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* Sorts tensors by offset and refuses overlapping data ranges. */
static lorc_status check_overlap(safetensors_file *f, const uint64_t *begins, lorc_error *err) {
    if (f->n_tensors < 2) return LORC_OK;
    span *s = malloc(f->n_tensors * sizeof *s);
    safetensors_tensor *sorted = malloc(f->n_tensors * sizeof *sorted);
    if (!s || !sorted) {
        free(s);
        free(sorted);
        return lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory", f->path);
    }
    for (size_t i = 0; i < f->n_tensors; i++) s[i] = (span){begins[i], begins[i] + f->tensors[i].nbytes, i};
    qsort(s, f->n_tensors, sizeof *s, span_cmp);
    lorc_status st = LORC_OK;
    uint64_t prev_end = 0;
    size_t prev = 0;
    bool have_prev = false;
    for (size_t i = 0; i < f->n_tensors; i++) {
        if (s[i].begin == s[i].end) continue; /* empty tensors occupy nothing */
        if (have_prev && s[i].begin < prev_end) {
            st = lorc_fail(err, LORC_ERR_FORMAT, "%s: tensor '%s': data overlaps tensor '%s'", f->path,
                           f->tensors[s[i].idx].name, f->tensors[prev].name);
            break;
        }
        prev_end = s[i].end;
        prev = s[i].idx;
        have_prev = true;
    }
    if (st == LORC_OK) {
        for (size_t i = 0; i < f->n_tensors; i++) sorted[i] = f->tensors[s[i].idx];
        memcpy(f->tensors, sorted, f->n_tensors * sizeof *sorted);
    }
    free(s);
    free(sorted);
    return st;
}

static lorc_status parse(safetensors_file *f, lorc_error *err) {
    const uint8_t *p = f->map.data;
    size_t size = f->map.size;
    if (size < 8) return lorc_fail(err, LORC_ERR_FORMAT, "%s: truncated: %zu bytes, no header length", f->path, size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | p[i];
    if (hlen > size - 8)
        return lorc_fail(err, LORC_ERR_FORMAT, "%s: header length %llu exceeds the file size %zu (truncated?)", f->path,
                         (unsigned long long)hlen, size);
    if (hlen > SAFETENSORS_MAX_HEADER)
        return lorc_fail(err, LORC_ERR_FORMAT, "%s: header length %llu is over the 100 MB limit", f->path,
                         (unsigned long long)hlen);
    json_error_t jerr;
    json_t *root = json_loadb((const char *)p + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return lorc_fail(err, LORC_ERR_FORMAT, "%s: bad JSON header at byte %d: %s", f->path, jerr.position, jerr.text);
    lorc_status st = LORC_OK;
    uint64_t *begins = NULL;
    if (!json_is_object(root)) {
        st = lorc_fail(err, LORC_ERR_FORMAT, "%s: JSON header is not an object", f->path);
        goto out;
    }
    size_t n = json_object_size(root);
    f->tensors = calloc(n ? n : 1, sizeof *f->tensors);
    begins = calloc(n ? n : 1, sizeof *begins);
    if (!f->tensors || !begins) {
        st = lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory", f->path);
        goto out;
    }
    const uint8_t *data = p + 8 + hlen;
    uint64_t data_size = size - 8 - hlen;
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (!strcmp(key, "__metadata__")) {
            if (f->meta) {
                st = lorc_fail(err, LORC_ERR_FORMAT, "%s: duplicate __metadata__", f->path);
                goto out;
            }
            st = parse_metadata(f, val, err);
        } else {
            st = parse_tensor(f, key, val, data, data_size, &begins[f->n_tensors], err);
        }
        if (st != LORC_OK) goto out;
    }
    st = check_overlap(f, begins, err);
out:
    free(begins);
    json_decref(root);
    return st;
}

static lorc_status open_common(safetensors_file *f, safetensors_file **out, lorc_error *err) {
    lorc_status st = parse(f, err);
    if (st != LORC_OK) {
        safetensors_close(f);
        return st;
    }
    *out = f;
    return LORC_OK;
}

lorc_status safetensors_open(const char *path, safetensors_file **out, lorc_error *err) {
    *out = NULL;
    safetensors_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = dup_str(path))) {
        free(f);
        return lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory", path);
    }
    lorc_status st = lorc_mapped_file_open(&f->map, path, err);
    if (st != LORC_OK) {
        safetensors_close(f);
        return st;
    }
    f->owns_map = true;
    return open_common(f, out, err);
}

lorc_status safetensors_open_memory(const uint8_t *data, size_t size, const char *name, safetensors_file **out,
                                    lorc_error *err) {
    *out = NULL;
    safetensors_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = dup_str(name))) {
        free(f);
        return lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory", name);
    }
    f->map.data = data;
    f->map.size = size;
    return open_common(f, out, err);
}

const safetensors_tensor *safetensors_find(const safetensors_file *f, const char *name) {
    for (size_t i = 0; i < f->n_tensors; i++)
        if (!strcmp(f->tensors[i].name, name)) return &f->tensors[i];
    return NULL;
}

const char *safetensors_meta_get(const safetensors_file *f, const char *key) {
    for (size_t i = 0; i < f->n_meta; i++)
        if (!strcmp(f->meta[i].key, key)) return f->meta[i].value;
    return NULL;
}

void safetensors_to_f32(const safetensors_tensor *t, float *dst) {
    const uint8_t *src = t->data;
    for (int64_t i = 0; i < t->n_elements; i++) {
        if (t->type == LORC_TYPE_F32) {
            memcpy(&dst[i], src + 4 * i, 4); /* the data may be unaligned */
        } else {
            uint16_t h = (uint16_t)(src[2 * i] | src[2 * i + 1] << 8);
            dst[i] = t->type == LORC_TYPE_F16 ? lorc_fp16_to_fp32(h) : lorc_bf16_to_fp32(h);
        }
    }
}
