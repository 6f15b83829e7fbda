/* safetensors.h — reader for Hugging Face .safetensors files (validated,
 * zero-copy). It parses the JSON header and checks every tensor against the
 * file before use; it knows nothing about LoRA (see src/adapter/peft.c). */
#ifndef LORC_FORMAT_SAFETENSORS_H
#define LORC_FORMAT_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../base/mapped_file.h"
#include "lorc.h"

#define SAFETENSORS_MAX_DIMS 8
/* The format caps the header at 100 MB; anything bigger is corrupt. */
#define SAFETENSORS_MAX_HEADER (100u * 1024u * 1024u)

typedef struct safetensors_tensor {
    char *name;     /* owned, NUL-terminated */
    uint32_t type;  /* lorc_type: LORC_TYPE_F32, _F16 or _BF16 (other dtypes are refused at open) */
    int n_dims;     /* 0 (scalar) .. SAFETENSORS_MAX_DIMS */
    int64_t shape[SAFETENSORS_MAX_DIMS]; /* torch order: shape[n_dims-1] is contiguous */
    int64_t n_elements;
    uint64_t nbytes;
    const void *data; /* borrowed: points into the mapping; may be unaligned */
} safetensors_tensor;

typedef struct safetensors_meta {
    char *key;   /* owned */
    char *value; /* owned */
} safetensors_meta;

typedef struct safetensors_file {
    char *path; /* owned, used in messages */
    lorc_mapped_file map;
    bool owns_map;
    size_t n_tensors;
    safetensors_tensor *tensors; /* owned, sorted by data offset */
    size_t n_meta;
    safetensors_meta *meta;      /* owned: the "__metadata__" string map */
} safetensors_file;

/* Opens and validates `path`: header length, JSON, every dtype, shape and
 * offset range (consistent with dtype × shape, inside the file, no overlap).
 * Errors read "<path>: <what is wrong>" naming the tensor when there is one. */
lorc_status safetensors_open(const char *path, safetensors_file **out, lorc_error *err);
/* Same over bytes in memory; `data` must outlive the result. */
lorc_status safetensors_open_memory(const uint8_t *data, size_t size, const char *name, safetensors_file **out,
                                    lorc_error *err);
void safetensors_close(safetensors_file *f);

const safetensors_tensor *safetensors_find(const safetensors_file *f, const char *name);
/* Value of a __metadata__ key, or NULL. */
const char *safetensors_meta_get(const safetensors_file *f, const char *key);

/* Converts a tensor's elements to F32 (dst holds n_elements floats). */
void safetensors_to_f32(const safetensors_tensor *t, float *dst);

#endif
