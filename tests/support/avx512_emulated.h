/* avx512_emulated.h — for the avx512_emulated*.c files only: the names the
 * AVX-512 fill functions take in their emulated builds (so that they link
 * next to the real ones). Included before any other header there. */
#ifndef LORC_TESTS_AVX512_EMULATED_H
#define LORC_TESTS_AVX512_EMULATED_H

#define lorc_kernels_fill_avx512_legacy lorc_emulated_fill_avx512_legacy
#define lorc_kernels_fill_avx512_float lorc_emulated_fill_avx512_float
#define lorc_kernels_fill_avx512_attention lorc_emulated_fill_avx512_attention
#define lorc_kernels_fill_avx512_q4k lorc_emulated_fill_avx512_q4k
#define lorc_kernels_fill_avx512_kq_pairs lorc_emulated_fill_avx512_kq_pairs
#define lorc_kernels_fill_avx512_kq16 lorc_emulated_fill_avx512_kq16
#define lorc_kernels_fill_avx512_q23k lorc_emulated_fill_avx512_q23k
#define lorc_kernels_fill_avx512_q45 lorc_emulated_fill_avx512_q45
#define lorc_kernels_fill_avx512_q8_0 lorc_emulated_fill_avx512_q8_0
#define lorc_kernels_fill_avx512_short lorc_emulated_fill_avx512_short

#endif
