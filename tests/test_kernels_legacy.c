/* test_kernels_legacy.c — the AVX2 and AVX-512 tiles of Q4_0, Q4_1, Q5_0, Q5_1, Q8_0
 * against the scalar reference (random and extreme blocks, every nr/nc and
 * place, unaligned rows, bit-identical pairs), and the accuracy rule: the
 * activation format may add at most ~10% error variance, i.e. the fast
 * dot's RMS error against the dequantized weights' exact dot must stay
 * <= 0.3 x the scalar dot's RMS error against the unquantized weights. */
#include <stdio.h>

#include "kernel_check.h"
#include "tensor/kernels.h"
#include "testutil.h"

static const uint32_t types[] = {LORC_TYPE_Q4_0, LORC_TYPE_Q4_1, LORC_TYPE_Q5_0, LORC_TYPE_Q5_1, LORC_TYPE_Q8_0};
enum { N_TYPES = sizeof types / sizeof types[0] };

static void check_family(const lorc_kernels *fast, const lorc_kernels *ref) {
    for (int i = 0; i < N_TYPES; i++) {
        const uint32_t t = types[i];
        const lorc_type_kernel *k = &fast->type[t];
        kc_check_tile(fast, ref, t, 1000 + (uint64_t)t);
        if (k->pack) kc_check_packed(fast, t, 3000 + (uint64_t)t);
        const double ratio = kc_accuracy_ratio(fast, ref, t, 77 + (uint64_t)t);
        printf("%-6s %-7s tile %dx%d act %-9s accuracy ratio %.4f\n", lorc_isa_name(fast->isa),
               lorc_type_name(t), k->tile_rows, k->tile_cols, k->act->name, ratio);
        CHECK_MSG(ratio <= 0.3, "%s on %s: accuracy ratio %.4f > 0.3", lorc_type_name(t), lorc_isa_name(fast->isa),
                  ratio);
    }
}

static void check_avx512(const lorc_kernels *k, const lorc_kernels *ref) {
    for (int i = 0; i < N_TYPES; i++)
        CHECK_MSG(lorc_packed_rows(&k->type[types[i]]) == 16, "avx512 %s: %d packed rows, want 16",
                  lorc_type_name(types[i]), lorc_packed_rows(&k->type[types[i]]));
    /* its own decode tiles (the 4/5-bit types' need VBMI), which
     * kc_check_tile's one-column sub-tiles hold to the AVX2 tiles' bits */
    lorc_kernels avx2;
    lorc_kernels_init(&avx2, &k->cpu, LORC_ISA_AVX2);
    for (int i = 0; i < N_TYPES; i++)
        if (types[i] == LORC_TYPE_Q8_0 || k->cpu.avx512vbmi)
            CHECK_MSG(k->type[types[i]].tile != avx2.type[types[i]].tile, "avx512 %s: the AVX2 tile",
                      lorc_type_name(types[i]));
    check_family(k, ref);
}

int main(void) {
    lorc_cpu_features cpu;
    lorc_cpu_detect(&cpu);
    lorc_kernels ref;
    lorc_kernels_init_scalar(&ref);
    /* The harness itself on the reference (also what a CPU without AVX2 gets). */
    check_family(&ref, &ref);
    if (lorc_isa_supported(&cpu, LORC_ISA_AVX2)) {
        lorc_kernels avx2;
        lorc_kernels_init(&avx2, &cpu, LORC_ISA_AVX2);
        CHECK(avx2.isa == LORC_ISA_AVX2);
        for (int i = 0; i < N_TYPES; i++) CHECK(avx2.type[types[i]].tile != ref.type[types[i]].tile);
        /* every legacy type packs its weight tiles for prompts */
        for (int i = 0; i < N_TYPES; i++) CHECK(avx2.type[types[i]].pack != NULL);
        check_family(&avx2, &ref);
    } else {
        printf("this CPU has no AVX2+FMA+F16C: only the scalar path was checked\n");
    }
    /* The AVX-512 family: the real one on a CPU with AVX-512 VNNI, and on
     * every CPU with AVX2 the same code with its AVX-512 instructions
     * emulated. Its packed tiles hold 16 rows; kc_check_packed holds them
     * to the AVX2 streaming tile's bits. */
    lorc_kernels avx512;
    if (lorc_isa_supported(&cpu, LORC_ISA_AVX512) && cpu.avx512vnni) {
        lorc_kernels_init(&avx512, &cpu, LORC_ISA_AVX512);
        CHECK(avx512.isa == LORC_ISA_AVX512);
        check_avx512(&avx512, &ref);
    }
    if (kc_avx512_emulated(&avx512, &cpu)) {
        printf("AVX-512 family with emulated instructions:\n");
        check_avx512(&avx512, &ref);
    } else {
        CHECK_MSG(!lorc_isa_supported(&cpu, LORC_ISA_AVX2),
                  "the AVX-512 tiles cannot be checked: this build has no SIMDe (install libsimde-dev)");
    }
    return test_finish("kernels_legacy");
}
