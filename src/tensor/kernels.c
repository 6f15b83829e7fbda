/* kernels.c — CPU feature detection and the run-time choice of kernel
 * family. The table lives in whoever calls lorc_kernels_init (the context);
 * nothing here is global. */
#include "kernels.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

/* XCR0: which register states the OS saves on a context switch. Without
 * the YMM (and for AVX-512 the opmask/ZMM) bits the instructions fault even
 * when CPUID lists them. */
static uint64_t read_xcr0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

void lorc_cpu_detect(lorc_cpu_features *f) {
    memset(f, 0, sizeof *f);
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    const bool osxsave = (c >> 27) & 1, has_avx = (c >> 28) & 1;
    const bool fma = (c >> 12) & 1, f16c = (c >> 29) & 1;
    if (!osxsave || !has_avx) return;
    const uint64_t xcr0 = read_xcr0();
    const bool ymm_ok = (xcr0 & 0x6) == 0x6;          /* SSE + AVX state */
    const bool zmm_ok = ymm_ok && (xcr0 & 0xe0) == 0xe0; /* opmask + ZMM state */
    if (!ymm_ok) return;
    unsigned max_leaf = __get_cpuid_max(0, NULL);
    if (max_leaf < 7) return;
    __cpuid_count(7, 0, a, b, c, d);
    f->avx2 = (b >> 5) & 1;
    f->fma = fma;
    f->f16c = f16c;
    if (zmm_ok) {
        f->avx512f = (b >> 16) & 1;
        f->avx512bw = (b >> 30) & 1;
        f->avx512vl = (b >> 31) & 1;
        f->avx512vnni = (c >> 11) & 1;
        f->avx512vbmi = (c >> 1) & 1;
    }
    unsigned a1, b1, c1, d1;
    __cpuid_count(7, 1, a1, b1, c1, d1);
    f->avxvnni = (a1 >> 4) & 1;
    if (zmm_ok) f->avx512bf16 = (a1 >> 5) & 1;
}
#elif defined(__aarch64__)
void lorc_cpu_detect(lorc_cpu_features *f) {
    memset(f, 0, sizeof *f);
    f->neon = true; /* part of the AArch64 base ISA */
#if defined(__ARM_FEATURE_DOTPROD)
    f->dotprod = true;
#endif
}
#else
void lorc_cpu_detect(lorc_cpu_features *f) { memset(f, 0, sizeof *f); }
#endif

bool lorc_isa_supported(const lorc_cpu_features *f, lorc_isa isa) {
    switch (isa) {
    case LORC_ISA_SCALAR:
        return true;
    case LORC_ISA_AVX2:
        return f->avx2 && f->fma && f->f16c;
    case LORC_ISA_AVX512:
        return f->avx2 && f->fma && f->f16c && f->avx512f && f->avx512bw && f->avx512vl;
    case LORC_ISA_NEON:
        return f->neon;
    default:
        return false;
    }
}

/* Families whose kernels this build contains. The AVX-512 family is the
 * AVX2 one with AVX-512 tiles where it has them (kernels_init). */
bool lorc_isa_built(lorc_isa isa) {
    switch (isa) {
    case LORC_ISA_SCALAR:
        return true;
#if defined(__x86_64__)
    case LORC_ISA_AVX2:
    case LORC_ISA_AVX512:
        return true;
#endif
#if defined(__aarch64__)
    case LORC_ISA_NEON:
        return true;
#endif
    default:
        return false;
    }
}

lorc_isa lorc_isa_best(const lorc_cpu_features *f) {
    for (int i = LORC_ISA_COUNT - 1; i > 0; i--)
        if (lorc_isa_built((lorc_isa)i) && lorc_isa_supported(f, (lorc_isa)i)) return (lorc_isa)i;
    return LORC_ISA_SCALAR;
}

static const char *const isa_names[LORC_ISA_COUNT] = {"scalar", "avx2", "avx512", "neon"};

const char *lorc_isa_name(lorc_isa isa) { return (unsigned)isa < LORC_ISA_COUNT ? isa_names[isa] : "unknown"; }

int lorc_isa_from_name(const char *name) {
    if (!name) return -1;
    if (strcmp(name, "auto") == 0) return LORC_ISA_COUNT; /* caller picks lorc_isa_best */
    for (int i = 0; i < LORC_ISA_COUNT; i++)
        if (strcmp(name, isa_names[i]) == 0) return i;
    return -1;
}

void lorc_kernels_init_scalar(lorc_kernels *k) {
    memset(k, 0, sizeof *k);
    k->isa = LORC_ISA_SCALAR;
    lorc_kernels_fill_scalar(k);
}

void lorc_kernels_init(lorc_kernels *k, const lorc_cpu_features *cpu, lorc_isa isa) {
    lorc_kernels_init_scalar(k);
    k->cpu = *cpu;
    if (!lorc_isa_built(isa)) return;
    k->isa = isa;
    if (isa == LORC_ISA_AVX2 || isa == LORC_ISA_AVX512) {
        lorc_kernels_fill_avx2_float(k);
        lorc_kernels_fill_avx2_legacy(k);
        lorc_kernels_fill_avx2_kquants(k);
        lorc_kernels_fill_avx2_ffn(k);
        lorc_kernels_fill_avx2_short(k);
        lorc_kernels_fill_avx2_vec(k);
    }
    if (isa == LORC_ISA_AVX512) {
        lorc_kernels_fill_avx512_float(k);
        lorc_kernels_fill_avx512_attention(k);
        lorc_kernels_fill_avx512_legacy(k);
        lorc_kernels_fill_avx512_q4k(k);
        lorc_kernels_fill_avx512_kq_pairs(k);
        lorc_kernels_fill_avx512_kq16(k);
        lorc_kernels_fill_avx512_q23k(k);
        lorc_kernels_fill_avx512_q45(k);
        lorc_kernels_fill_avx512_q8_0(k);
        lorc_kernels_fill_avx512_short(k);
    }
    if (isa == LORC_ISA_NEON) {
        lorc_kernels_fill_neon_float(k);
        lorc_kernels_fill_neon_legacy(k);
        lorc_kernels_fill_neon_kquants(k);
        lorc_kernels_fill_neon_vec(k);
    }
}
