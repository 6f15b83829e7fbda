/* test_types.c — the type table (names, geometry, lookups, refusal of types
 * lorc can't compute), IEEE half/bfloat16 conversion, and one hand-written
 * block per type decoding to hand-computed values. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tensor/types.h"
#include "test_types_ref.h"
#include "testutil.h"

static uint32_t fbits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bitsf(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* ---------------- table ---------------- */

static void test_table(void) {
    /* id, name, block size, block bytes: ggml's geometry */
    static const struct {
        uint32_t id;
        const char *name;
        int64_t bs;
        size_t bb;
        bool computes;
    } want[] = {
        {0, "F32", 1, 4, true},          {1, "F16", 1, 2, true},         {2, "Q4_0", 32, 18, true},
        {3, "Q4_1", 32, 20, true},       {6, "Q5_0", 32, 22, true},      {7, "Q5_1", 32, 24, true},
        {8, "Q8_0", 32, 34, true},       {9, "Q8_1", 32, 36, true},      {10, "Q2_K", 256, 84, true},
        {11, "Q3_K", 256, 110, true},    {12, "Q4_K", 256, 144, true},   {13, "Q5_K", 256, 176, true},
        {14, "Q6_K", 256, 210, true},    {15, "Q8_K", 256, 292, true},   {16, "IQ2_XXS", 256, 66, false},
        {17, "IQ2_XS", 256, 74, false},  {18, "IQ3_XXS", 256, 98, false}, {19, "IQ1_S", 256, 50, false},
        {20, "IQ4_NL", 32, 18, false},   {21, "IQ3_S", 256, 110, false}, {22, "IQ2_S", 256, 82, false},
        {23, "IQ4_XS", 256, 136, false}, {24, "I8", 1, 1, false},        {25, "I16", 1, 2, false},
        {26, "I32", 1, 4, false},        {27, "I64", 1, 8, false},       {28, "F64", 1, 8, false},
        {29, "IQ1_M", 256, 56, false},   {30, "BF16", 1, 2, true},       {34, "TQ1_0", 256, 54, false},
        {35, "TQ2_0", 256, 66, false},   {39, "MXFP4", 32, 17, false},
    };
    int listed = 0;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const lorc_type_info *t = lorc_type_get(want[i].id);
        CHECK_MSG(t != NULL, "id %u", want[i].id);
        if (!t) continue;
        listed++;
        CHECK_MSG(strcmp(t->name, want[i].name) == 0, "id %u name %s", want[i].id, t->name);
        CHECK_MSG(strcmp(lorc_type_name(want[i].id), want[i].name) == 0, "id %u", want[i].id);
        CHECK_MSG(t->block_size == want[i].bs && t->block_bytes == want[i].bb, "%s geometry", t->name);
        CHECK_MSG(t->quantized == (want[i].bs > 1), "%s quantized flag", t->name);
        CHECK_MSG((t->to_float != NULL) == want[i].computes, "%s to_float", t->name);
        CHECK_MSG((t->vec_dot != NULL) == want[i].computes, "%s vec_dot", t->name);
        CHECK_MSG(lorc_type_supported(want[i].id) == want[i].computes, "%s supported", t->name);
        if (!want[i].computes) CHECK_MSG(t->from_float == NULL, "%s from_float", t->name);
        CHECK_MSG(t->dot_type == LORC_TYPE_F32, "%s dot_type", t->name);
        CHECK_MSG(lorc_type_from_name(want[i].name) == (int)want[i].id, "from_name %s", want[i].name);
    }
    /* every real id is listed above; the rest are retired or unknown */
    int present = 0;
    for (uint32_t id = 0; id < 64; id++) present += lorc_type_get(id) != NULL;
    CHECK(present == listed);
    static const uint32_t retired[] = {4, 5, 31, 32, 33, 36, 37, 38, 40, 41, 1000, 0xffffffffu};
    for (size_t i = 0; i < sizeof retired / sizeof retired[0]; i++) {
        CHECK_MSG(lorc_type_get(retired[i]) == NULL, "id %u", retired[i]);
        CHECK(!lorc_type_supported(retired[i]));
        CHECK(lorc_row_bytes(retired[i], 32) == 0);
    }
    /* the types the issue requires can all be quantized to */
    static const uint32_t writable[] = {LORC_TYPE_F32,  LORC_TYPE_F16,  LORC_TYPE_BF16, LORC_TYPE_Q8_0,
                                        LORC_TYPE_Q4_0, LORC_TYPE_Q4_1, LORC_TYPE_Q5_0, LORC_TYPE_Q5_1,
                                        LORC_TYPE_Q2_K, LORC_TYPE_Q3_K, LORC_TYPE_Q4_K, LORC_TYPE_Q5_K,
                                        LORC_TYPE_Q6_K};
    for (size_t i = 0; i < sizeof writable / sizeof writable[0]; i++)
        CHECK_MSG(lorc_type_get(writable[i])->from_float != NULL, "%s", lorc_type_name(writable[i]));
}

