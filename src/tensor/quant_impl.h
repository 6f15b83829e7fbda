/* quant_impl.h — private to src/tensor: ggml's block layouts as byte structs
 * and the scalar kernels the type table (types.c) points at.
 *
 * Every field is a byte array, so a block has alignment 1 and no padding:
 * rows can start at any address (mmap offsets, test buffers) and multi-byte
 * fields are read as little-endian explicitly, whatever the host. The
 * _Static_asserts pin the sizes to ggml's (a GGUF row is blocks back to back). */
#ifndef LORC_TENSOR_QUANT_IMPL_H
#define LORC_TENSOR_QUANT_IMPL_H

#include <stdint.h>
#include <string.h>

#include "types.h"

#define LORC_QK 32   /* values per block of the legacy types */
#define LORC_QK_K 256 /* values per super-block of the k-quants */

/* ---- legacy: 32 values per block ---- */

typedef struct { uint8_t d[2]; uint8_t qs[16]; } lorc_block_q4_0;              /* x = d*(q-8) */
typedef struct { uint8_t d[2]; uint8_t m[2]; uint8_t qs[16]; } lorc_block_q4_1; /* x = d*q + m */
typedef struct { uint8_t d[2]; uint8_t qh[4]; uint8_t qs[16]; } lorc_block_q5_0; /* x = d*(q-16) */
typedef struct { uint8_t d[2]; uint8_t m[2]; uint8_t qh[4]; uint8_t qs[16]; } lorc_block_q5_1; /* x = d*q + m */
typedef struct { uint8_t d[2]; int8_t qs[32]; } lorc_block_q8_0;               /* x = d*q */
typedef struct { uint8_t d[2]; uint8_t s[2]; int8_t qs[32]; } lorc_block_q8_1;  /* x = d*q; s = d*sum(q) */

_Static_assert(sizeof(lorc_block_q4_0) == 18, "q4_0 block");
_Static_assert(sizeof(lorc_block_q4_1) == 20, "q4_1 block");
_Static_assert(sizeof(lorc_block_q5_0) == 22, "q5_0 block");
_Static_assert(sizeof(lorc_block_q5_1) == 24, "q5_1 block");
_Static_assert(sizeof(lorc_block_q8_0) == 34, "q8_0 block");
_Static_assert(sizeof(lorc_block_q8_1) == 36, "q8_1 block");

/* ---- k-quants: 256 values per super-block ---- */

/* 16 sub-blocks of 16; scales[j]: low nibble scale, high nibble min;
 * x = d*sc*q - dmin*m, q 2 bits. */
typedef struct { uint8_t scales[16]; uint8_t qs[64]; uint8_t d[2]; uint8_t dmin[2]; } lorc_block_q2_K;
/* 16 sub-blocks of 16; 6-bit signed scales (offset 32) packed in 12 bytes;
 * q = low 2 bits from qs, minus 4 when the hmask bit is clear; x = d*(sc-32)*q. */
typedef struct { uint8_t hmask[32]; uint8_t qs[64]; uint8_t scales[12]; uint8_t d[2]; } lorc_block_q3_K;
/* 8 sub-blocks of 32; 6-bit scale and min per sub-block packed in 12 bytes;
 * x = d*sc*q - dmin*m, q 4 bits. */
typedef struct { uint8_t d[2]; uint8_t dmin[2]; uint8_t scales[12]; uint8_t qs[128]; } lorc_block_q4_K;
/* As q4_K with a fifth bit per value in qh. */
typedef struct { uint8_t d[2]; uint8_t dmin[2]; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; } lorc_block_q5_K;
/* 16 sub-blocks of 16; q = (4 low bits | 2 high bits << 4) - 32; x = d*sc*q, sc int8. */
typedef struct { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint8_t d[2]; } lorc_block_q6_K;
/* Intermediate type (never in files): float d, int8 q, sums of q per 16. */
typedef struct { uint8_t d[4]; int8_t qs[256]; uint8_t bsums[32]; } lorc_block_q8_K;

_Static_assert(sizeof(lorc_block_q2_K) == 84, "q2_K block");
_Static_assert(sizeof(lorc_block_q3_K) == 110, "q3_K block");
_Static_assert(sizeof(lorc_block_q4_K) == 144, "q4_K block");
_Static_assert(sizeof(lorc_block_q5_K) == 176, "q5_K block");
_Static_assert(sizeof(lorc_block_q6_K) == 210, "q6_K block");
_Static_assert(sizeof(lorc_block_q8_K) == 292, "q8_K block");

/* ---- little-endian field access ---- */

static inline uint16_t lorc_rd_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline void lorc_wr_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v & 0xff);
    p[1] = (uint8_t)(v >> 8);
}
/* Half -> float for the hot loops without a call or a hard-to-predict
 * branch: the half's exponent and mantissa moved into float position give
 * the value times 2^-112 (subnormals included, exactly), so one multiply by
 * 2^112 rescales; only inf/NaN (exponent 31) need their bits instead. Same
 * results as lorc_fp16_to_fp32 (test_types checks all 65536). */
