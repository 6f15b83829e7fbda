/* gguf_internal.h — private parts shared by gguf_read.c and gguf_access.c:
 * the reader's hidden state (ownership of the mapping, sorted name indexes). */
#ifndef LORC_FORMAT_GGUF_INTERNAL_H
#define LORC_FORMAT_GGUF_INTERNAL_H

#include "gguf.h"

/* A name and the position of its kv/tensor; the index is sorted by name so
 * duplicates sit next to each other and lookups are binary searches. */
typedef struct gguf_name_ref {
    const char *name; /* borrowed from the kv/tensor */
    uint64_t idx;
} gguf_name_ref;

typedef struct gguf_file_impl {
    gguf_file pub; /* first member: a gguf_file * points at it */
    bool owns_map; /* false for gguf_open_memory */
    gguf_name_ref *kv_index;     /* owned, n_kv entries sorted by key */
    gguf_name_ref *tensor_index; /* owned, n_tensors entries sorted by name */
} gguf_file_impl;

#endif
