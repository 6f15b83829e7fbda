/* test_adapter_finite.c — adapter_check_finite, which every LoRA factor,
 * DoRA magnitude and replaced module passes through at load: F16 and BF16
 * are checked on their bits, every other type by decoding. For both half
 * types, on rows of odd length read from odd addresses: the largest
 * magnitude is exactly the one the decoding path finds (the values as F32),
 * wherever it sits and whatever its sign, among zeros, subnormals and the
 * type's largest finite value; and a NaN or an Inf anywhere is refused with
 * the tensor, NaN or Inf, and the row and column of the first one. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter/adapter_load.h"
#include "tensor/types.h"
#include "testutil.h"

enum { ROW = 37, ROWS = 5, N = ROW * ROWS };

static float uniform(uint64_t *state) { /* [-1, 1) */
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((*state >> 40) * (1.0 / (1ull << 24)) * 2.0 - 1.0);
}

/* A ROWS x ROW tensor of `type` over `enc` (any alignment). */
static lorc_tensor tensor_of(uint32_t type, const void *enc) {
    lorc_tensor t = {"blk.0.attn_q.weight.lora_a", type, 2, {ROW, ROWS, 1, 1}, enc, lorc_row_bytes(type, ROW) * ROWS};
    return t;
}

/* max_abs of `values` encoded as `type`, checked against the same values
 * (as `type` rounds them) through the decoding path, F32. */
static void check_max(uint32_t type, const float *values, const char *what) {
    static uint8_t buf[2 * N + 1];
    static float rounded[N];
    uint8_t *enc = buf + 1; /* an odd address */
    const lorc_type_info *ti = lorc_type_get(type);
    ti->from_float(values, enc, N);
    ti->to_float(enc, rounded, N);
    lorc_tensor half = tensor_of(type, enc), f32 = tensor_of(LORC_TYPE_F32, rounded);
    float got = -1.0f, want = -2.0f;
    lorc_error err = {0};
    CHECK_MSG(adapter_check_finite("a.gguf", &half, &got, &err) == LORC_OK, "%s %s: %s", ti->name, what, err.message);
    CHECK_MSG(adapter_check_finite("a.gguf", &f32, &want, &err) == LORC_OK, "%s %s (F32): %s", ti->name, what,
              err.message);
    CHECK_MSG(memcmp(&got, &want, sizeof got) == 0, "%s %s: max_abs %g, the decoded values' %g", ti->name, what,
              (double)got, (double)want);
}

/* A value of bits `bad` at (row, col) among finite ones must be refused. */
static void check_refused(uint32_t type, uint16_t bad, int row, int col, const char *kind) {
    static uint8_t buf[2 * N + 1];
    static float values[N];
    uint8_t *enc = buf + 1;
    for (int i = 0; i < N; i++) values[i] = (float)(i % 7) - 3.0f;
    const lorc_type_info *ti = lorc_type_get(type);
    ti->from_float(values, enc, N);
    const size_t at = 2 * ((size_t)row * ROW + (size_t)col);
    enc[at] = (uint8_t)(bad & 0xff);
    enc[at + 1] = (uint8_t)(bad >> 8);
    /* a second one later: the message names the first */
    enc[2 * (N - 1)] = (uint8_t)(bad & 0xff);
    enc[2 * (N - 1) + 1] = (uint8_t)(bad >> 8);
    lorc_tensor t = tensor_of(type, enc);
    float max = 0.0f;
    lorc_error err = {0};
    const lorc_status st = adapter_check_finite("a.gguf", &t, &max, &err);
    char where[64];
    snprintf(where, sizeof where, "(%s) at row %d, column %d", kind, row, col);
    CHECK_MSG(st == LORC_ERR_NUMERIC && strstr(err.message, "a.gguf") && strstr(err.message, t.name) &&
                  strstr(err.message, where),
              "%s 0x%04x at %d,%d: status %d, message '%s'", ti->name, bad, row, col, (int)st, err.message);
}

int main(void) {
    static float v[N];
    const uint32_t types[2] = {LORC_TYPE_F16, LORC_TYPE_BF16};
    for (int k = 0; k < 2; k++) {
        const uint32_t type = types[k];
        const bool f16 = type == LORC_TYPE_F16;
        uint64_t rng = 0x9e3779b97f4a7c15ull;
        for (int i = 0; i < N; i++) v[i] = uniform(&rng);
        check_max(type, v, "uniform");
        /* the largest magnitude negative, in the last row's last column */
        v[N - 1] = -7.25f;
        check_max(type, v, "negative last");
        /* ... and in the first column, the type's largest finite value */
        v[0] = f16 ? 65504.0f : 3.3895314e38f;
        check_max(type, v, "largest finite");
        /* all zeros (one of them negative), then subnormals only */
        for (int i = 0; i < N; i++) v[i] = 0.0f;
        v[11] = -0.0f;
        check_max(type, v, "zeros");
        for (int i = 0; i < N; i++) v[i] = (float)(i % 5) * (f16 ? 5.9604645e-8f : 1e-39f) * (i % 2 ? -1.0f : 1.0f);
        check_max(type, v, "subnormals");

        const uint16_t nan = f16 ? 0x7e00 : 0x7fc0, neg_inf = f16 ? 0xfc00 : 0xff80;
        const uint16_t nan_low = f16 ? 0xfc01 : 0xff81; /* a NaN with the sign set and one mantissa bit */
        check_refused(type, nan, 0, 0, "NaN");
        check_refused(type, neg_inf, 2, 17, "Inf");
        check_refused(type, nan_low, ROWS - 1, ROW - 2, "NaN");
        check_refused(type, f16 ? 0x7c00 : 0x7f80, 3, ROW - 1, "Inf");
    }
    /* the decoding path still refuses too (F32) */
    for (int i = 0; i < N; i++) v[i] = 1.0f;
    v[3 * ROW + 4] = NAN;
    lorc_tensor t = tensor_of(LORC_TYPE_F32, v);
    lorc_error err = {0};
    CHECK_MSG(adapter_check_finite("a.gguf", &t, NULL, &err) == LORC_ERR_NUMERIC &&
                  strstr(err.message, "(NaN) at row 3, column 4"),
              "F32: %s", err.message);
    return test_finish("test_adapter_finite");
}
