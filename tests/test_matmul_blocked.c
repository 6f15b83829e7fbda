/* test_matmul_blocked.c — the blocked product for every weight type and
 * every kernel family this CPU runs:
 *   - against the row-by-row double-precision reference (odd row and output
 *     counts, bias, LoRA groups, replacement weights);
 *   - batch invariance: each row of a 64-row batch is bit-identical to the
 *     same row computed alone or inside windows of 1..64 rows at several
 *     offsets, with mixed per-row adapter lists;
 *   - 1 vs 2 threads bit-identical on products large enough that the pool
 *     runs;
 *   - lorc_matmul_multi (one dispatch for several products) bit-identical to
 *     separate lorc_matmul calls. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/threadpool.h"
#include "synth.h"
#include "tensor/kernels.h"
#include "tensor/matmul.h"
#include "tensor/ops.h"
#include "tensor/types.h"
#include "kernel_check.h"
#include "matmul_bound.h"
#include "random_tensor.h"
#include "testutil.h"

static uint64_t seed_counter = 777;

/* Random [n_in, n_out] tensor of `type`, quantized from random floats;
 * each call draws new ones. */
static bool make_weight(test_tensor *o, uint32_t type, int64_t n_in, int64_t n_out, float scale) {
    return test_random_tensor(o, type, n_in, n_out, scale, seed_counter++);
}

/* Tolerance relative to the magnitude: F32 activations round only in the
 * sums; 8-bit packed activations add their own quantization error. */
static double tolerance(const lorc_kernels *k, uint32_t type) {
    const lorc_act_format *act = k->type[type].act;
    return act && strcmp(act->name, "f32") == 0 ? 1e-5 : 2e-2;
}

static void check_vs_reference(const char *what, const lorc_kernels *k, lorc_threadpool *pool,
                               lorc_matmul_args *a) {
    const size_t n = (size_t)(a->n_rows * a->w->ne[1]);
    float *y = malloc(n * sizeof(float)), *yr = malloc(n * sizeof(float));
    double *mag = malloc(n * sizeof(double));
    lorc_matmul_scratch s = {0};
    a->y = y;
    CHECK_MSG(lorc_matmul(k, pool, &s, a) == 0, "%s: lorc_matmul failed", what);
    a->y = yr;
    lorc_matmul_reference(a);
    matmul_magnitude(a, mag);
    double worst = 0;
    size_t at = 0;
    for (size_t e = 0; e < n; e++) {
        double err = fabs((double)y[e] - (double)yr[e]) / (mag[e] + 1e-30);
        if (!(err <= worst)) {
            worst = isnan(err) ? INFINITY : err;
            at = e;
        }
    }
    const double tol = tolerance(k, a->w->type);
    CHECK_MSG(worst <= tol, "%s: error %.3g of the magnitude at element %zu (got %g, want %g; tolerance %g)", what,
              worst, at, (double)y[at], (double)yr[at], tol);
    lorc_matmul_scratch_free(&s);
    free(y);
    free(yr);
    free(mag);
}

/* Adapter fixtures for one weight shape: L1 = two F32 terms, L2 = a
 * replacement of the weight's type + one term, L3 = a quantized pair. */
typedef struct fixtures {
    test_tensor a1, b1, a2, b2, a3, b3, aq, bq, rep;
    lorc_lora_term t1[2], t2[1], t3[1];
    lorc_lora_list l1, l2, l3;
} fixtures;

static bool make_fixtures(fixtures *f, uint32_t type, int64_t n_in, int64_t n_out) {
    memset(f, 0, sizeof *f);
    bool ok = make_weight(&f->a1, LORC_TYPE_F32, n_in, 16, 0.5f) && make_weight(&f->b1, LORC_TYPE_F32, 16, n_out, 0.5f) &&
              make_weight(&f->a2, LORC_TYPE_F16, n_in, 8, 0.5f) && make_weight(&f->b2, LORC_TYPE_F32, 8, n_out, 0.5f) &&
              make_weight(&f->a3, LORC_TYPE_F32, n_in, 4, 0.5f) && make_weight(&f->b3, LORC_TYPE_F16, 4, n_out, 0.5f) &&
              make_weight(&f->aq, LORC_TYPE_Q8_0, n_in, 32, 0.5f) &&
              make_weight(&f->bq, LORC_TYPE_Q8_0, 32, n_out, 0.5f) && make_weight(&f->rep, type, n_in, n_out, 0.3f);
    f->t1[0] = (lorc_lora_term){.a = &f->a1.t, .b = &f->b1.t, .scale = 0.75f};
    f->t1[1] = (lorc_lora_term){.a = &f->a2.t, .b = &f->b2.t, .scale = -1.25f};
    f->t2[0] = (lorc_lora_term){.a = &f->a3.t, .b = &f->b3.t, .scale = 2.0f};
    f->t3[0] = (lorc_lora_term){.a = &f->aq.t, .b = &f->bq.t, .scale = 0.5f};
    f->l1 = (lorc_lora_list){NULL, 2, f->t1};
    f->l2 = (lorc_lora_list){&f->rep.t, 1, f->t2};
    f->l3 = (lorc_lora_list){NULL, 1, f->t3};
    return ok;
}