static void test_names(void) {
    CHECK(strcmp(lorc_type_name(4), "type#4") == 0);
    CHECK(strcmp(lorc_type_name(33), "type#33") == 0);
    CHECK(strcmp(lorc_type_name(40), "type#40") == 0);
    CHECK(strcmp(lorc_type_name(105), "type#105") == 0);
    CHECK(strcmp(lorc_type_name(999), "type#999") == 0);
    CHECK(lorc_type_name(1000) != NULL && strncmp(lorc_type_name(1000), "type#", 5) == 0);
    CHECK(lorc_type_name(0xffffffffu) != NULL);
    for (uint32_t id = 0; id < 1000; id++) { /* every unknown id below 1000 prints as itself */
        if (lorc_type_get(id)) continue;
        char want[32];
        snprintf(want, sizeof want, "type#%u", id);
        CHECK_MSG(strcmp(lorc_type_name(id), want) == 0, "%u -> %s", id, lorc_type_name(id));
    }
    CHECK(lorc_type_from_name("q4_k") == LORC_TYPE_Q4_K);
    CHECK(lorc_type_from_name("Q4_K") == LORC_TYPE_Q4_K);
    CHECK(lorc_type_from_name("f16") == LORC_TYPE_F16);
    CHECK(lorc_type_from_name("Bf16") == LORC_TYPE_BF16);
    CHECK(lorc_type_from_name("iq2_xxs") == LORC_TYPE_IQ2_XXS);
    CHECK(lorc_type_from_name("mxfp4") == LORC_TYPE_MXFP4);
    CHECK(lorc_type_from_name("Q4_K_M") == -1);
    CHECK(lorc_type_from_name("Q4") == -1);
    CHECK(lorc_type_from_name("") == -1);
    CHECK(lorc_type_from_name("type#4") == -1);
    CHECK(lorc_type_from_name(NULL) == -1);
}

static void test_row_bytes(void) {
    CHECK(lorc_row_bytes(LORC_TYPE_F32, 7) == 28);
    CHECK(lorc_row_bytes(LORC_TYPE_F16, 7) == 14);
    CHECK(lorc_row_bytes(LORC_TYPE_BF16, 0) == 0);
    CHECK(lorc_row_bytes(LORC_TYPE_Q8_0, 64) == 68);
    CHECK(lorc_row_bytes(LORC_TYPE_Q4_0, 4096) == 128 * 18);
    CHECK(lorc_row_bytes(LORC_TYPE_Q4_K, 4096) == 16 * 144);
    CHECK(lorc_row_bytes(LORC_TYPE_Q6_K, 256) == 210);
    CHECK(lorc_row_bytes(LORC_TYPE_IQ2_XXS, 512) == 132); /* size known even where lorc can't compute */
    CHECK(lorc_row_bytes(LORC_TYPE_MXFP4, 64) == 34);
    CHECK(lorc_row_bytes(LORC_TYPE_Q4_K, 100) == 0); /* not a whole number of blocks */
    CHECK(lorc_row_bytes(LORC_TYPE_Q8_0, 33) == 0);
    CHECK(lorc_row_bytes(LORC_TYPE_F32, -1) == 0);
    CHECK(lorc_row_bytes(LORC_TYPE_F64, INT64_MAX) == 0); /* would overflow size_t */
    CHECK(lorc_row_bytes(LORC_TYPE_Q4_K, INT64_MAX - INT64_MAX % 256) != 0 || sizeof(size_t) < 8);
}

