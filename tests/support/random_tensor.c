/* random_tensor.c — see random_tensor.h. */
#include "random_tensor.h"

#include <stdlib.h>
#include <string.h>

#include "synth.h"
#include "tensor/types.h"

bool test_random_tensor(test_tensor *o, uint32_t type, int64_t n_in, int64_t n_out, float scale, uint64_t seed) {
    const lorc_type_info *ti = lorc_type_get(type);
    const size_t rb = lorc_row_bytes(type, n_in);
    memset(o, 0, sizeof *o);
    float *f = malloc((size_t)(n_in * n_out) * sizeof *f);
    o->data = malloc(rb * (size_t)n_out);
    if (!ti || !ti->from_float || !rb || !f || !o->data) {
        free(f);
        free(o->data);
        o->data = NULL;
        return false;
    }
    synth_random_floats(seed, f, n_in * n_out, scale);
    ti->from_float(f, o->data, n_in * n_out);
    free(f);
    o->t = (lorc_tensor){.name = "t", .type = type, .n_dims = 2, .ne = {n_in, n_out, 1, 1}, .data = o->data,
                         .nbytes = rb * (size_t)n_out};
    return true;
}