static void free_fixtures(fixtures *f) {
    test_tensor *all[] = {&f->a1, &f->b1, &f->a2, &f->b2, &f->a3, &f->b3, &f->aq, &f->bq, &f->rep};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) free(all[i]->data);
}

/* Rows alone and in windows of every size at several offsets give the
 * bits of the full 64-row batch. */
static void check_invariance(const char *what, const lorc_kernels *k, lorc_threadpool *pool, const lorc_tensor *w,
                             const float *bias, const float *x, const lorc_lora_list *const *lists) {
    enum { N = 64 };
    const int64_t n_in = w->ne[0], n_out = w->ne[1];
    float *full = malloc((size_t)(N * n_out) * sizeof(float)), *part = malloc((size_t)(N * n_out) * sizeof(float));
    lorc_matmul_scratch s = {0};
    lorc_matmul_args a = {w, bias, x, full, N, lists};
    CHECK_MSG(lorc_matmul(k, pool, &s, &a) == 0, "%s: full batch failed", what);
    static const int sizes[] = {1, 2, 3, 5, 8, 13, 31, 32, 33, 63};
    int mismatches = 0, windows = 0;
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
        const int nb = sizes[si];
        const int offsets[] = {0, 1, N / 2 - nb / 2, N - nb};
        for (int oi = 0; oi < 4; oi++) {
            const int off = offsets[oi] < 0 ? 0 : offsets[oi];
            if (off + nb > N) continue;
            lorc_matmul_args wa = {w, bias, x + (int64_t)off * n_in, part, nb, lists ? lists + off : NULL};
            CHECK_MSG(lorc_matmul(k, pool, &s, &wa) == 0, "%s: window failed", what);
            windows++;
            if (memcmp(part, full + (int64_t)off * n_out, (size_t)(nb * n_out) * sizeof(float)) != 0) {
                if (mismatches++ < 3)
                    fprintf(stderr, "%s: rows %d..%d computed as a %d-row batch differ from the 64-row batch\n", what,
                            off, off + nb - 1, nb);
            }
        }
    }
    CHECK_MSG(mismatches == 0, "%s: %d of %d windows not bit-identical", what, mismatches, windows);
    lorc_matmul_scratch_free(&s);
    free(full);
    free(part);
}

/* 1 vs 2 threads on a product big enough for the pool to run. */
static void check_threads(const char *what, const lorc_kernels *k, lorc_threadpool *p1, lorc_threadpool *p2,
                          lorc_matmul_args *a) {
    const size_t n = (size_t)(a->n_rows * a->w->ne[1]);
    float *y1 = malloc(n * sizeof(float)), *y2 = malloc(n * sizeof(float));
    lorc_matmul_scratch s = {0};
    a->y = y1;
    CHECK_MSG(lorc_matmul(k, p1, &s, a) == 0, "%s: 1 thread failed", what);
    a->y = y2;
    CHECK_MSG(lorc_matmul(k, p2, &s, a) == 0, "%s: 2 threads failed", what);
    CHECK_MSG(memcmp(y1, y2, n * sizeof(float)) == 0, "%s: 1 and 2 threads differ", what);
    lorc_matmul_scratch_free(&s);
    free(y1);
    free(y2);
}

