/* test_finite_check.c — the one finiteness check of every writer
 * (src/tensor/finite_check.c): the bit-level paths of F16/BF16, F32 at an
 * unaligned address, a quantized block whose scale is Inf, the encode path's
 * range refusal per type, and gguf_writer_write refusing such a tensor
 * (nothing written) unless a fixture allows it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format/gguf.h"
#include "tensor/finite_check.h"
#include "tensor/types.h"
#include "testutil.h"

static void expect_bad(uint32_t type, const void *data, int64_t ne0, int64_t rows, const char *want) {
    lorc_error err = {0};
    lorc_status st = lorc_check_encoded_finite(type, data, ne0, rows, "t.weight", &err);
    CHECK_MSG(st == LORC_ERR_INVALID, "%s: status %d", lorc_type_name(type), st);
    CHECK_MSG(strstr(err.message, want) && strstr(err.message, "t.weight"), "%s: '%s' lacks '%s'",
              lorc_type_name(type), err.message, want);
}

static void expect_good(uint32_t type, const void *data, int64_t ne0, int64_t rows) {
    lorc_error err = {0};
    CHECK_MSG(lorc_check_encoded_finite(type, data, ne0, rows, "t.weight", &err) == LORC_OK, "%s: %s",
              lorc_type_name(type), err.message);
}

int main(void) {
    /* F16: 0x7C00 = Inf, 0x7E00 = NaN, 0x7BFF = 65504 (finite) */
    uint16_t h[64];
    for (int i = 0; i < 64; i++) h[i] = 0x3C00; /* 1.0 */
    h[10] = 0x7BFF;
    expect_good(LORC_TYPE_F16, h, 32, 2);
    h[40] = 0x7C00;
    h[41] = 0xFE00;
    expect_bad(LORC_TYPE_F16, h, 32, 2, "2 non-finite values (the first, inf, at row 1, column 8)");
    /* BF16: 0x7F80 = Inf; 0x7F7F = the largest finite */
    uint16_t b[32];
    for (int i = 0; i < 32; i++) b[i] = 0x3F80;
    b[3] = 0x7F7F;
    expect_good(LORC_TYPE_BF16, b, 32, 1);
    b[5] = 0xFF80;
    expect_bad(LORC_TYPE_BF16, b, 32, 1, "1 non-finite value (the first, -inf, at row 0, column 5)");
    /* F32 at an odd address */
    unsigned char raw[4 * 16 + 1];
    float f[16];
    for (int i = 0; i < 16; i++) f[i] = (float)i;
    memcpy(raw + 1, f, sizeof f);
    expect_good(LORC_TYPE_F32, raw + 1, 16, 1);
    f[15] = NAN;
    memcpy(raw + 1, f, sizeof f);
    expect_bad(LORC_TYPE_F32, raw + 1, 8, 2, "at row 1, column 7");
    /* Q8_0: a block's F16 scale of Inf makes every non-zero value Inf/NaN */
    const lorc_type_info *q8 = lorc_type_get(LORC_TYPE_Q8_0);
    float src[32];
    for (int i = 0; i < 32; i++) src[i] = (float)(i - 16) / 4;
    unsigned char blk[34];
    q8->from_float(src, blk, 32);
    expect_good(LORC_TYPE_Q8_0, blk, 32, 1);
    blk[0] = 0x00, blk[1] = 0x7C; /* d = +Inf (little-endian F16) */
    expect_bad(LORC_TYPE_Q8_0, blk, 32, 1, "non-finite");

    /* The encode path: each type holds values up to its own limit */
    static const struct {
        uint32_t type;
        float value;
        bool fits;
    } cases[] = {{LORC_TYPE_F16, 65504.f, true},    {LORC_TYPE_F16, 70000.f, false}, {LORC_TYPE_BF16, 1e38f, true},
                 {LORC_TYPE_Q8_0, 8e6f, true},       {LORC_TYPE_Q8_0, 1e7f, false},  {LORC_TYPE_Q4_0, 1e5f, true},
                 {LORC_TYPE_Q4_0, 1e6f, false},      {LORC_TYPE_F32, 3e38f, true}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        float row[256];
        for (int i = 0; i < 256; i++) row[i] = (float)(i % 7) - 3;
        row[100] = cases[c].value;
        unsigned char dst[1024];
        lorc_error err = {0};
        lorc_status st = lorc_encode_row_checked(cases[c].type, row, dst, 256, "w", 4, &err);
        CHECK_MSG((st == LORC_OK) == cases[c].fits, "%s of %g: status %d (%s)", lorc_type_name(cases[c].type),
                  (double)cases[c].value, st, err.message);
        if (!cases[c].fits) {
            char want[64];
            snprintf(want, sizeof want, "largest |value| %g in row 4 does not fit %s", (double)cases[c].value,
                     lorc_type_name(cases[c].type));
            CHECK_MSG(strstr(err.message, want) != NULL, "'%s' lacks '%s'", err.message, want);
        }
    }
    float nan_row[32] = {0};
    nan_row[9] = -INFINITY;
    lorc_error err = {0};
    unsigned char dst[256];
    CHECK(lorc_encode_row_checked(LORC_TYPE_Q8_0, nan_row, dst, 32, "w", 2, &err) == LORC_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "non-finite value (-inf at row 2, column 9)"), "%s", err.message);

    /* gguf_writer_write: refused, nothing written; a fixture may opt out */
    const char *path = test_tmp("finite_check.gguf");
    unlink(path);
    for (int allow = 0; allow < 2; allow++) {
        gguf_writer *w = gguf_writer_new();
        if (allow) gguf_writer_allow_nonfinite(w);
        int64_t ne[2] = {32, 2};
        CHECK(gguf_writer_set_str(w, "general.architecture", "llama") == LORC_OK);
        CHECK(gguf_writer_add_tensor(w, "t.weight", LORC_TYPE_F16, 2, ne, h) == LORC_OK);
        lorc_status st = gguf_writer_write(w, path, NULL, NULL, &err);
        if (allow) {
            CHECK_MSG(st == LORC_OK, "%s", err.message);
            CHECK(access(path, F_OK) == 0);
        } else {
            CHECK(st == LORC_ERR_INVALID);
            CHECK_MSG(strstr(err.message, "finite_check.gguf: tensor 't.weight' (F16) has 2 non-finite values") &&
                          strstr(err.message, "refusing to write it"),
                      "%s", err.message);
            CHECK(access(path, F_OK) != 0);
        }
        gguf_writer_free(w);
    }
    return test_finish("test_finite_check");
}
