/* test_matmul_cols.c — a LoRA B kept in the column layout (lora_cols.h,
 * lorc_lora_term.b_cols) gives the bits of the same B read from its rows:
 * for F16 and F32 B, ranks 1 to LORC_SHORT_ROW_MAX, one row (decode) and
 * prompts, every row on the adapter or only some (the rows the column
 * tiles cannot scatter to fall back to B's rows), 1 and 2 threads, on
 * every kernel family this CPU runs. The families with a column tile must
 * use it (lorc_matmul_stats.b_cols_parts), or the test would compare the
 * row tiles with themselves. The layout itself is checked value by value. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/threadpool.h"
#include "random_tensor.h"
#include "synth.h"
#include "tensor/lora_cols.h"
#include "tensor/matmul.h"
#include "tensor/types.h"
#include "testutil.h"

enum { N_IN = 256, MAX_ROWS = 24 };

/* Every value of the layout: value k of row j at its block, k and lane;
 * zeros in the last block past n_out. */
static void check_layout(uint32_t type, int64_t r, int64_t n_out, const test_tensor *b, const uint8_t *cols) {
    const size_t vb = type == LORC_TYPE_F16 ? 2 : 4, rb = lorc_row_bytes(type, r);
    const int64_t blocks = (n_out + LORC_LORA_COLS_BLOCK - 1) / LORC_LORA_COLS_BLOCK;
    int bad = 0;
    for (int64_t j = 0; j < blocks * LORC_LORA_COLS_BLOCK; j++)
        for (int64_t k = 0; k < r; k++) {
            const uint8_t *got = cols + ((size_t)(j / LORC_LORA_COLS_BLOCK) * (size_t)r * LORC_LORA_COLS_BLOCK +
                                         (size_t)k * LORC_LORA_COLS_BLOCK + (size_t)(j % LORC_LORA_COLS_BLOCK)) * vb;
            static const uint8_t zero[4] = {0};
            const uint8_t *want = j < n_out ? (const uint8_t *)b->data + (size_t)j * rb + (size_t)k * vb : zero;
            bad += memcmp(got, want, vb) != 0;
        }
    CHECK_MSG(bad == 0, "%s r=%lld n_out=%lld: %d values of the column layout misplaced", lorc_type_name(type),
              (long long)r, (long long)n_out, bad);
}

typedef struct setup {
    const lorc_kernels *kern;
    lorc_threadpool *p1, *p2;
    const test_tensor *w;
    const float *x;
} setup;

/* y for n rows, each on `list` when on[i] (else the base), with or without
 * B's columns, on `pool`; returns the B·t parts that read columns, or -1. */
static int run(const setup *su, lorc_threadpool *pool, const lorc_lora_list *list, const bool *on, int n, float *y) {
    const lorc_lora_list *lists[MAX_ROWS];
    for (int i = 0; i < n; i++) lists[i] = on[i] ? list : NULL;
    lorc_matmul_scratch s = {0};
    lorc_matmul_args a = {&su->w->t, NULL, su->x, y, n, lists};
    const int rc = lorc_matmul(su->kern, pool, &s, &a);
    const int cols = rc == 0 ? s.stats.b_cols_parts : -1;
    lorc_matmul_scratch_free(&s);
    return cols;
}