/* ---------------- half / bfloat16 ---------------- */

static void test_fp16(void) {
    /* decode */
    CHECK(fbits(lorc_fp16_to_fp32(0x0000)) == 0x00000000u);
    CHECK(fbits(lorc_fp16_to_fp32(0x8000)) == 0x80000000u); /* -0 keeps its sign */
    CHECK(lorc_fp16_to_fp32(0x3C00) == 1.0f);
    CHECK(lorc_fp16_to_fp32(0xC000) == -2.0f);
    CHECK(lorc_fp16_to_fp32(0x3555) == 0.333251953125f);
    CHECK(lorc_fp16_to_fp32(0x7BFF) == 65504.0f);
    CHECK(lorc_fp16_to_fp32(0x0400) == 0x1p-14f);          /* smallest normal */
    CHECK(lorc_fp16_to_fp32(0x0001) == 0x1p-24f);          /* smallest subnormal */
    CHECK(lorc_fp16_to_fp32(0x03FF) == 1023.0f * 0x1p-24f); /* largest subnormal */
    CHECK(lorc_fp16_to_fp32(0x8001) == -0x1p-24f);
    CHECK(lorc_fp16_to_fp32(0x7C00) == INFINITY);
    CHECK(lorc_fp16_to_fp32(0xFC00) == -INFINITY);
    CHECK(isnan(lorc_fp16_to_fp32(0x7E00)));
    CHECK(isnan(lorc_fp16_to_fp32(0x7C01))); /* signalling NaN stays a NaN, not inf */
    CHECK(isnan(lorc_fp16_to_fp32(0xFFFF)));

    /* encode, round to nearest even */
    CHECK(lorc_fp32_to_fp16(1.0f) == 0x3C00);
    CHECK(lorc_fp32_to_fp16(-2.0f) == 0xC000);
    CHECK(lorc_fp32_to_fp16(0.0f) == 0x0000);
    CHECK(lorc_fp32_to_fp16(-0.0f) == 0x8000);
    CHECK(lorc_fp32_to_fp16(65504.0f) == 0x7BFF);
    CHECK(lorc_fp32_to_fp16(65519.0f) == 0x7BFF);
    CHECK(lorc_fp32_to_fp16(65520.0f) == 0x7C00); /* tie between 65504 and 2^16: even side is inf */
    CHECK(lorc_fp32_to_fp16(1e6f) == 0x7C00);
    CHECK(lorc_fp32_to_fp16(-1e6f) == 0xFC00);
    CHECK(lorc_fp32_to_fp16(INFINITY) == 0x7C00);
    CHECK(lorc_fp32_to_fp16(-INFINITY) == 0xFC00);
    uint16_t hn = lorc_fp32_to_fp16(NAN);
    CHECK((hn & 0x7C00) == 0x7C00 && (hn & 0x03FF) != 0);
    uint16_t hs = lorc_fp32_to_fp16(bitsf(0x7F800001u)); /* NaN with only low payload bits */
    CHECK((hs & 0x7C00) == 0x7C00 && (hs & 0x03FF) != 0);
    CHECK(lorc_fp32_to_fp16(1.0f + 0x1p-11f) == 0x3C00);                 /* tie -> even 0x3C00 */
    CHECK(lorc_fp32_to_fp16(1.0f + 3 * 0x1p-11f) == 0x3C02);             /* tie -> even 0x3C02 */
    CHECK(lorc_fp32_to_fp16(1.0f + 0x1p-11f + 0x1p-20f) == 0x3C01);      /* just above the tie */
    CHECK(lorc_fp32_to_fp16(2049.0f) == 0x6800);                         /* 2048 | 2050: even is 2048 */
    CHECK(lorc_fp32_to_fp16(2051.0f) == 0x6802);                         /* 2050 | 2052: even is 2052 */
    CHECK(lorc_fp32_to_fp16(0x1p-14f) == 0x0400);
    CHECK(lorc_fp32_to_fp16(0x1p-24f) == 0x0001);
    CHECK(lorc_fp32_to_fp16(0x1p-25f) == 0x0000);                        /* tie 0 | 2^-24: even is 0 */
    CHECK(lorc_fp32_to_fp16(bitsf(fbits(0x1p-25f) + 1)) == 0x0001);      /* just above: rounds up */
    CHECK(lorc_fp32_to_fp16(3 * 0x1p-25f) == 0x0002);                    /* tie 1 | 2: even is 2 */
    CHECK(lorc_fp32_to_fp16(5 * 0x1p-25f) == 0x0002);                    /* tie 2 | 3: even is 2 */
    CHECK(lorc_fp32_to_fp16(1023.5f * 0x1p-24f) == 0x0400);              /* tie at the subnormal top */
    CHECK(lorc_fp32_to_fp16(-1022.5f * 0x1p-24f) == 0x83FE);
    CHECK(lorc_fp32_to_fp16(1e-10f) == 0x0000);
    CHECK(lorc_fp32_to_fp16(bitsf(0x00000001u)) == 0x0000); /* float subnormal */
    CHECK(lorc_fp32_to_fp16(-1e-10f) == 0x8000);

    /* every half survives the round trip (NaN stays NaN) */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = lorc_fp16_to_fp32((uint16_t)h);
        uint16_t back = lorc_fp32_to_fp16(f);
        bool is_nan = (h & 0x7C00) == 0x7C00 && (h & 0x03FF) != 0;
        if (is_nan ? !((back & 0x7C00) == 0x7C00 && (back & 0x03FF)) : back != h) bad++;
    }
    CHECK_MSG(bad == 0, "%d halves changed on round trip", bad);

    /* random floats round to the nearest half, ties to even */
    uint32_t s = 12345;
    bad = 0;
    for (int i = 0; i < 200000; i++) {
        s = s * 1664525u + 1013904223u;
        /* magnitudes from 2^-27 to 2^16.5 */
        float a = ldexpf(1.0f + (float)(s >> 8) * 0x1p-24f, (int)(s % 44) - 27);
        if (a >= 65520.0f) continue;
        uint16_t h = lorc_fp32_to_fp16(a);
        double v = lorc_fp16_to_fp32(h), err = fabs(v - a);
        double up = lorc_fp16_to_fp32((uint16_t)(h + 1));
        double dn = h ? lorc_fp16_to_fp32((uint16_t)(h - 1)) : -1e30;
        bool ok = err <= fabs(up - a) && err <= fabs(a - dn);
        if ((err == fabs(up - a) || (h && err == fabs(a - dn))) && (h & 1)) ok = false;
        if (lorc_fp32_to_fp16(-a) != (h | 0x8000)) ok = false;
        if (!ok) bad++;
    }
    CHECK_MSG(bad == 0, "%d floats not rounded to nearest-even half", bad);
}

