/* avx512_emulated_attention.c — src/tensor/simd/avx512_attention.c with emulated
 * AVX-512 instructions, for the tests (see avx512_emulated.c). */
#if defined(LORC_TEST_AVX512_EMULATION) && defined(__x86_64__)
#include "avx512_emulation.h"
#include "avx512_emulated.h"
#include "tensor/simd/avx512_attention.c"
#else
typedef int lorc_avx512_emulated_attention_unused; /* ISO C wants a declaration in every file */
#endif