static void check_rank(const setup *su, uint32_t b_type, int64_t r, int64_t n_out) {
    const char *isa = lorc_isa_name(su->kern->isa);
    test_tensor a, b;
    const bool ok = test_random_tensor(&a, LORC_TYPE_F16, N_IN, r, 0.5f, 300 + (uint64_t)r) &&
                    test_random_tensor(&b, b_type, r, n_out, 0.5f, 400 + (uint64_t)r);
    const size_t bytes = lorc_lora_cols_bytes(b_type, r, n_out);
    uint8_t *cols = bytes ? malloc(bytes) : NULL;
    CHECK_MSG(ok && cols, "%s r=%lld: cannot make the adapter", lorc_type_name(b_type), (long long)r);
    if (!ok || !cols) goto done;
    lorc_lora_cols_build(b_type, r, n_out, b.data, lorc_row_bytes(b_type, r), cols);
    check_layout(b_type, r, n_out, &b, cols);

    const lorc_lora_term rows_term = {.a = &a.t, .b = &b.t, .scale = 0.75f};
    const lorc_lora_term cols_term = {.a = &a.t, .b = &b.t, .b_cols = cols, .scale = 0.75f};
    const lorc_lora_list by_rows = {NULL, 1, &rows_term}, by_cols = {NULL, 1, &cols_term};
    /* a column tile exists where the family gives this type's short rows one */
    const lorc_type_kernel *e = su->kern->type[b_type].short_rows;
    const bool tile = e && e->tile_cols_acc;
    static const int counts[] = {1, 3, 13, MAX_ROWS};
    float *y_rows = malloc((size_t)(MAX_ROWS * n_out) * sizeof(float));
    float *y_cols = malloc((size_t)(MAX_ROWS * n_out) * sizeof(float));
    int differ = 0, runs = 0, unused = 0;
    for (size_t ci = 0; ci < sizeof counts / sizeof *counts; ci++)
        for (int some = 0; some < 2; some++)
            for (int t = 1; t <= 2; t++) {
                const int n = counts[ci];
                bool on[MAX_ROWS];
                for (int i = 0; i < n; i++) on[i] = !some || i % 3 != 1;
                lorc_threadpool *pool = t == 1 ? su->p1 : su->p2;
                const int used_rows = run(su, pool, &by_rows, on, n, y_rows);
                const int used = run(su, pool, &by_cols, on, n, y_cols);
                CHECK_MSG(used_rows == 0 && used >= 0, "%s %s r=%lld: lorc_matmul failed", isa,
                          lorc_type_name(b_type), (long long)r);
                runs++;
                if (memcmp(y_rows, y_cols, (size_t)(n * n_out) * sizeof(float)) != 0 && differ++ < 3)
                    fprintf(stderr, "%s %s r=%lld n_out=%lld: %d rows%s, %d threads: columns and rows differ\n", isa,
                            lorc_type_name(b_type), (long long)r, (long long)n_out, n, some ? " (some)" : "", t);
                /* rows all on the adapter: the column tile must have run */
                if (tile && !some && used == 0) unused++;
            }
    CHECK_MSG(differ == 0, "%s %s r=%lld n_out=%lld: %d of %d products differ with B in columns", isa,
              lorc_type_name(b_type), (long long)r, (long long)n_out, differ, runs);
    CHECK_MSG(unused == 0, "%s %s r=%lld n_out=%lld: the column tile did not run in %d products", isa,
              lorc_type_name(b_type), (long long)r, (long long)n_out, unused);
    free(y_rows);
    free(y_cols);
done:
    free(cols);
    free(a.data);
    free(b.data);
}

static void run_family(const setup *base) {
    /* 515 outputs: decode chunks of 128 rows and a last block of 3 rows */
    static const int64_t n_outs[] = {515, 64};
    static const int64_t ranks[] = {1, 4, 16, 17, 64};
    static const uint32_t b_types[] = {LORC_TYPE_F16, LORC_TYPE_F32};
    for (size_t o = 0; o < sizeof n_outs / sizeof *n_outs; o++) {
        test_tensor w;
        float *x = malloc((size_t)(MAX_ROWS * N_IN) * sizeof(float));
        const bool ok = test_random_tensor(&w, LORC_TYPE_Q4_0, N_IN, n_outs[o], 1.0f, 11 + o) && x;
        CHECK(ok);
        if (ok) {
            synth_random_floats(12 + o, x, MAX_ROWS * N_IN, 1.0f);
            setup su = *base;
            su.w = &w;
            su.x = x;
            for (size_t t = 0; t < sizeof b_types / sizeof *b_types; t++)
                for (size_t i = 0; i < sizeof ranks / sizeof *ranks; i++)
                    check_rank(&su, b_types[t], ranks[i], n_outs[o]);
        }
        free(w.data);
        free(x);
    }
    printf("%s: B in columns gives the bits of B in rows\n", lorc_isa_name(base->kern->isa));
}

int main(void) {
    /* the layout keeps F16 and F32 B of rank <= LORC_SHORT_ROW_MAX only */
    CHECK(lorc_lora_cols_bytes(LORC_TYPE_F16, 16, 17) == 2 * 16 * 16 * 2);
    CHECK(lorc_lora_cols_bytes(LORC_TYPE_F32, 3, 16) == 16 * 3 * 4);
    CHECK(lorc_lora_cols_bytes(LORC_TYPE_Q8_0, 32, 64) == 0);
    CHECK(lorc_lora_cols_bytes(LORC_TYPE_F16, LORC_SHORT_ROW_MAX + 1, 64) == 0);
    lorc_threadpool *p1 = lorc_threadpool_new(1), *p2 = lorc_threadpool_new(2);
    CHECK(p1 && p2);
    lorc_cpu_features cpu;
    lorc_cpu_detect(&cpu);
    for (int isa = 0; p1 && p2 && isa < LORC_ISA_COUNT; isa++) {
        if (!lorc_isa_supported(&cpu, (lorc_isa)isa) || !lorc_isa_built((lorc_isa)isa)) continue;
        lorc_kernels k;
        lorc_kernels_init(&k, &cpu, (lorc_isa)isa);
        const setup su = {.kern = &k, .p1 = p1, .p2 = p2};
        run_family(&su);
    }
    lorc_threadpool_free(p1);
    lorc_threadpool_free(p2);
    return test_finish("test_matmul_cols");
}