static void test_type(const lorc_kernels *k, uint32_t type, lorc_threadpool *p1, lorc_threadpool *p2) {
    const lorc_type_info *ti = lorc_type_get(type);
    const int64_t bs = ti->block_size;
    const int64_t n_in = bs == 1 ? 96 : (bs < 64 ? 64 : bs), n_out = 37;
    const char *isa = lorc_isa_name(k->isa);
    char what[160];
    test_tensor w;
    if (!make_weight(&w, type, n_in, n_out, 1.0f)) {
        CHECK_MSG(false, "%s/%s: cannot make a weight", isa, ti->name);
        free(w.data);
        return;
    }
    enum { N = 64 };
    float *x = malloc((size_t)(N * n_in) * sizeof(float)), *bias = malloc((size_t)n_out * sizeof(float));
    synth_random_floats(seed_counter++, x, N * n_in, 1.0f);
    synth_random_floats(seed_counter++, bias, n_out, 0.5f);
    fixtures f;
    bool ok = make_fixtures(&f, type, n_in, n_out);
    CHECK_MSG(ok, "%s/%s: cannot make adapter fixtures", isa, ti->name);

    /* Mixed lists: NULL rows, three lists (one with a replacement). */
    const lorc_lora_list *mixed[N];
    for (int i = 0; i < N; i++) {
        const lorc_lora_list *pick[5] = {NULL, &f.l1, &f.l2, &f.l3, &f.l1};
        mixed[i] = pick[(i * 7 + i / 5) % 5];
    }
    const lorc_lora_list *same[N];
    for (int i = 0; i < N; i++) same[i] = &f.l1;

    if (ok) {
        lorc_matmul_args a = {&w.t, bias, x, NULL, 13, NULL};
        snprintf(what, sizeof what, "%s/%s [%lld x %lld] x 13 rows + bias", isa, ti->name, (long long)n_in,
                 (long long)n_out);
        check_vs_reference(what, k, p2, &a);
        a.n_rows = 1;
        a.bias = NULL;
        snprintf(what, sizeof what, "%s/%s single row", isa, ti->name);
        check_vs_reference(what, k, p1, &a);
        a.n_rows = 13;
        a.bias = bias;
        a.row_lora = mixed;
        snprintf(what, sizeof what, "%s/%s 13 rows, mixed LoRA lists and a replacement", isa, ti->name);
        check_vs_reference(what, k, p2, &a);
        a.row_lora = same;
        snprintf(what, sizeof what, "%s/%s 13 rows, one LoRA list", isa, ti->name);
        check_vs_reference(what, k, p1, &a);

        snprintf(what, sizeof what, "%s/%s invariance, base + bias", isa, ti->name);
        check_invariance(what, k, p1, &w.t, bias, x, NULL);
        snprintf(what, sizeof what, "%s/%s invariance, mixed LoRA lists", isa, ti->name);
        check_invariance(what, k, p2, &w.t, bias, x, mixed);
        snprintf(what, sizeof what, "%s/%s invariance, one LoRA list", isa, ti->name);
        check_invariance(what, k, p2, &w.t, NULL, x, same);
    }

    /* Threads: 512 outputs × (≥ 256 inputs) is far above the serial cutoff
     * and many chunks long. */
    test_tensor big;
    const int64_t big_in = bs == 1 ? 256 : (bs < 256 ? 256 : bs), big_out = 515;
    float *bx = malloc((size_t)(9 * big_in) * sizeof(float));
    synth_random_floats(seed_counter++, bx, 9 * big_in, 1.0f);
    if (make_weight(&big, type, big_in, big_out, 1.0f)) {
        lorc_matmul_args a = {&big.t, NULL, bx, NULL, 1, NULL};
        snprintf(what, sizeof what, "%s/%s [%lld x %lld] decode row", isa, ti->name, (long long)big_in,
                 (long long)big_out);
        check_threads(what, k, p1, p2, &a);
        a.n_rows = 9;
        snprintf(what, sizeof what, "%s/%s [%lld x %lld] x 9 rows", isa, ti->name, (long long)big_in,
                 (long long)big_out);
        check_threads(what, k, p1, p2, &a);
    } else {
        CHECK_MSG(false, "%s/%s: cannot make the big weight", isa, ti->name);
    }
    free(big.data);
    free(bx);
    free_fixtures(&f);
    free(x);
    free(bias);
    free(w.data);
}

/* Three products over one input in one dispatch equal three separate ones. */
static void test_multi(const lorc_kernels *k, lorc_threadpool *pool) {
    const int64_t n_in = 256, n = 5;
    const uint32_t types[3] = {LORC_TYPE_Q4_0, LORC_TYPE_F16, LORC_TYPE_Q4_K};
    const int64_t n_outs[3] = {300, 77, 129};
    test_tensor w[3];
    float *x = malloc((size_t)(n * n_in) * sizeof(float));
    synth_random_floats(seed_counter++, x, n * n_in, 1.0f);
    lorc_matmul_args args[3];
    float *ys[3], *yref[3];
    lorc_matmul_scratch s = {0};
    bool ok = true;
    for (int i = 0; i < 3; i++) {
        ok &= make_weight(&w[i], types[i], n_in, n_outs[i], 1.0f);
        ys[i] = malloc((size_t)(n * n_outs[i]) * sizeof(float));
        yref[i] = malloc((size_t)(n * n_outs[i]) * sizeof(float));
    }
    CHECK(ok);
    if (ok) {
        for (int i = 0; i < 3; i++) {
            args[i] = (lorc_matmul_args){&w[i].t, NULL, x, yref[i], n, NULL};
            CHECK(lorc_matmul(k, pool, &s, &args[i]) == 0);
            args[i].y = ys[i];
        }
        CHECK(lorc_matmul_multi(k, pool, &s, args, 3) == 0);
        for (int i = 0; i < 3; i++)
            CHECK_MSG(memcmp(ys[i], yref[i], (size_t)(n * n_outs[i]) * sizeof(float)) == 0,
                      "%s: product %d of a fused dispatch differs from its own lorc_matmul", lorc_isa_name(k->isa), i);
    }
    for (int i = 0; i < 3; i++) {
        free(w[i].data);
        free(ys[i]);
        free(yref[i]);
    }
    lorc_matmul_scratch_free(&s);
    free(x);
}