static inline float lorc_half_inline(uint16_t h) {
    uint32_t m = (uint32_t)(h & 0x7fffu) << 13;
    float f;
    memcpy(&f, &m, sizeof f);
    f *= 0x1p112f;
    if ((h & 0x7c00u) == 0x7c00u) {
        m |= 0x7f800000u;
        memcpy(&f, &m, sizeof f);
    }
    return (h & 0x8000u) ? -f : f;
}

static inline float lorc_rd_f16(const uint8_t *p) { return lorc_half_inline(lorc_rd_u16(p)); }
static inline void lorc_wr_f16(uint8_t *p, float v) { lorc_wr_u16(p, lorc_fp32_to_fp16(v)); }

/* ---- kernels (scalar reference; n is a multiple of the block size) ---- */

/* quant_float.c */
void lorc_f32_to_float(const void *src, float *dst, int64_t n);
void lorc_f32_from_float(const float *src, void *dst, int64_t n);
float lorc_f32_vec_dot(const void *w, const void *x, int64_t n);
void lorc_f16_to_float(const void *src, float *dst, int64_t n);
void lorc_f16_from_float(const float *src, void *dst, int64_t n);
float lorc_f16_vec_dot(const void *w, const void *x, int64_t n);
void lorc_bf16_to_float(const void *src, float *dst, int64_t n);
void lorc_bf16_from_float(const float *src, void *dst, int64_t n);
float lorc_bf16_vec_dot(const void *w, const void *x, int64_t n);

/* quant_legacy.c */
void lorc_q4_0_to_float(const void *src, float *dst, int64_t n);
void lorc_q4_0_from_float(const float *src, void *dst, int64_t n);
float lorc_q4_0_vec_dot(const void *w, const void *x, int64_t n);
void lorc_q4_1_to_float(const void *src, float *dst, int64_t n);
void lorc_q4_1_from_float(const float *src, void *dst, int64_t n);
float lorc_q4_1_vec_dot(const void *w, const void *x, int64_t n);
void lorc_q5_0_to_float(const void *src, float *dst, int64_t n);
void lorc_q5_0_from_float(const float *src, void *dst, int64_t n);
float lorc_q5_0_vec_dot(const void *w, const void *x, int64_t n);
void lorc_q5_1_to_float(const void *src, float *dst, int64_t n);
void lorc_q5_1_from_float(const float *src, void *dst, int64_t n);
float lorc_q5_1_vec_dot(const void *w, const void *x, int64_t n);
void lorc_q8_0_to_float(const void *src, float *dst, int64_t n);
void lorc_q8_0_from_float(const float *src, void *dst, int64_t n);
float lorc_q8_0_vec_dot(const void *w, const void *x, int64_t n);
void lorc_q8_1_to_float(const void *src, float *dst, int64_t n);
void lorc_q8_1_from_float(const float *src, void *dst, int64_t n);
float lorc_q8_1_vec_dot(const void *w, const void *x, int64_t n);

/* quant_kquants.c (decode + dot) and quant_kquants_quantize.c (encode) */
void lorc_q2_K_to_float(const void *src, float *dst, int64_t n);
void lorc_q2_K_from_float(const float *src, void *dst, int64_t n);
float lorc_q2_K_vec_dot(const void *w, const void *x, int64_t n);
void lorc_q3_K_to_float(const void *src, float *dst, int64_t n);
void lorc_q3_K_from_float(const float *src, void *dst, int64_t n);
float lorc_q3_K_vec_dot(const void *w, const void *x, int64_t n);
void lorc_q4_K_to_float(const void *src, float *dst, int64_t n);
void lorc_q4_K_from_float(const float *src, void *dst, int64_t n);
float lorc_q4_K_vec_dot(const void *w, const void *x, int64_t n);
void lorc_q5_K_to_float(const void *src, float *dst, int64_t n);
void lorc_q5_K_from_float(const float *src, void *dst, int64_t n);
float lorc_q5_K_vec_dot(const void *w, const void *x, int64_t n);
void lorc_q6_K_to_float(const void *src, float *dst, int64_t n);
void lorc_q6_K_from_float(const float *src, void *dst, int64_t n);
float lorc_q6_K_vec_dot(const void *w, const void *x, int64_t n);
void lorc_q8_K_to_float(const void *src, float *dst, int64_t n);
void lorc_q8_K_from_float(const float *src, void *dst, int64_t n);
float lorc_q8_K_vec_dot(const void *w, const void *x, int64_t n);

/* Unpacks the 12-byte scale field of q4_K/q5_K: sub-block j (0..7) gets a
 * 6-bit scale sc[j] and a 6-bit min m[j]. */
void lorc_kq_unpack_scales_mins(const uint8_t packed[12], uint8_t sc[8], uint8_t m[8]);
/* Packs 8 scales and 8 mins (each 0..63) into the 12-byte field. */
void lorc_kq_pack_scales_mins(const uint8_t sc[8], const uint8_t m[8], uint8_t packed[12]);
/* Unpacks q3_K's 12-byte field into 16 signed scales (6-bit value minus 32). */
void lorc_q3_K_unpack_scales(const uint8_t packed[12], int8_t sc[16]);
/* Packs 16 6-bit values (0..63, i.e. scale+32) into q3_K's 12-byte field. */
void lorc_q3_K_pack_scales(const uint8_t v[16], uint8_t packed[12]);

#endif
