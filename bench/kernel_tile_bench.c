/* kernel_tile_bench.c — single-thread speed of one kernel family's tiles,
 * for humans (nothing asserts on time):
 *
 *   kernel_tile_bench [ROWS [N [scalar|avx2 [TYPE]]]]     (default 2048 2048 avx2, all types)
 *
 * For each type: a ROWS x N weight matrix times 1 activation row (decode)
 * and times tile_cols activation rows (prompt), walked in tiles of
 * tile_rows. Reports weight bytes / s and multiply-adds / s over thread CPU
 * time (best of 25 runs of >= 20 ms), which is steadier than wall time on a
 * shared machine. Then the prompt path as lorc_matmul runs it (128
 * activation rows, weights in cache-sized chunks, packed per chunk where
 * the type packs). ROWS x N = 2048 x 2048 keeps quantized matrices in L3
 * (not DRAM): a kernel-speed figure, not a roofline one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tensor/kernels.h"
#include "tensor/types.h"

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Best thread-CPU seconds of one call of fn(arg) over 25 runs of >= 20 ms. */
static double best_time(void (*fn)(void *), void *arg) {
    double best = 1e30;
    for (int rep = 0; rep < 25; rep++) {
        const double t0 = cpu_now();
        int iters = 0;
        double t1;
        do {
            fn(arg);
            iters++;
            t1 = cpu_now();
        } while (t1 - t0 < 0.02);
        if ((t1 - t0) / iters < best) best = (t1 - t0) / iters;
    }
    return best;
}

typedef struct plain_run {
    const lorc_type_kernel *tk;
    const uint8_t *w, *x;
    size_t rb, xb;
    int rows;
    int64_t n;
    int nc;
    float *y;
} plain_run;

static void tiles_plain(void *arg) {
    plain_run *p = arg;
    for (int r = 0; r < p->rows; r += p->tk->tile_rows) {
        const int nr = p->rows - r < p->tk->tile_rows ? p->rows - r : p->tk->tile_rows;
        p->tk->tile(p->n, p->w + p->rb * (size_t)r, p->rb, nr, p->x, p->xb, p->nc, p->y + r, (size_t)p->rows);
    }
}

typedef struct packed_run {
    const lorc_type_kernel *tk;
    const uint8_t *w, *x;
    uint8_t *packed;
    size_t rb, xb, tile_bytes;
    int rows;
    int64_t n;
    float *y;
} packed_run;

static void pack_all(void *arg) {
    packed_run *p = arg;
    const int tr = lorc_packed_rows(p->tk);
    for (int r = 0, t = 0; r < p->rows; r += tr, t++) {
        const int nr = p->rows - r < tr ? p->rows - r : tr;
        p->tk->pack(p->n, p->w + p->rb * (size_t)r, p->rb, nr, p->packed + p->tile_bytes * (size_t)t);
    }
}

static void tiles_packed(void *arg) {
    packed_run *p = arg;
    const int tr = lorc_packed_rows(p->tk);
    for (int r = 0, t = 0; r < p->rows; r += tr, t++) {
        const int nr = p->rows - r < tr ? p->rows - r : tr;
        p->tk->tile_packed(p->n, p->packed + p->tile_bytes * (size_t)t, 0, nr, p->x, p->xb, lorc_packed_cols(p->tk),
                           p->y + r, (size_t)p->rows);
    }
}

/* The prompt path with packed weight tiles: the packing (paid once per
 * chunk of rows, then shared by every activation tile) and the packed tiles
 * at full width. */
static void bench_packed(const lorc_kernels *k, const lorc_type_kernel *tk, const char *type, const uint8_t *w,
                         size_t rb, int rows, int64_t n, const uint8_t *x, size_t xb, float *y) {
    packed_run p = {tk, w, x, NULL, rb, xb, tk->pack_bytes(n), rows, n, y};
    p.packed = malloc(p.tile_bytes * (size_t)((rows + lorc_packed_rows(tk) - 1) / lorc_packed_rows(tk)));
    const double pack_s = best_time(pack_all, &p);
    const double tile_s = best_time(tiles_packed, &p);
    printf("%-6s %-5s packed tiles nc=%d:  %7.2f GB/s weights, %6.2f GMAC/s (packing: %.2f GB/s of weights)\n",
           lorc_isa_name(k->isa), type, lorc_packed_cols(tk), (double)(rb * (size_t)rows) / tile_s / 1e9,
           (double)rows * (double)n * lorc_packed_cols(tk) / tile_s / 1e9, (double)(rb * (size_t)rows) / pack_s / 1e9);
    free(p.packed);
}

