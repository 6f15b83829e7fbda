/* kernel_check.h — shared checks for the kernel families' tests: a fast
 * type kernel (tile + activation format) against the scalar reference on
 * random and extreme data, batch invariance, and the accuracy ratio. */
#ifndef LORC_TESTS_KERNEL_CHECK_H
#define LORC_TESTS_KERNEL_CHECK_H

#include <stdbool.h>
#include <stdint.h>

#include "tensor/kernels.h"

/* Fast tile of `type` in `fast` against the scalar tile of `ref` (F32
 * activations) for several row lengths (one block, many, a non-power-of-two
 * count), every nr <= tile_rows and nc <= tile_cols at every place in a
 * full tile, unaligned rows, tiny/huge/zero block scales and max-magnitude
 * quants. Checks (CHECK) that each result is within the bound the
 * activation format's rounding allows, that every pair is bit-identical
 * whatever nr, nc and place, and that nothing outside the nr x nc outputs
 * is written. */
void kc_check_tile(const lorc_kernels *fast, const lorc_kernels *ref, uint32_t type, uint64_t seed);

/* For a type whose kernel packs (lorc_type_kernel.pack): the packed tile
 * gives exactly the unpacked tile's bits for every nr, nc, and writes
 * nothing else. */
void kc_check_packed(const lorc_kernels *fast, uint32_t type, uint64_t seed);

/* The AVX-512 family (lorc_kernels_init's, with VNNI) built so that it
 * runs on any CPU with AVX2: every AVX-512 instruction emulated by SIMDe
 * (avx512_emulated.c). Slow; for tests on machines without AVX-512. False
 * when this CPU lacks AVX2 or the build lacked SIMDe (libsimde-dev). */
bool kc_avx512_emulated(lorc_kernels *k, const lorc_cpu_features *cpu);

/* RMS error of the fast dot against the exact (double) dot with the
 * dequantized weights, divided by the RMS error of the scalar dot against
 * the exact dot with the original float weights (Gaussian weights and
 * activations, weights quantized with the type's own quantizer). */
double kc_accuracy_ratio(const lorc_kernels *fast, const lorc_kernels *ref, uint32_t type, uint64_t seed);

/* Deterministic test randomness. */
typedef struct kc_rng {
    uint64_t s;
} kc_rng;
uint64_t kc_next(kc_rng *r);
double kc_uniform(kc_rng *r); /* [0, 1) */
double kc_gauss(kc_rng *r);

#endif