static void test_bf16(void) {
    CHECK(lorc_bf16_to_fp32(0x3F80) == 1.0f);
    CHECK(lorc_bf16_to_fp32(0xC040) == -3.0f);
    CHECK(lorc_bf16_to_fp32(0x7F80) == INFINITY);
    CHECK(lorc_bf16_to_fp32(0xFF80) == -INFINITY);
    CHECK(isnan(lorc_bf16_to_fp32(0x7FC0)));
    CHECK(lorc_bf16_to_fp32(0x0001) == 0x1p-133f); /* subnormal */
    CHECK(fbits(lorc_bf16_to_fp32(0x8000)) == 0x80000000u);

    CHECK(lorc_fp32_to_bf16(1.0f) == 0x3F80);
    CHECK(lorc_fp32_to_bf16(-3.0f) == 0xC040);
    CHECK(lorc_fp32_to_bf16(-0.0f) == 0x8000);
    CHECK(lorc_fp32_to_bf16(1.0f + 0x1p-8f) == 0x3F80);            /* tie -> even */
    CHECK(lorc_fp32_to_bf16(1.0f + 3 * 0x1p-8f) == 0x3F82);        /* tie -> even */
    CHECK(lorc_fp32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f) == 0x3F81); /* above the tie */
    CHECK(lorc_fp32_to_bf16(0x1p-133f) == 0x0001);
    CHECK(lorc_fp32_to_bf16(3.4028235e38f) == 0x7F80); /* FLT_MAX rounds up to inf */
    CHECK(lorc_fp32_to_bf16(INFINITY) == 0x7F80);
    uint16_t n1 = lorc_fp32_to_bf16(NAN), n2 = lorc_fp32_to_bf16(bitsf(0x7F800001u));
    CHECK((n1 & 0x7F80) == 0x7F80 && (n1 & 0x7F) != 0);
    CHECK((n2 & 0x7F80) == 0x7F80 && (n2 & 0x7F) != 0); /* low-payload NaN must not become inf */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        if ((h & 0x7F80) == 0x7F80 && (h & 0x7F)) continue; /* NaNs */
        if (lorc_fp32_to_bf16(lorc_bf16_to_fp32((uint16_t)h)) != h) bad++;
    }
    CHECK_MSG(bad == 0, "%d bf16 values changed on round trip", bad);
}