/* The prompt path as lorc_matmul walks it: chunks of about 32 KB of weight
 * rows (as matmul.c), each met by every tile of PROMPT_COLS activation rows
 * — packed once per chunk first when the type packs — so the packed tiles
 * read their weights from cache, as in a real prompt. */
#define PROMPT_COLS 128
#define PROMPT_CHUNK_BYTES (32 * 1024)

typedef struct chunked_run {
    const lorc_type_kernel *tk;
    const uint8_t *w, *x;
    uint8_t *packed; /* NULL: unpacked tiles */
    size_t rb, xb, tile_bytes;
    int rows, chunk_rows;
    int64_t n;
    float *y;
} chunked_run;

static void tiles_chunked(void *arg) {
    chunked_run *p = arg;
    const lorc_type_kernel *tk = p->tk;
    /* a packed tile may have another shape than an unpacked one */
    const int tr = p->packed ? lorc_packed_rows(tk) : tk->tile_rows;
    const int tc = p->packed ? lorc_packed_cols(tk) : tk->tile_cols;
    for (int r0 = 0; r0 < p->rows; r0 += p->chunk_rows) {
        const int r1 = r0 + p->chunk_rows < p->rows ? r0 + p->chunk_rows : p->rows;
        if (p->packed)
            for (int r = r0, t = 0; r < r1; r += tr, t++)
                tk->pack(p->n, p->w + p->rb * (size_t)r, p->rb, r1 - r < tr ? r1 - r : tr,
                         p->packed + p->tile_bytes * (size_t)t);
        for (int c0 = 0; c0 < PROMPT_COLS; c0 += tc) {
            const int nc = PROMPT_COLS - c0 < tc ? PROMPT_COLS - c0 : tc;
            for (int r = r0, t = 0; r < r1; r += tr, t++) {
                const int nr = r1 - r < tr ? r1 - r : tr;
                float *y = p->y + (size_t)c0 * (size_t)p->rows + (size_t)r;
                if (p->packed)
                    tk->tile_packed(p->n, p->packed + p->tile_bytes * (size_t)t, 0, nr, p->x + p->xb * (size_t)c0,
                                    p->xb, nc, y, (size_t)p->rows);
                else
                    tk->tile(p->n, p->w + p->rb * (size_t)r, p->rb, nr, p->x + p->xb * (size_t)c0, p->xb, nc, y,
                             (size_t)p->rows);
            }
        }
    }
}

static void bench_chunked(const lorc_kernels *k, const lorc_type_kernel *tk, const char *type, const uint8_t *w,
                          size_t rb, int rows, int64_t n) {
    int chunk_rows = (int)(PROMPT_CHUNK_BYTES / rb);
    const int unit = lorc_packed_rows(tk); /* a multiple of tile_rows */
    chunk_rows -= chunk_rows % unit;
    if (chunk_rows < unit) chunk_rows = unit;
    if (chunk_rows > 256) chunk_rows = 256 - 256 % unit;
    const size_t xb = (size_t)(n / tk->act->block) * tk->act->block_bytes;
    uint8_t *x = malloc(xb * PROMPT_COLS);
    float *f = malloc((size_t)n * sizeof(float));
    for (int c = 0; c < PROMPT_COLS; c++) {
        for (int64_t i = 0; i < n; i++) f[i] = (float)((double)((i + 13 * c) * 7919 % 1000) / 500.0 - 1.0);
        tk->act->from_float(f, x + xb * (size_t)c, n);
    }
    float *y = malloc(sizeof(float) * (size_t)rows * PROMPT_COLS);
    chunked_run p = {tk, w, x, NULL, rb, xb, 0, rows, chunk_rows, n, y};
    const double macs = (double)rows * (double)n * PROMPT_COLS;
    for (int packed = 0; packed < (tk->tile_packed ? 2 : 1); packed++) {
        p.tile_bytes = packed ? tk->pack_bytes(n) : 0;
        p.packed = packed ? malloc(p.tile_bytes * (size_t)((chunk_rows + unit - 1) / unit)) : NULL;
        const double s = best_time(tiles_chunked, &p);
        printf("%-6s %-5s prompt %d rows, chunks of %d weight rows, %s: %6.2f GMAC/s\n", lorc_isa_name(k->isa), type,
               PROMPT_COLS, chunk_rows, packed ? "packed (packing included)" : "unpacked tiles", macs / s / 1e9);
        free(p.packed);
    }
    free(y);
    free(f);
    free(x);
}

