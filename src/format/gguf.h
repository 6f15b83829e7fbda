/* gguf.h — GGUF v2/v3 reader (validated, zero-copy) and writer (atomic).
 * The reader checks every count, length, dim, offset and type against the
 * file before anything uses it; tensor data is returned as pointers into
 * the mmap'd file. It knows nothing about models: see src/model. */
#ifndef LORC_FORMAT_GGUF_H
#define LORC_FORMAT_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../base/atomic_file.h"
#include "../base/mapped_file.h"
#include "lorc.h"

#define GGUF_MAX_DIMS 4
#define GGUF_DEFAULT_ALIGNMENT 32

typedef enum gguf_value_type {
    GGUF_TYPE_UINT8 = 0,
    GGUF_TYPE_INT8 = 1,
    GGUF_TYPE_UINT16 = 2,
    GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4,
    GGUF_TYPE_INT32 = 5,
    GGUF_TYPE_FLOAT32 = 6,
    GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8,
    GGUF_TYPE_ARRAY = 9,
    GGUF_TYPE_UINT64 = 10,
    GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
    GGUF_TYPE_COUNT
} gguf_value_type;

/* A string inside the mapping: NOT NUL-terminated. */
typedef struct gguf_string {
    const char *ptr; /* borrowed (points into the mapping) */
    uint64_t len;
} gguf_string;

typedef struct gguf_kv {
    char *key;            /* owned, NUL-terminated */
    gguf_value_type type; /* scalar type, STRING, or ARRAY */
    union {               /* scalars, widened: ints to i64/u64, floats to f64 */
        uint64_t u64;
        int64_t i64;
        double f64;
        bool b;
    } v;
    gguf_string str;           /* type == STRING */
    gguf_value_type arr_type;  /* type == ARRAY: element type (never ARRAY: nested arrays are refused) */
    uint64_t arr_len;          /* type == ARRAY: element count */
    const uint8_t *arr_data;   /* ARRAY of fixed-size elements: borrowed, little-endian, unaligned */
    gguf_string *arr_strs;     /* ARRAY of STRING: owned index of borrowed strings */
} gguf_kv;

typedef struct gguf_tensor_info {
    char *name;                /* owned, NUL-terminated */
    uint32_t n_dims;           /* 1..4 */
    int64_t ne[GGUF_MAX_DIMS]; /* ne[0] is the contiguous (row) length; unused dims are 1 */
    uint32_t type;             /* ggml type id (see tensor/types.h); known to lorc */
    uint64_t offset;           /* relative to the start of the data section */
    uint64_t nbytes;           /* size computed from type and dims */
    const void *data;          /* borrowed: points into the mapping */
} gguf_tensor_info;

typedef struct gguf_file {
    char *path; /* owned copy, used in messages */
    lorc_mapped_file map;
    uint32_t version;
    uint64_t alignment;
    uint64_t data_offset; /* file offset of the tensor data section */
    uint64_t n_kv;
    gguf_kv *kv; /* owned array */
    uint64_t n_tensors;
    gguf_tensor_info *tensors; /* owned array, in file order */
} gguf_file;

/* Opens and fully validates `path`. Errors read "<path>: <what is wrong>". */
lorc_status gguf_open(const char *path, gguf_file **out, lorc_error *err);
/* Same, over bytes already in memory (fuzzing, tests); `data` must outlive the result. */
lorc_status gguf_open_memory(const uint8_t *data, size_t size, const char *name, gguf_file **out,
                             lorc_error *err);
void gguf_close(gguf_file *f);

const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key);
const gguf_tensor_info *gguf_find_tensor(const gguf_file *f, const char *name);

/* Typed getters. Missing key: return LORC_ERR_FORMAT with "<path>: missing
 * key 'k'" unless the *_or variant supplies a default. Any integer type that
 * fits is accepted for integer getters; F32/F64 for float getters. */
lorc_status gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, lorc_error *err);
uint32_t gguf_get_u32_or(const gguf_file *f, const char *key, uint32_t def);
lorc_status gguf_get_f32(const gguf_file *f, const char *key, float *out, lorc_error *err);
float gguf_get_f32_or(const gguf_file *f, const char *key, float def);
bool gguf_get_bool_or(const gguf_file *f, const char *key, bool def);
/* The value of an integer-typed key (any width or signedness) that is >= 0.
 * False when the key is missing, negative, or of another type — a float
 * included: its bits are not a count. */