/* ---------------- known blocks ---------------- */

/* Decodes `blk` (one block of `type`) with the table and checks every value
 * against the tests' reference decoder and the hand-computed spot values. */
static void check_block(int type, const uint8_t *blk, const int *idx, const double *want, int nwant) {
    const lorc_type_info *t = lorc_type_get((uint32_t)type);
    float out[256];
    t->to_float(blk, out, t->block_size);
    for (int k = 0; k < nwant; k++)
        CHECK_MSG(out[idx[k]] == (float)want[k], "%s value %d: got %g, want %g", t->name, idx[k], out[idx[k]], want[k]);
    int bad = 0;
    for (int e = 0; e < t->block_size; e++)
        if (out[e] != (float)ref_decode(type, blk, e).v) bad++;
    CHECK_MSG(bad == 0, "%s: %d values differ from the layout decoder", t->name, bad);
}

static void test_known_floats(void) {
    const lorc_type_info *t;
    float out[4];
    const uint8_t f32[] = {0x00, 0x00, 0xC0, 0x3F, 0x00, 0x00, 0x20, 0xC1}; /* 1.5, -10 */
    t = lorc_type_get(LORC_TYPE_F32);
    t->to_float(f32, out, 2);
    CHECK(out[0] == 1.5f && out[1] == -10.0f);
    const uint8_t f16[] = {0x00, 0x3C, 0x00, 0xC0, 0x01, 0x00, 0x00, 0x7C}; /* 1, -2, 2^-24, inf */
    t = lorc_type_get(LORC_TYPE_F16);
    t->to_float(f16, out, 4);
    CHECK(out[0] == 1.0f && out[1] == -2.0f && out[2] == 0x1p-24f && out[3] == INFINITY);
    const uint8_t bf16[] = {0x80, 0x3F, 0x40, 0xC0, 0x49, 0x40}; /* 1, -3, 3.140625 */
    t = lorc_type_get(LORC_TYPE_BF16);
    t->to_float(bf16, out, 3);
    CHECK(out[0] == 1.0f && out[1] == -3.0f && out[2] == 3.140625f);

    /* the kernels' fast inline decoders agree with the conversions on every half / bfloat16 */
    static uint8_t all[65536 * 2];
    static float dec[65536];
    for (uint32_t h = 0; h < 65536; h++) all[2 * h] = (uint8_t)h, all[2 * h + 1] = (uint8_t)(h >> 8);
    const uint32_t kinds[2] = {LORC_TYPE_F16, LORC_TYPE_BF16};
    for (int k = 0; k < 2; k++) {
        lorc_type_get(kinds[k])->to_float(all, dec, 65536);
        int bad = 0;
        for (uint32_t h = 0; h < 65536; h++) {
            float want = k == 0 ? lorc_fp16_to_fp32((uint16_t)h) : lorc_bf16_to_fp32((uint16_t)h);
            if (isnan(want) ? !isnan(dec[h]) : fbits(want) != fbits(dec[h])) bad++;
        }
        CHECK_MSG(bad == 0, "%s to_float: %d of 65536 values differ", lorc_type_name(kinds[k]), bad);
    }
}

