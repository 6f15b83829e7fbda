/* fuzz_gguf.c — libFuzzer target for the GGUF reader: any bytes must give
 * either a file whose every handed-out pointer is in bounds, or an error.
 * Build (not part of the CMake build): see fuzz/README.md. */
// fuzz-options: -max_len=4096
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gguf_file *f = NULL;
    lorc_error err;
    if (gguf_open_memory(data, size, "fuzz.gguf", &f, &err) != LORC_OK) {
        /* one line, naming the file */
        if (strncmp(err.message, "fuzz.gguf: ", 11) != 0 || strchr(err.message, '\n')) abort();
        return 0;
    }
    volatile unsigned sum = 0;
    for (uint64_t i = 0; i < f->n_kv; i++) {
        const gguf_kv *kv = &f->kv[i];
        if (gguf_find_kv(f, kv->key) != kv) abort();
        if (kv->type == GGUF_TYPE_STRING && kv->str.len) sum += (unsigned char)kv->str.ptr[kv->str.len - 1];
        if (kv->type == GGUF_TYPE_ARRAY && kv->arr_type == GGUF_TYPE_STRING)
            for (uint64_t j = 0; j < kv->arr_len; j++)
                if (kv->arr_strs[j].len) sum += (unsigned char)kv->arr_strs[j].ptr[kv->arr_strs[j].len - 1];
        if (kv->type == GGUF_TYPE_ARRAY && kv->arr_type != GGUF_TYPE_STRING && kv->arr_len)
            sum += (unsigned)gguf_arr_get_i64(kv, kv->arr_len - 1);
    }
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor_info *t = &f->tensors[i];
        if (gguf_find_tensor(f, t->name) != t) abort();
        sum += ((const uint8_t *)t->data)[0] + ((const uint8_t *)t->data)[t->nbytes - 1];
    }
    (void)sum;
    gguf_close(f);
    return 0;
}