/* F32/F16/BF16 products long enough that prompts run the packed tiles (rows
 * of model width, a tail shorter than a vector, an output count that leaves
 * a partial tile at the end of a chunk): rows alone and in windows equal the
 * 64-row batch, and 1 vs 2 threads agree. */
static void test_float_packed(const lorc_kernels *k, lorc_threadpool *p1, lorc_threadpool *p2) {
    static const uint32_t float_types[] = {LORC_TYPE_F32, LORC_TYPE_F16, LORC_TYPE_BF16};
    static const int64_t shapes[][2] = {{2048, 21}, {1003, 45}};
    enum { N = 64 };
    for (size_t t = 0; t < sizeof float_types / sizeof *float_types; t++) {
        const uint32_t type = float_types[t];
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
            const int64_t n_in = shapes[s][0], n_out = shapes[s][1];
            char what[160];
            snprintf(what, sizeof what, "%s/%s packed prompt [%lld x %lld]", lorc_isa_name(k->isa),
                     lorc_type_name(type), (long long)n_in, (long long)n_out);
            test_tensor w;
            float *x = malloc((size_t)(N * n_in) * sizeof(float)), *bias = malloc((size_t)n_out * sizeof(float));
            const bool ok = make_weight(&w, type, n_in, n_out, 1.0f) && x && bias;
            CHECK_MSG(ok, "%s: cannot make the weight", what);
            if (ok) {
                synth_random_floats(seed_counter++, x, N * n_in, 1.0f);
                synth_random_floats(seed_counter++, bias, n_out, 0.5f);
                check_invariance(what, k, p2, &w.t, bias, x, NULL);
                lorc_matmul_args a = {&w.t, bias, x, NULL, N, NULL};
                check_threads(what, k, p1, p2, &a);
                a.n_rows = 17;
                check_vs_reference(what, k, p2, &a);
            }
            free(w.data);
            free(x);
            free(bias);
        }
    }
}

static void test_family(const lorc_kernels *k, const char *note, lorc_threadpool *p1, lorc_threadpool *p2) {
    int n_types = 0;
    for (uint32_t type = 0; type < LORC_TYPE_COUNT; type++) {
        if (!k->type[type].act || !lorc_type_get(type)->from_float) continue;
        n_types++;
        test_type(k, type, p1, p2);
    }
    printf("test_matmul_blocked: %s%s kernels, %d weight types\n", lorc_isa_name(k->isa), note, n_types);
    CHECK_MSG(n_types >= 13, "%s: only %d computable types", lorc_isa_name(k->isa), n_types);
    test_multi(k, p2);
    test_float_packed(k, p1, p2);
}

int main(void) {
    lorc_threadpool *p1 = lorc_threadpool_new(1), *p2 = lorc_threadpool_new(2);
    CHECK(p1 && p2);
    lorc_cpu_features cpu;
    lorc_cpu_detect(&cpu);
    int families = 0;
    for (int isa = 0; isa < LORC_ISA_COUNT; isa++) {
        if (!lorc_isa_supported(&cpu, (lorc_isa)isa)) continue;
        lorc_kernels k;
        lorc_kernels_init(&k, &cpu, (lorc_isa)isa);
        /* A family this build lacks comes back as the scalar table. */
        if (isa != LORC_ISA_SCALAR && k.isa == LORC_ISA_SCALAR) continue;
        families++;
        test_family(&k, "", p1, p2);
    }
    CHECK(families >= 1);
    /* The AVX-512 family on CPUs without it: its 16-row packed tiles through
     * the product's chunking, with every AVX-512 instruction emulated. */
    if (!(lorc_isa_supported(&cpu, LORC_ISA_AVX512) && cpu.avx512vnni)) {
        lorc_kernels k;
        if (kc_avx512_emulated(&k, &cpu))
            test_family(&k, " (emulated)", p1, p2);
        else
            CHECK_MSG(!lorc_isa_supported(&cpu, LORC_ISA_AVX2), "no emulated AVX-512 family: install libsimde-dev");
    }
    lorc_threadpool_free(p1);
    lorc_threadpool_free(p2);
    return test_finish("test_matmul_blocked");
}