/* Byte patterns shared by the k-quant blocks below. */
static uint8_t pat_a(int k) { return (uint8_t)((k * 37 + 11) & 0xff); }
static uint8_t pat_b(int k) { return (uint8_t)((k * 53) & 0xff); }

static void test_known_legacy(void) {
    uint8_t b[36];

    /* Q8_0: d = 0.5 (fp16 0x3800), q_j = j - 16, and q_5 = -128 */
    b[0] = 0x00, b[1] = 0x38;
    for (int j = 0; j < 32; j++) b[2 + j] = (uint8_t)(int8_t)(j - 16);
    b[2 + 5] = 0x80;
    check_block(LORC_TYPE_Q8_0, b, (const int[]){0, 5, 16, 31}, (const double[]){-8.0, -64.0, 0.0, 7.5}, 4);

    /* Q8_1: d = 0.25, s ignored on decode, q_j = 3j - 50 */
    b[0] = 0x00, b[1] = 0x34, b[2] = 0xAB, b[3] = 0xCD;
    for (int j = 0; j < 32; j++) b[4 + j] = (uint8_t)(int8_t)(3 * j - 50);
    check_block(LORC_TYPE_Q8_1, b, (const int[]){0, 31}, (const double[]){-12.5, 10.75}, 2);

    /* Q4_0: d = 2 (0x4000); byte j = low nibble j (value j), high nibble 15-j (value j+16) */
    b[0] = 0x00, b[1] = 0x40;
    for (int j = 0; j < 16; j++) b[2 + j] = (uint8_t)(j | ((15 - j) << 4));
    check_block(LORC_TYPE_Q4_0, b, (const int[]){0, 8, 15, 16, 31}, (const double[]){-16, 0, 14, 14, -16}, 5);

    /* Q4_1: d = 0.5, m = -1 (0xBC00); low nibble j, high nibble j^5 */
    b[0] = 0x00, b[1] = 0x38, b[2] = 0x00, b[3] = 0xBC;
    for (int j = 0; j < 16; j++) b[4 + j] = (uint8_t)(j | ((j ^ 5) << 4));
    check_block(LORC_TYPE_Q4_1, b, (const int[]){0, 15, 16, 21}, (const double[]){-1.0, 6.5, 1.5, -1.0}, 4);

    /* Q5_0: d = 1; fifth bits qh = 0xCC33F00F (bytes 0F F0 33 CC), nibbles j | (15-j) << 4
     *   value 0: 0 | 16 - 16 = 0;  value 4: bit 4 of 0x0F clear -> 4 - 16 = -12
     *   value 16: bit 16 (byte 2 bit 0) set -> 15 + 16 - 16 = 15;  value 18: bit 18 clear -> 13 - 16 = -3
     *   value 31: bit 31 (byte 3 bit 7) set -> 0 + 16 - 16 = 0 */
    b[0] = 0x00, b[1] = 0x3C, b[2] = 0x0F, b[3] = 0xF0, b[4] = 0x33, b[5] = 0xCC;
    for (int j = 0; j < 16; j++) b[6 + j] = (uint8_t)(j | ((15 - j) << 4));
    check_block(LORC_TYPE_Q5_0, b, (const int[]){0, 4, 12, 16, 18, 31}, (const double[]){0, -12, 12, 15, -3, 0}, 6);

    /* Q5_1: d = 0.25 (0x3400), m = 1; same bits: value 0 = 16*0.25+1 = 5, value 4 = 2, value 16 = 31*.25+1 */
    b[0] = 0x00, b[1] = 0x34, b[2] = 0x00, b[3] = 0x3C, b[4] = 0x0F, b[5] = 0xF0, b[6] = 0x33, b[7] = 0xCC;
    for (int j = 0; j < 16; j++) b[8 + j] = (uint8_t)(j | ((15 - j) << 4));
    check_block(LORC_TYPE_Q5_1, b, (const int[]){0, 4, 16, 18}, (const double[]){5.0, 2.0, 8.75, 4.25}, 4);
}

