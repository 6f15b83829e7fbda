/* fuzz_safetensors.c — libFuzzer target for the safetensors reader: any bytes
 * must give either a file whose every tensor lies inside the input, or an
 * error. Build (not part of the CMake build): see fuzz/README.md. */
// fuzz-options: -max_len=4096
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format/safetensors.h"
#include "tensor/types.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    safetensors_file *f = NULL;
    lorc_error err;
    if (safetensors_open_memory(data, size, "fuzz.safetensors", &f, &err) != LORC_OK) {
        /* one line, naming the file */
        if (strncmp(err.message, "fuzz.safetensors: ", 18) != 0 || strchr(err.message, '\n')) abort();
        return 0;
    }
    volatile unsigned sum = 0;
    uint64_t prev_end = 0;
    for (size_t i = 0; i < f->n_tensors; i++) {
        const safetensors_tensor *t = &f->tensors[i];
        if (safetensors_find(f, t->name) != t) abort();
        const uint8_t *p = t->data;
        /* inside the input, sorted by offset, not overlapping */
        if (p < data + 8 || p + t->nbytes > data + size) abort();
        if (t->nbytes) {
            if ((uint64_t)(p - data) < prev_end) abort();
            prev_end = (uint64_t)(p - data) + t->nbytes;
            sum += p[0] + p[t->nbytes - 1];
        }
        if (t->n_elements > 0 && t->n_elements < (1 << 16)) {
            float *dst = malloc((size_t)t->n_elements * sizeof(float));
            if (!dst) abort();
            safetensors_to_f32(t, dst);
            sum += (unsigned)(dst[t->n_elements - 1] == dst[t->n_elements - 1]);
            free(dst);
        }
    }
    for (size_t i = 0; i < f->n_meta; i++) sum += (unsigned)strlen(f->meta[i].value);
    (void)sum;
    safetensors_close(f);
    return 0;
}