static void bench_type(const lorc_kernels *k, uint32_t type, int rows, int64_t n) {
    const lorc_type_info *ti = lorc_type_get(type);
    const lorc_type_kernel *tk = &k->type[type];
    const size_t rb = lorc_row_bytes(type, n);
    if (!tk->tile || rb == 0) return;
    uint8_t *w = malloc(rb * (size_t)rows);
    float *f = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) f[i] = (float)((double)(i * 7919 % 1000) / 500.0 - 1.0);
    for (int r = 0; r < rows; r++) ti->from_float(f, w + rb * (size_t)r, n);
    const int cols = tk->tile_cols, x_rows = cols > lorc_packed_cols(tk) ? cols : lorc_packed_cols(tk);
    const size_t xb = (size_t)(n / tk->act->block) * tk->act->block_bytes;
    uint8_t *x = malloc(xb * (size_t)x_rows);
    for (int c = 0; c < x_rows; c++) tk->act->from_float(f, x + xb * (size_t)c, n);
    float *y = malloc(sizeof(float) * (size_t)rows * (size_t)x_rows);
    const int ncs[2] = {1, cols};
    for (int v = 0; v < (cols > 1 ? 2 : 1); v++) {
        const int nc = ncs[v];
        plain_run pr = {tk, w, x, rb, xb, rows, n, nc, y};
        const double best = best_time(tiles_plain, &pr);
        printf("%-6s %-5s tile %dx%d act %-8s nc=%d: %7.2f GB/s weights, %6.2f GMAC/s\n", lorc_isa_name(k->isa),
               ti->name, tk->tile_rows, tk->tile_cols, tk->act->name, nc, (double)(rb * (size_t)rows) / best / 1e9,
               (double)rows * (double)n * nc / best / 1e9);
    }
    if (tk->tile_packed) bench_packed(k, tk, ti->name, w, rb, rows, n, x, xb, y);
    if (cols > 1) bench_chunked(k, tk, ti->name, w, rb, rows, n);
    free(y);
    free(x);
    free(f);
    free(w);
}

int main(int argc, char **argv) {
    const int rows = argc > 1 ? atoi(argv[1]) : 2048;
    const int64_t n = argc > 2 ? atoll(argv[2]) : 2048;
    const int isa = lorc_isa_from_name(argc > 3 ? argv[3] : "avx2");
    lorc_cpu_features cpu;
    lorc_cpu_detect(&cpu);
    if (rows < 1 || n < 256 || n % 256 != 0 || isa < 0 || isa >= LORC_ISA_COUNT ||
        !lorc_isa_supported(&cpu, (lorc_isa)isa)) {
        fprintf(stderr, "usage: kernel_tile_bench [ROWS [N (multiple of 256) [scalar|avx2 [TYPE]]]] "
                        "(the ISA must be one this CPU runs)\n");
        return 2;
    }
    lorc_kernels k;
    lorc_kernels_init(&k, &cpu, (lorc_isa)isa);
    static const uint32_t types[] = {LORC_TYPE_F32,  LORC_TYPE_F16,  LORC_TYPE_BF16, LORC_TYPE_Q8_0,
                                     LORC_TYPE_Q4_0, LORC_TYPE_Q4_1, LORC_TYPE_Q5_0, LORC_TYPE_Q5_1,
                                     LORC_TYPE_Q2_K, LORC_TYPE_Q3_K, LORC_TYPE_Q4_K, LORC_TYPE_Q5_K,
                                     LORC_TYPE_Q6_K};
    const int only = argc > 4 ? lorc_type_from_name(argv[4]) : -1;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (only < 0 || (uint32_t)only == types[i]) bench_type(&k, types[i], rows, n);
    return 0;
}