static void test_known_kquants(void) {
    uint8_t b[292];

    /* Q2_K: scales[j] = ((j+1)&15) | ((j&7)<<4), qs = pat_a, d = 1, dmin = 0.5
     *   value 0: qs[0] = 11 = 0b00001011, bits 0-1 = 3; scale byte 0x01: 1*1*3 - 0.5*0 = 3
     *   value 32: bits 2-3 of qs[0] = 2; scale byte 2 = 0x23: 1*3*2 - 0.5*2 = 5
     *   value 255: qs[63] = 38 = 0b00100110, bits 6-7 = 0; scale byte 15 = 0x70: -0.5*7 = -3.5 */
    for (int j = 0; j < 16; j++) b[j] = (uint8_t)(((j + 1) & 15) | ((j & 7) << 4));
    for (int k = 0; k < 64; k++) b[16 + k] = pat_a(k);
    b[80] = 0x00, b[81] = 0x3C, b[82] = 0x00, b[83] = 0x38;
    check_block(LORC_TYPE_Q2_K, b, (const int[]){0, 32, 255}, (const double[]){3.0, 5.0, -3.5}, 3);

    /* Q3_K: 6-bit scale codes 24..39 (scales j-8), packed by hand:
     *   bytes 0-7: low nibble of code j, high nibble of code j+8 -> 08 19 2A 3B 4C 5D 6E 7F
     *   bytes 8-11: top 2 bits of codes k, k+4, k+8, k+12 at shifts 0,2,4,6 = 1,1,2,2 -> A5
     * hmask = pat_b, qs = pat_a, d = 1.
     *   value 0: qs[0] bits 0-1 = 3, hmask[0] bit 0 clear -> 3-4 = -1; scale -8 -> 8
     *   value 1: qs[1] = 48 bits 0-1 = 0, hmask[1] = 53 bit 0 set -> 0; -> 0
     *   value 34: qs[2] = 85 bits 2-3 = 1, hmask[2] = 106 bit 1 set -> 1; scale of 32..47 is -6 -> -6 */
    for (int k = 0; k < 32; k++) b[k] = pat_b(k);
    for (int k = 0; k < 64; k++) b[32 + k] = pat_a(k);
    const uint8_t q3s[12] = {0x08, 0x19, 0x2A, 0x3B, 0x4C, 0x5D, 0x6E, 0x7F, 0xA5, 0xA5, 0xA5, 0xA5};
    memcpy(b + 96, q3s, 12);
    b[108] = 0x00, b[109] = 0x3C;
    check_block(LORC_TYPE_Q3_K, b, (const int[]){0, 1, 34}, (const double[]){8.0, 0.0, -6.0}, 3);
    for (int j = 0; j < 16; j++) { /* each sub-block's scale is j-8: decode a unit quant to read it */
        ref_value r = ref_decode(LORC_TYPE_Q3_K, b, 16 * j);
        CHECK_MSG(fabs(r.step - fabs(j - 8.0)) < 1e-12, "Q3_K scale %d step %g", j, r.step);
    }

    /* Q4_K: scales 7,15,...,63 (8j+7) and mins 63,54,...,0 (63-9j), packed by hand:
     *   bytes 0-3: scale j | (top 2 bits of scale j+4) << 6 -> 87 8F D7 DF
     *   bytes 4-7: min j | (top 2 bits of min j+4) << 6    -> 7F 76 2D 24
     *   bytes 8-11: low nibbles of scale j+4 | min j+4 << 4 -> B7 2F 97 0F
     * d = 1, dmin = 0.5, qs = pat_a.
     *   value 0: low nibble of qs[0] = 11: 7*11 - 0.5*63 = 45.5
     *   value 32: high nibble of qs[0] = 0: 15*0 - 0.5*54 = -27
     *   value 255: high nibble of qs[127] = 0x66 -> 6, sub-block 7: 63*6 - 0 = 378 */
    const uint8_t k4s[12] = {0x87, 0x8F, 0xD7, 0xDF, 0x7F, 0x76, 0x2D, 0x24, 0xB7, 0x2F, 0x97, 0x0F};
    b[0] = 0x00, b[1] = 0x3C, b[2] = 0x00, b[3] = 0x38;
    memcpy(b + 4, k4s, 12);
    for (int k = 0; k < 128; k++) b[16 + k] = pat_a(k);
    check_block(LORC_TYPE_Q4_K, b, (const int[]){0, 32, 255}, (const double[]){45.5, -27.0, 378.0}, 3);
    for (int j = 0; j < 8; j++) { /* the hand packing carries exactly the intended scale/min */
        ref_value r = ref_decode(LORC_TYPE_Q4_K, b, 32 * j);
        CHECK_MSG(r.step == 8.0 * j + 7 && r.lo == -0.5 * (63 - 9 * j), "Q4_K sub-block %d", j);
    }

    /* Q5_K: same header, qh = pat_b, qs = pat_a.
     *   value 0: qs[0] low 11, qh[0] = 0 -> 11: 45.5
     *   value 1: qs[1] = 48 low 0, qh[1] = 53 bit 0 set -> 16: 7*16 - 31.5 = 80.5
     *   value 33: qs[1] high 3, qh[1] bit 1 clear -> 3: 15*3 - 27 = 18 */
    b[0] = 0x00, b[1] = 0x3C, b[2] = 0x00, b[3] = 0x38;
    memcpy(b + 4, k4s, 12);
    for (int k = 0; k < 32; k++) b[16 + k] = pat_b(k);
    for (int k = 0; k < 128; k++) b[48 + k] = pat_a(k);
    check_block(LORC_TYPE_Q5_K, b, (const int[]){0, 1, 33}, (const double[]){45.5, 80.5, 18.0}, 3);

    /* Q6_K: ql = pat_a, qh = pat_b, scales[j] = 9j - 70, d = 0.5
     *   value 0: ql[0] low 11, qh[0] bits 0-1 = 0 -> 11-32 = -21; 0.5 * -70 * -21 = 735
     *   value 64: ql[0] high 0, qh[0] bits 4-5 = 0 -> -32; scale 4 = -34: 544
     *   value 255: ql[127] = 0x66 high 6, qh[63] = 11 bits 6-7 = 0 -> -26; scale 15 = 65: -845 */
    for (int k = 0; k < 128; k++) b[k] = pat_a(k);
    for (int k = 0; k < 64; k++) b[128 + k] = pat_b(k);
    for (int j = 0; j < 16; j++) b[192 + j] = (uint8_t)(int8_t)(9 * j - 70);
    b[208] = 0x00, b[209] = 0x38;
    check_block(LORC_TYPE_Q6_K, b, (const int[]){0, 64, 255}, (const double[]){735.0, 544.0, -845.0}, 3);
}

int main(void) {
    test_table();
    test_names();
    test_row_bytes();
    test_fp16();
    test_bf16();
    test_known_floats();
    test_known_legacy();
    test_known_kquants();
    return test_finish("test_types");
}
