/* avx512_emulated.c — the AVX-512 family for CPUs without AVX-512: the
 * AVX-512 kernel files built once more (here avx512_legacy.c, in
 * avx512_emulated_*.c the others), under other names, with every AVX-512
 * intrinsic emulated (avx512_emulation.h), on top of the AVX2 family.
 * The tests run it next to the AVX2 family on any x86-64 machine; on an
 * AVX-512 machine they also run the real one. CMake builds these files
 * with the AVX2 flags and LORC_TEST_AVX512_EMULATION when SIMDe is there. */
#if defined(LORC_TEST_AVX512_EMULATION) && defined(__x86_64__)
#include "avx512_emulation.h"

#include "avx512_emulated.h"
#include "tensor/simd/avx512_legacy.c"

#include "kernel_check.h"

bool kc_avx512_emulated(lorc_kernels *k, const lorc_cpu_features *cpu) {
    if (!lorc_isa_supported(cpu, LORC_ISA_AVX2)) return false;
    lorc_kernels_init(k, cpu, LORC_ISA_AVX2);
    k->isa = LORC_ISA_AVX512;
    k->cpu.avx512vnni = true;
    k->cpu.avx512vbmi = true;
    lorc_emulated_fill_avx512_float(k);
    lorc_emulated_fill_avx512_attention(k);
    lorc_emulated_fill_avx512_legacy(k);
    lorc_emulated_fill_avx512_q4k(k);
    lorc_emulated_fill_avx512_kq_pairs(k);
    lorc_emulated_fill_avx512_kq16(k);
    lorc_emulated_fill_avx512_q23k(k);
    lorc_emulated_fill_avx512_q45(k);
    lorc_emulated_fill_avx512_q8_0(k);
    lorc_emulated_fill_avx512_short(k);
    return true;
}
#else
#include "kernel_check.h"

bool kc_avx512_emulated(lorc_kernels *k, const lorc_cpu_features *cpu) {
    (void)k;
    (void)cpu;
    return false;
}
#endif