bool gguf_get_u64_if(const gguf_file *f, const char *key, uint64_t *out);
/* Returns a malloc'd NUL-terminated copy, or NULL when absent / not a string. */
char *gguf_get_str_dup(const gguf_file *f, const char *key);
/* True when the key is a string holding a NUL byte: as a C string it would
 * read as a shorter, different value ("adapter\0x" as "adapter"). */
bool gguf_str_has_nul(const gguf_file *f, const char *key);
/* True when the key is a string equal to `s`. */
bool gguf_str_eq(const gguf_file *f, const char *key, const char *s);

/* Reads element i of a numeric array kv as double (any numeric type). */
double gguf_arr_get_f64(const gguf_kv *kv, uint64_t i);
int64_t gguf_arr_get_i64(const gguf_kv *kv, uint64_t i);

const char *gguf_value_type_name(gguf_value_type t);
/* Bytes of one value of a fixed-size type; 0 for STRING, ARRAY and invalid ids. */
size_t gguf_value_type_size(gguf_value_type t);

/* ------------------------------------------------------------- writer */

typedef struct gguf_writer gguf_writer;

/* Produces a tensor's bytes at write time, so big outputs (quantize, merge)
 * are streamed one tensor at a time: fill `dst` with exactly `nbytes`. */
typedef lorc_status (*gguf_tensor_fill_fn)(void *user, void *dst, uint64_t nbytes, lorc_error *err);

gguf_writer *gguf_writer_new(void); /* NULL on OOM */
void gguf_writer_free(gguf_writer *w);

/* Setting an existing key replaces its value (keys keep first-set order). */
lorc_status gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v);
lorc_status gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v);
lorc_status gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v);
lorc_status gguf_writer_set_f32(gguf_writer *w, const char *key, float v);
lorc_status gguf_writer_set_bool(gguf_writer *w, const char *key, bool v);
lorc_status gguf_writer_set_str(gguf_writer *w, const char *key, const char *v);
/* The remaining scalar types (added for completeness: round trips, copies). */
lorc_status gguf_writer_set_u8(gguf_writer *w, const char *key, uint8_t v);
lorc_status gguf_writer_set_i8(gguf_writer *w, const char *key, int8_t v);
lorc_status gguf_writer_set_u16(gguf_writer *w, const char *key, uint16_t v);
lorc_status gguf_writer_set_i16(gguf_writer *w, const char *key, int16_t v);
lorc_status gguf_writer_set_i64(gguf_writer *w, const char *key, int64_t v);
lorc_status gguf_writer_set_f64(gguf_writer *w, const char *key, double v);
/* A string of `len` bytes (may hold any bytes, including NUL). */
lorc_status gguf_writer_set_strn(gguf_writer *w, const char *key, const char *v, size_t len);
/* Array of fixed-size elements (n elements of elem_type, little-endian bytes copied). */
lorc_status gguf_writer_set_arr(gguf_writer *w, const char *key, gguf_value_type elem_type, const void *data,
                                uint64_t n);
lorc_status gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *strs, uint64_t n);
/* Copies any kv read from another file (all types, including arrays). */
lorc_status gguf_writer_copy_kv(gguf_writer *w, const gguf_kv *kv);
void gguf_writer_remove_kv(gguf_writer *w, const char *key);

/* Adds a tensor whose bytes (`nbytes` = size implied by type/dims) are
 * borrowed from `data` until gguf_writer_write returns. */
lorc_status gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                                   const int64_t *ne, const void *data);
/* Adds a tensor whose bytes are produced by `fill` during the write. */
lorc_status gguf_writer_add_tensor_lazy(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                                        const int64_t *ne, gguf_tensor_fill_fn fill, void *user);

/* Writes a GGUF v3 file atomically (temp file + rename). `progress` (may be
 * NULL) is called after each tensor with bytes done / total. A tensor whose
 * values (as encoded, copied or filled) include Inf or NaN is refused with
 * LORC_ERR_INVALID naming the file and the tensor, and nothing is written
 * (tensor/finite_check.h). */
/* For test fixtures that must write hostile files (non-finite norms, ...):
 * turns the finiteness check of gguf_writer_write off. Tools never call it. */
void gguf_writer_allow_nonfinite(gguf_writer *w);
lorc_status gguf_writer_write(gguf_writer *w, const char *path, lorc_progress_fn progress, void *progress_user,
                              lorc_error *err);

#endif
