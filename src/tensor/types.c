/* types.c — the table of ggml tensor types (name, block geometry, scalar
 * kernels), lookups by id and name, and IEEE half / bfloat16 conversion. */
#include "types.h"

#include <string.h>

#include "quant_impl.h"

/* A type lorc can compute with: block geometry plus its three kernels. */
#define KERNELS(NAME, BS, BB, Q, PFX, FROM) \
    { NAME, BS, BB, Q, PFX##_to_float, FROM, PFX##_vec_dot, LORC_TYPE_F32 }
/* A real ggml type lorc only knows the size of (so it can skip or name it). */
#define OPAQUE(NAME, BS, BB, Q) { NAME, BS, BB, Q, NULL, NULL, NULL, LORC_TYPE_F32 }

/* Indexed by ggml type id; rows with a NULL name are ids ggml retired. */
static const lorc_type_info type_table[LORC_TYPE_COUNT] = {
    [LORC_TYPE_F32] = KERNELS("F32", 1, 4, false, lorc_f32, lorc_f32_from_float),
    [LORC_TYPE_F16] = KERNELS("F16", 1, 2, false, lorc_f16, lorc_f16_from_float),
    [LORC_TYPE_Q4_0] = KERNELS("Q4_0", 32, 18, true, lorc_q4_0, lorc_q4_0_from_float),
    [LORC_TYPE_Q4_1] = KERNELS("Q4_1", 32, 20, true, lorc_q4_1, lorc_q4_1_from_float),
    [LORC_TYPE_Q5_0] = KERNELS("Q5_0", 32, 22, true, lorc_q5_0, lorc_q5_0_from_float),
    [LORC_TYPE_Q5_1] = KERNELS("Q5_1", 32, 24, true, lorc_q5_1, lorc_q5_1_from_float),
    [LORC_TYPE_Q8_0] = KERNELS("Q8_0", 32, 34, true, lorc_q8_0, lorc_q8_0_from_float),
    [LORC_TYPE_Q8_1] = KERNELS("Q8_1", 32, 36, true, lorc_q8_1, lorc_q8_1_from_float),
    [LORC_TYPE_Q2_K] = KERNELS("Q2_K", 256, 84, true, lorc_q2_K, lorc_q2_K_from_float),
    [LORC_TYPE_Q3_K] = KERNELS("Q3_K", 256, 110, true, lorc_q3_K, lorc_q3_K_from_float),
    [LORC_TYPE_Q4_K] = KERNELS("Q4_K", 256, 144, true, lorc_q4_K, lorc_q4_K_from_float),
    [LORC_TYPE_Q5_K] = KERNELS("Q5_K", 256, 176, true, lorc_q5_K, lorc_q5_K_from_float),
    [LORC_TYPE_Q6_K] = KERNELS("Q6_K", 256, 210, true, lorc_q6_K, lorc_q6_K_from_float),
    [LORC_TYPE_Q8_K] = KERNELS("Q8_K", 256, 292, true, lorc_q8_K, lorc_q8_K_from_float),
    [LORC_TYPE_IQ2_XXS] = OPAQUE("IQ2_XXS", 256, 66, true),
    [LORC_TYPE_IQ2_XS] = OPAQUE("IQ2_XS", 256, 74, true),
    [LORC_TYPE_IQ3_XXS] = OPAQUE("IQ3_XXS", 256, 98, true),
    [LORC_TYPE_IQ1_S] = OPAQUE("IQ1_S", 256, 50, true),
    [LORC_TYPE_IQ4_NL] = OPAQUE("IQ4_NL", 32, 18, true),
    [LORC_TYPE_IQ3_S] = OPAQUE("IQ3_S", 256, 110, true),
    [LORC_TYPE_IQ2_S] = OPAQUE("IQ2_S", 256, 82, true),
    [LORC_TYPE_IQ4_XS] = OPAQUE("IQ4_XS", 256, 136, true),
    [LORC_TYPE_I8] = OPAQUE("I8", 1, 1, false),
    [LORC_TYPE_I16] = OPAQUE("I16", 1, 2, false),
    [LORC_TYPE_I32] = OPAQUE("I32", 1, 4, false),
    [LORC_TYPE_I64] = OPAQUE("I64", 1, 8, false),
    [LORC_TYPE_F64] = OPAQUE("F64", 1, 8, false),
    [LORC_TYPE_IQ1_M] = OPAQUE("IQ1_M", 256, 56, true),
    [LORC_TYPE_BF16] = KERNELS("BF16", 1, 2, false, lorc_bf16, lorc_bf16_from_float),
    [LORC_TYPE_TQ1_0] = OPAQUE("TQ1_0", 256, 54, true),
    [LORC_TYPE_TQ2_0] = OPAQUE("TQ2_0", 256, 66, true),
    [LORC_TYPE_MXFP4] = OPAQUE("MXFP4", 32, 17, true),
};

const lorc_type_info *lorc_type_get(uint32_t type) {
    if (type >= LORC_TYPE_COUNT || type_table[type].name == NULL) return NULL;
    return &type_table[type];
}

/* "type#N" strings for every id below 1000, built by the preprocessor so the
 * name of an unknown id is static storage and needs no mutable buffer. */
#define TN(x) "type#" #x
#define TN10(p) TN(p##0), TN(p##1), TN(p##2), TN(p##3), TN(p##4), TN(p##5), TN(p##6), TN(p##7), TN(p##8), TN(p##9)
#define TN100(p) TN10(p##0), TN10(p##1), TN10(p##2), TN10(p##3), TN10(p##4), \
                 TN10(p##5), TN10(p##6), TN10(p##7), TN10(p##8), TN10(p##9)
static const char *const unknown_names[1000] = {
    TN(0), TN(1), TN(2), TN(3), TN(4), TN(5), TN(6), TN(7), TN(8), TN(9),
    TN10(1), TN10(2), TN10(3), TN10(4), TN10(5), TN10(6), TN10(7), TN10(8), TN10(9),
    TN100(1), TN100(2), TN100(3), TN100(4), TN100(5), TN100(6), TN100(7), TN100(8), TN100(9),
};

const char *lorc_type_name(uint32_t type) {
    const lorc_type_info *t = lorc_type_get(type);
    if (t) return t->name;
    if (type < 1000) return unknown_names[type];
    return "type#>=1000"; /* callers that need the exact id print it themselves */
}

static int ascii_upper(int c) { return (c >= 'a' && c <= 'z') ? c - 'a' + 'A' : c; }

int lorc_type_from_name(const char *name) {
    if (name == NULL) return -1;
    for (int id = 0; id < LORC_TYPE_COUNT; id++) {
        const char *t = type_table[id].name;
        if (t == NULL) continue;
        size_t i = 0;
        while (t[i] && name[i] && ascii_upper((unsigned char)name[i]) == t[i]) i++;
        if (t[i] == '\0' && name[i] == '\0') return id;
    }
    return -1;
}

bool lorc_type_supported(uint32_t type) {
    const lorc_type_info *t = lorc_type_get(type);
    return t != NULL && t->to_float != NULL;
}

size_t lorc_row_bytes(uint32_t type, int64_t n) {
    const lorc_type_info *t = lorc_type_get(type);
    if (t == NULL || n < 0 || n % t->block_size != 0) return 0;
    uint64_t blocks = (uint64_t)(n / t->block_size);
    if (blocks > SIZE_MAX / t->block_bytes) return 0;
    return (size_t)blocks * t->block_bytes;
}

/* ---- IEEE 754 binary16 and bfloat16 ---- */

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float lorc_fp16_to_fp32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    if (exp == 0x1f) return bits_f32(sign | 0x7f800000u | (mant << 13)); /* inf / NaN (payload kept) */
    if (exp != 0) return bits_f32(sign | ((exp + 112u) << 23) | (mant << 13));
    /* zero or subnormal: mant * 2^-24, exact in float */
    float v = (float)mant * 0x1p-24f;
    return sign ? -v : v;
}

uint16_t lorc_fp32_to_fp16(float f) {
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu)); /* NaN stays NaN */
    /* 65520 is halfway between 65504 (max half) and 2^16; the tie goes to the
     * even neighbour, which is infinity. */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);
    uint32_t e = a >> 23;
    if (e < 113) { /* below 2^-14: half subnormal (or zero) */
        if (e < 102) return sign; /* below 2^-25: rounds to zero even at the tie */
        uint32_t mant = (a & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126 - e; /* 14..24: value * 2^24 = mant >> shift */
        uint32_t q = mant >> shift, rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1u))) q++; /* may carry into the smallest normal: still right */
        return (uint16_t)(sign | q);
    }
    uint32_t q = ((e - 112) << 10) | ((a >> 13) & 0x3ffu);
    uint32_t rem = a & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (q & 1u))) q++; /* carry into the exponent is correct */
    return (uint16_t)(sign | q);
}

float lorc_bf16_to_fp32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t lorc_fp32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); /* quiet NaN, sign kept */
    u += 0x7fffu + ((u >> 16) & 1u); /* round to nearest, ties to even */
    return (uint16_t)(u >> 16);
}
