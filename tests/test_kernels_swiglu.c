/* test_kernels_swiglu.c — the vec kernels' SwiGLU step (silu(gate) * up):
 * each ISA's against the scalar reference (expf) within a few ulp, on
 * ordinary, tiny, huge and non-finite values, and every element with the
 * same bits wherever it sits in the array (the forward pass splits the
 * batch's values across threads, and a row alone must equal the same row
 * in a batch). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/kernels.h"
#include "tensor/ops.h"
#include "testutil.h"

enum { N = 203 };

static float value(int i) {
    static const float special[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 88.0f, -88.0f, 100.0f, -100.0f, 1e30f, -1e30f};
    if (i < (int)(sizeof special / sizeof special[0])) return special[i];
    return (float)(sin(i * 1.7) * 12.0 * (i % 7 == 0 ? 3.0 : 1.0));
}

static void check_isa(const lorc_kernels *k) {
    float gate[N], up[N], want[N], got[N];
    for (int i = 0; i < N; i++) {
        gate[i] = value(i);
        up[i] = (float)cos(i * 0.37) * 2.0f;
    }
    memcpy(want, gate, sizeof want);
    lorc_swiglu(want, up, N);
    memcpy(got, gate, sizeof got);
    k->vec.swiglu_f32(got, up, N);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        const double tol = 4e-7 * fabs((double)want[i]) + 1e-37;
        if (!(fabs((double)got[i] - want[i]) <= tol) && bad++ < 3)
            fprintf(stderr, "%s: swiglu(%g, %g) = %.9g, scalar %.9g\n", lorc_isa_name(k->isa), gate[i], up[i], got[i],
                    want[i]);
    }
    CHECK_MSG(bad == 0, "%s: %d elements off the scalar SwiGLU", lorc_isa_name(k->isa), bad);
    /* non-finite inputs: NaN stays NaN, -inf gives -0 * up, +inf gives inf * up */
    float g3[3] = {NAN, -INFINITY, INFINITY}, u3[3] = {1.0f, 2.0f, 3.0f};
    k->vec.swiglu_f32(g3, u3, 3);
    CHECK(isnan(g3[0]));
    CHECK(g3[1] == 0.0f || isnan(g3[1])); /* -inf / inf: the scalar path gives NaN as well */
    CHECK(isinf(g3[2]) && g3[2] > 0);
    /* position invariance: every element of every slice [s, e) equals the
     * same element of the whole-array call, bit for bit */
    int moved = 0;
    for (int s = 0; s < 9; s++)
        for (int e = s + 1; e <= N; e += 13) {
            float part[N];
            memcpy(part, gate + s, (size_t)(e - s) * sizeof(float));
            k->vec.swiglu_f32(part, up + s, e - s);
            for (int i = s; i < e; i++)
                if (memcmp(&part[i - s], &got[i], sizeof(float)) != 0 && moved++ < 3)
                    fprintf(stderr, "%s: element %d differs in slice [%d, %d)\n", lorc_isa_name(k->isa), i, s, e);
        }
    CHECK_MSG(moved == 0, "%s: %d elements depend on their place", lorc_isa_name(k->isa), moved);
}

int main(void) {
    lorc_cpu_features cpu;
    lorc_cpu_detect(&cpu);
    for (int isa = 0; isa < LORC_ISA_COUNT; isa++) {
        if (!lorc_isa_supported(&cpu, (lorc_isa)isa) || !lorc_isa_built((lorc_isa)isa)) continue;
        lorc_kernels k;
        lorc_kernels_init(&k, &cpu, (lorc_isa)isa);
        CHECK(k.vec.swiglu_f32 != NULL);
        check_isa(&k);
        printf("%s: swiglu checked\n", lorc_isa_name(k.isa));
    }
    return test_finish("kernels_swiglu");
}
