/* types.h — the ggml tensor types lorc reads, bit-compatible with GGUF files:
 * block layout, dequantize, fused dot product, and (for some) quantize.
 * One table row per type; kernels live in the per-family .c files.
 * This table holds the plain scalar versions: the reference and fallback. */
#ifndef LORC_TENSOR_TYPES_H
#define LORC_TENSOR_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ggml's type ids, as stored in GGUF tensor infos. */
typedef enum lorc_type {
    LORC_TYPE_F32 = 0,
    LORC_TYPE_F16 = 1,
    LORC_TYPE_Q4_0 = 2,
    LORC_TYPE_Q4_1 = 3,
    /* 4, 5: removed Q4_2 / Q4_3 */
    LORC_TYPE_Q5_0 = 6,
    LORC_TYPE_Q5_1 = 7,
    LORC_TYPE_Q8_0 = 8,
    LORC_TYPE_Q8_1 = 9,
    LORC_TYPE_Q2_K = 10,
    LORC_TYPE_Q3_K = 11,
    LORC_TYPE_Q4_K = 12,
    LORC_TYPE_Q5_K = 13,
    LORC_TYPE_Q6_K = 14,
    LORC_TYPE_Q8_K = 15,
    LORC_TYPE_IQ2_XXS = 16,
    LORC_TYPE_IQ2_XS = 17,
    LORC_TYPE_IQ3_XXS = 18,
    LORC_TYPE_IQ1_S = 19,
    LORC_TYPE_IQ4_NL = 20,
    LORC_TYPE_IQ3_S = 21,
    LORC_TYPE_IQ2_S = 22,
    LORC_TYPE_IQ4_XS = 23,
    LORC_TYPE_I8 = 24,
    LORC_TYPE_I16 = 25,
    LORC_TYPE_I32 = 26,
    LORC_TYPE_I64 = 27,
    LORC_TYPE_F64 = 28,
    LORC_TYPE_IQ1_M = 29,
    LORC_TYPE_BF16 = 30,
    /* 31-33: removed Q4_0_4_4 / Q4_0_4_8 / Q4_0_8_8 */
    LORC_TYPE_TQ1_0 = 34,
    LORC_TYPE_TQ2_0 = 35,
    /* 36-38: removed IQ4_NL_4_4 / _4_8 / _8_8 */
    LORC_TYPE_MXFP4 = 39,
    LORC_TYPE_COUNT = 40
} lorc_type;

/* Dequantizes n values (n a multiple of block_size). */
typedef void (*lorc_to_float_fn)(const void *src, float *dst, int64_t n);
/* Quantizes n values (n a multiple of block_size). */
typedef void (*lorc_from_float_fn)(const float *src, void *dst, int64_t n);
/* Dot product of one weight row of n values with an activation row already
 * converted to the type's dot_type (see lorc_type_info). */
typedef float (*lorc_vec_dot_fn)(const void *w_row, const void *x_row, int64_t n);

typedef struct lorc_type_info {
    const char *name;      /* "Q4_K", as llama.cpp prints it */
    int64_t block_size;    /* values per block (1 for float types) */
    size_t block_bytes;    /* bytes per block */
    bool quantized;
    lorc_to_float_fn to_float;     /* NULL: lorc cannot compute with this type */
    lorc_from_float_fn from_float; /* NULL: lorc cannot write this type */
    lorc_vec_dot_fn vec_dot;       /* NULL when to_float is NULL */
    lorc_type dot_type;            /* type activations are converted to for vec_dot (F32 in the scalar path) */
} lorc_type_info;

/* Row of the table, or NULL for an id that is not a ggml type at all. Ids of
 * real types lorc can't compute with (IQ*, TQ*, ...) return a row whose
 * to_float is NULL so callers can name the type in their refusal. */
const lorc_type_info *lorc_type_get(uint32_t type);
/* "Q4_K", or "type#N" for unknown ids (static storage, never NULL). */
const char *lorc_type_name(uint32_t type);
/* Looks a type up by its name, case-insensitively ("q4_k", "F16"); -1 if none. */
int lorc_type_from_name(const char *name);
/* True when lorc can dequantize/dot this type. */
bool lorc_type_supported(uint32_t type);
/* Bytes of a row of n values; 0 if n is not a multiple of the block size. */
size_t lorc_row_bytes(uint32_t type, int64_t n);

/* IEEE half and bfloat16 conversions (round-to-nearest-even on the way down). */
float lorc_fp16_to_fp32(uint16_t h);
uint16_t lorc_fp32_to_fp16(float f);
float lorc_bf16_to_fp32(uint16_t h);
uint16_t lorc_fp32_to_bf16(float f);

#endif
