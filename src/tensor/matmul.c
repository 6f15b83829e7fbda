/* matmul.c — y = x·Wᵀ (+ bias) (+ per-row LoRA terms) for a batch of rows as
 * a blocked product: activation rows are packed once into the weight type's
 * activation format, then each chunk of output rows is computed in tiles of
 * tile_rows weight rows × tile_cols activation rows by the kernel table's
 * tile kernel. Plus a double-precision row-by-row reference.
 *
 * Batch invariance: the tile kernels give every (weight row, activation row)
 * pair the same bits whatever the tile's shape, and everything added here
 * (bias, LoRA terms, replacements) is applied per element in a fixed order
 * (base + bias, then each LoRA term in list order). So a row's outputs do not
 * depend on the batch around it, and since each output element is computed
 * by exactly one thread with the same code, not on the thread count either.
 *
 * Threads: a dispatch covers the output rows of one or more products
 * (lorc_matmul_multi: Q, K and V together), cut into chunks of whole tiles
 * that threads take from an atomic counter. */
#include "matmul.h"

#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../base/work_split.h"
#include "lora_cols.h"
#include "matmul_internal.h"
#include "types.h"

/* Tile shapes the output buffer of part_run holds; a family declaring a
 * larger tile is called with at most this many rows/columns. */
#define MM_TILE_MAX 16
/* Weight bytes of one chunk: small enough to stay in L1/L2 while every
 * activation tile of the batch streams past. */
#define MM_CHUNK_BYTES (32 * 1024)
#define MM_CHUNK_MAX_ROWS 256
/* ... but at least this many rows when the chunk is packed (up to a
 * quarter of the matrix, so that a small one still has chunks to share):
 * packed tiles stream their weights from L2 anyway, and every chunk reads
 * all the batch's activation rows again (from L3 in a long prompt). pp512
 * on Zen 5, 2 threads, TinyLlama shapes: F16 117-119 -> 132-134 tok/s,
 * Q4_K_M +6-9%, Q4_0 +0-5%, Q8_0 the same (alternating runs; chunks of 32
 * rows gained less, byte sizes instead of rows no more). */
#define MM_PACKED_CHUNK_MIN_ROWS 64
/* Weight bytes of one chunk when every weight row meets a single activation
 * tile (decode, small batches): nothing is reused. Each thread runs its
 * own contiguous range of chunks (lorc_work_split), one sequential stream,
 * so the chunk only sets how finely a thread that finishes early can take
 * over the end of another's range. Chunks taken alternately by the threads
 * read DRAM more slowly: 32 KB ones cut 2-thread decode by a quarter
 * (Q4_0 TinyLlama shapes: 24-26 tokens/s against 29-37 with 256 KB), and
 * 256 KB ones taken alternately cost 10-15% against a range per thread
 * (Q4_K_M, Zen 5: 57.6-67.8 tokens/s against 64.3-76.9, alternating runs). */
#define MM_STREAM_CHUNK_BYTES (256 * 1024)
/* ... and at least this many chunks per output, so that a small matrix can
 * still be shared. */
#define MM_STREAM_MIN_CHUNKS 4
/* Below this many multiply-adds a dispatch runs on the calling thread:
 * waking the pool would cost more than it saves. Results are identical. */
#define MM_PARALLEL_MIN_WORK 32768
/* An output runs in column blocks (output_run) with at most this many
 * parts (base and LoRA terms), in blocks of at least this many activation
 * rows. */
#define MM_FUSED_PARTS_MAX 8
#define MM_COL_BLOCK_MIN 24
/* Packing is split across the pool from this many rows on. */
#define MM_PACK_PARALLEL_ROWS 8

/* ------------------------------------------------------------ plan */

/* One weight applied to n packed activation rows, writing (or adding to) the
 * output rows y_rows[k] (NULL: k). */
typedef struct mm_part {
    lorc_tile_fn tile;
    int tile_rows, tile_cols;
    const lorc_type_kernel *kernel; /* its pack / tile_packed, when it has them */
    const uint8_t *w;
    size_t w_stride;
    int64_t n_in;
    const uint8_t *x; /* packed, row k at x + k * x_stride */
    size_t x_stride;
    int64_t n;
    float *y;
    int64_t y_stride; /* floats between output rows */
    const int64_t *y_rows;
    const float *bias;  /* only when !accumulate */
    const float *alpha; /* only when accumulate: one factor per row k (rows of one term may come from
                           sequences that use the adapter at different scales) */
    bool accumulate;
    /* w is a LoRA B in the column layout (lora_cols.h), run by the kernel's
     * tile_cols_acc: one block of w_stride bytes per output row, so rows
     * r0 (a multiple of the block) start at w + r0 * w_stride as in B */
    bool cols;
} mm_part;

/* One output matrix of n_out columns; its parts run in order on each chunk
 * of output columns (weight rows). */
typedef struct mm_output {
    int64_t n_out;
    int64_t chunk_rows;
    int64_t first_chunk;
    int part0, n_parts;
    int64_t col_block; /* > 0: the parts run block by block of this many activation rows (output_run) */
} mm_output;

typedef struct mm_plan {
    mm_part *parts;
    int n_parts, cap_parts;
    mm_output *outs;
    int n_outs, cap_outs;
    int64_t n_chunks;
    double work; /* multiply-adds */
    /* Chunks [0, n_chunks_a) compute LoRA A·x, the t that later chunks'
     * B·t parts read: the threads take them in turn (next) before any
     * other, and those parts first wait (wait_phase_a) until done_a, the
     * count of finished A chunks, reaches n_chunks_a. 0: no such chunks
     * (A·x ran in a dispatch of its own, or there is none). */
    int64_t n_chunks_a;
    atomic_llong next;
    atomic_llong done_a;
    lorc_work_split split; /* chunks [n_chunks_a, n_chunks): a run of them per thread */
    uint8_t *pack_buf;      /* pack_bytes per thread (thread ith at ith * pack_bytes); NULL: no packing */
    size_t pack_bytes;
} mm_plan;

static int imin(int64_t a, int64_t b) { return (int)(a < b ? a : b); }

/* Whether part p packs its weight tiles: only when a chunk's tiles meet
 * enough activation rows for the packing to be paid back
 * (lorc_type_kernel.pack_min_rows). */
static bool part_packs(const mm_part *p) {
    if (p->cols || !p->kernel || !p->kernel->tile_packed || !p->kernel->pack) return false;
    const int min_rows = p->kernel->pack_min_rows ? p->kernel->pack_min_rows : p->tile_cols + 1;
    return p->n >= min_rows && p->tile_rows == p->kernel->tile_rows && lorc_packed_rows(p->kernel) <= MM_TILE_MAX &&
           lorc_packed_cols(p->kernel) <= MM_TILE_MAX;
}

/* Rows of one tile of part p: a packed tile may hold more than an unpacked
 * one (lorc_type_kernel.packed_rows). */
static int part_tile_rows(const mm_part *p, bool packed) {
    return packed ? lorc_packed_rows(p->kernel) : p->tile_rows;
}

/* Activation rows of one tile of part p (lorc_type_kernel.packed_cols). */
static int part_tile_cols(const mm_part *p, bool packed) {
    return packed ? lorc_packed_cols(p->kernel) : p->tile_cols;
}

/* Bytes of part p's packed tiles for a chunk of `rows` weight rows, rounded
 * up to whole cache lines (0 when it does not pack). */
static size_t part_pack_bytes(const mm_part *p, int64_t rows) {
    if (!part_packs(p)) return 0;
    const int tr = part_tile_rows(p, true);
    const size_t bytes = (size_t)((rows + tr - 1) / tr) * p->kernel->pack_bytes(p->n_in);
    return (bytes + 63) & ~(size_t)63;
}

/* Rewrites weight rows [j0, j1) of part p into its packed tiles at pack_buf
 * (NULL: the part runs unpacked). */
static void part_pack(const mm_part *p, int64_t j0, int64_t j1, uint8_t *pack_buf) {
    if (!pack_buf || !part_packs(p)) return;
    const int tr = part_tile_rows(p, true);
    const size_t tile_bytes = p->kernel->pack_bytes(p->n_in);
    for (int64_t r0 = j0; r0 < j1; r0 += tr)
        p->kernel->pack(p->n_in, p->w + (size_t)r0 * p->w_stride, p->w_stride, imin(tr, j1 - r0),
                        pack_buf + (size_t)((r0 - j0) / tr) * tile_bytes);
}

/* Columns [j0, j1) of one part's output, for its activation rows
 * [c_begin, c_end). Loop order: the chunk's weight rows (cache-sized;
 * packed by part_pack into pack_buf when it is not NULL) are reused by
 * every activation tile. */
static void part_run(const mm_part *p, int64_t j0, int64_t j1, int64_t c_begin, int64_t c_end,
                     const uint8_t *pack_buf) {
    float buf[MM_TILE_MAX * MM_TILE_MAX];
    const bool packed = pack_buf && part_packs(p);
    const int tr = part_tile_rows(p, packed), tc = part_tile_cols(p, packed);
    const size_t tile_bytes = packed ? p->kernel->pack_bytes(p->n_in) : 0;
    /* plain outputs (no bias, no scattering, no adding): the tile writes
     * them in place; otherwise through buf */
    const bool direct = !p->y_rows && !p->accumulate && !p->bias;
    /* LoRA terms whose kernel can add in place: no buf either */
    const lorc_tile_acc_fn add_tile = p->cols ? p->kernel->tile_cols_acc
                                      : p->accumulate && !p->y_rows
                                          ? (packed ? p->kernel->tile_packed_acc : p->kernel->tile_acc)
                                          : NULL;
    const lorc_tile_fn tile = packed ? p->kernel->tile_packed : p->tile;
    const size_t w_stride = packed ? 0 : p->w_stride; /* a packed tile reads its own layout */
    for (int64_t c0 = c_begin; c0 < c_end; c0 += tc) {
        const int nc = imin(tc, c_end - c0);
        const uint8_t *xc = p->x + (size_t)c0 * p->x_stride;
        for (int64_t r0 = j0; r0 < j1; r0 += tr) {
            const int nr = imin(tr, j1 - r0);
            const uint8_t *w =
                packed ? pack_buf + (size_t)((r0 - j0) / tr) * tile_bytes : p->w + (size_t)r0 * p->w_stride;
            if (add_tile) {
                add_tile(p->n_in, w, w_stride, nr, xc, p->x_stride, nc, p->alpha + c0, p->y + c0 * p->y_stride + r0,
                         (size_t)p->y_stride);
                continue;
            }
            float *out = direct ? p->y + c0 * p->y_stride + r0 : buf;
            tile(p->n_in, w, w_stride, nr, xc, p->x_stride, nc, out, direct ? (size_t)p->y_stride : (size_t)tr);
            if (direct) continue;
            for (int c = 0; c < nc; c++) {
                const int64_t row = p->y_rows ? p->y_rows[c0 + c] : c0 + c;
                float *yr = p->y + row * p->y_stride + r0;
                const float *d = buf + (size_t)c * (size_t)tr;
                if (p->accumulate) {
                    const float alpha = p->alpha[c0 + c];
                    for (int r = 0; r < nr; r++) yr[r] += alpha * d[r];
                } else if (p->bias) {
                    for (int r = 0; r < nr; r++) yr[r] = d[r] + p->bias[r0 + r];
                } else {
                    for (int r = 0; r < nr; r++) yr[r] = d[r];
                }
            }
        }
    }
}

/* A LoRA term's B rows for output columns [j0, j1), asked into L2 before
 * the chunk's base part runs. They are a few KB (r values a row) read once
 * per token, a new short stream in every chunk, which the hardware
 * prefetcher does not pick up in time: without this, B·t on all seven
 * linears of a Q4_K_M decode stalled on memory for ~10% of the token
 * (Zen 5), 3x its arithmetic. */
#define MM_TERM_PREFETCH_MAX (64 * 1024)
static void prefetch_term_rows(const mm_part *p, int64_t j0, int64_t j1) {
    const size_t bytes = (size_t)(j1 - j0) * p->w_stride;
    if (!p->accumulate || bytes > MM_TERM_PREFETCH_MAX) return;
    const uint8_t *b = p->w + (size_t)j0 * p->w_stride;
    for (size_t off = 0; off < bytes; off += 64) __builtin_prefetch(b + off, 0, 2);
}

/* Waits until every A·x chunk of the plan has finished. A thread only
 * gets here with a chunk it took after all of them, so each one is already
 * running on some thread, and none of them waits for anything. */
static void wait_phase_a(mm_plan *p) {
    for (int i = 0; atomic_load_explicit(&p->done_a, memory_order_acquire) < p->n_chunks_a; i++) lorc_spin_step(i);
}

/* Output columns [j0, j1) of output o: its parts in order. When the output
 * runs in column blocks (o->col_block: every part covers the same
 * activation rows in order, e.g. a prompt with its LoRA terms), each block
 * of activation rows gets all parts before the next block, so a term adds
 * to base outputs that are still in L1 — the output rows lie a whole row
 * of the matrix apart, and read back after the whole chunk they came from
 * L3. Each element still gets base, then the terms in list order. */
static void output_run(mm_plan *plan, const mm_output *o, int64_t j0, int64_t j1, uint8_t *pack_buf) {
    const mm_part *parts = plan->parts + o->part0;
    for (int k = 1; k < o->n_parts; k++) prefetch_term_rows(&parts[k], j0, j1);
    if (!o->col_block) {
        for (int k = 0; k < o->n_parts; k++) {
            if (parts[k].accumulate) wait_phase_a(plan);
            part_pack(&parts[k], j0, j1, pack_buf);
            part_run(&parts[k], j0, j1, 0, parts[k].n, pack_buf);
        }
        return;
    }
    uint8_t *bufs[MM_FUSED_PARTS_MAX]; /* each part's packed tiles, side by side in pack_buf */
    size_t off = 0;
    for (int k = 0; k < o->n_parts; k++) {
        bufs[k] = pack_buf ? pack_buf + off : NULL;
        part_pack(&parts[k], j0, j1, bufs[k]);
        off += part_pack_bytes(&parts[k], o->chunk_rows);
    }
    const int64_t n = parts[0].n;
    for (int64_t c0 = 0; c0 < n; c0 += o->col_block)
        for (int k = 0; k < o->n_parts; k++) {
            if (parts[k].accumulate) wait_phase_a(plan);
            part_run(&parts[k], j0, j1, c0, c0 + o->col_block < n ? c0 + o->col_block : n, bufs[k]);
        }
}

static int64_t out_chunks(const mm_output *o) { return (o->n_out + o->chunk_rows - 1) / o->chunk_rows; }

/* The output chunk c belongs to (the outputs' chunks follow each other). */
static const mm_output *chunk_output(const mm_plan *p, int64_t c) {
    int lo = 0, hi = p->n_outs - 1;
    while (lo < hi) {
        const int mid = (lo + hi + 1) / 2;
        if (p->outs[mid].first_chunk <= c) lo = mid;
        else hi = mid - 1;
    }
    return &p->outs[lo];
}

/* Output columns [*j0, *j1) of chunk c of output o. */
static void chunk_cols(const mm_output *o, int64_t c, int64_t *j0, int64_t *j1) {
    *j0 = (c - o->first_chunk) * o->chunk_rows;
    *j1 = *j0 + o->chunk_rows < o->n_out ? *j0 + o->chunk_rows : o->n_out;
}

/* A chunk's cost for the split: the weight bytes its parts' tiles read
 * (a weight row once per tile of activation rows). */
static double chunk_cost(const void *user, int64_t c) {
    const mm_plan *p = user;
    const mm_output *o = chunk_output(p, c);
    int64_t j0, j1;
    chunk_cols(o, c, &j0, &j1);
    double bytes = 0;
    for (int k = 0; k < o->n_parts; k++) {
        const mm_part *part = &p->parts[o->part0 + k];
        bytes += (double)part->w_stride * (double)((part->n + part->tile_cols - 1) / part->tile_cols);
    }
    return bytes * (double)(j1 - j0);
}

static void plan_worker(void *user, int ith, int nth) {
    (void)nth;
    mm_plan *p = user;
    uint8_t *pack_buf = p->pack_buf ? p->pack_buf + (size_t)ith * p->pack_bytes : NULL;
    for (;;) {
        int64_t c = -1;
        if (atomic_load_explicit(&p->next, memory_order_relaxed) < p->n_chunks_a) {
            c = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
            if (c >= p->n_chunks_a) c = -1;
        }
        const bool phase_a = c >= 0;
        if (!phase_a) c = lorc_work_split_next(&p->split, ith);
        if (c < 0) return;
        const mm_output *out = chunk_output(p, c);
        int64_t j0, j1;
        chunk_cols(out, c, &j0, &j1);
        output_run(p, out, j0, j1, pack_buf);
        if (phase_a) atomic_fetch_add_explicit(&p->done_a, 1, memory_order_release);
    }
}

static int64_t gcd64(int64_t a, int64_t b) { return b ? gcd64(b, a % b) : a; }
static int64_t lcm64(int64_t a, int64_t b) { return a / gcd64(a, b) * b; }

/* Decides which outputs run in column blocks (output_run): those with LoRA
 * terms (or other parts) that all cover the same activation rows in order,
 * with more than one tile of them. The block is a multiple of every part's
 * tile width, so no tile is cut short. */
static void plan_col_blocks(mm_plan *p) {
    for (int o = 0; o < p->n_outs; o++) {
        mm_output *out = &p->outs[o];
        const mm_part *parts = p->parts + out->part0;
        out->col_block = 0;
        if (out->n_parts < 2 || out->n_parts > MM_FUSED_PARTS_MAX) continue;
        int64_t block = 1;
        bool same = true;
        for (int k = 0; k < out->n_parts && same; k++) {
            same = !parts[k].y_rows && parts[k].n == parts[0].n && parts[k].n > parts[k].tile_cols;
            /* packed or not (the pack buffer may be missing), whole tiles */
            block = lcm64(lcm64(block, parts[k].tile_cols), part_tile_cols(&parts[k], part_packs(&parts[k])));
        }
        if (!same) continue;
        out->col_block = block * ((MM_COL_BLOCK_MIN + block - 1) / block);
    }
}

/* One packing buffer per thread, as large as the largest chunk any packing
 * part of the plan packs (for an output in column blocks: all its parts'
 * chunks together). Without memory for it the plan runs unpacked (same
 * results). */
static void plan_pack_buffers(mm_plan *p, lorc_matmul_scratch *s, int n_threads) {
    size_t need = 0;
    for (int o = 0; o < p->n_outs; o++) {
        const mm_output *out = &p->outs[o];
        size_t sum = 0;
        for (int k = 0; k < out->n_parts; k++) {
            const size_t bytes = part_pack_bytes(&p->parts[out->part0 + k], out->chunk_rows);
            sum += bytes;
            if (bytes > need) need = bytes;
        }
        if (out->col_block && sum > need) need = sum;
    }
    p->pack_bytes = need;
    p->pack_buf = need ? mm_scratch_alloc(s, p->pack_bytes * (size_t)n_threads) : NULL;
}

static void plan_run(mm_plan *p, lorc_threadpool *pool, lorc_matmul_scratch *s) {
    if (p->n_chunks == 0) return;
    atomic_store_explicit(&p->next, 0, memory_order_relaxed);
    atomic_store_explicit(&p->done_a, 0, memory_order_relaxed);
    bool alone = !pool || p->work < MM_PARALLEL_MIN_WORK || p->n_chunks < 2 || lorc_threadpool_size(pool) == 1;
    lorc_work_range one;
    lorc_work_range *ranges = alone ? &one : mm_scratch_alloc(s, (size_t)lorc_threadpool_size(pool) * sizeof *ranges);
    if (!ranges) { /* without memory for the ranges the product runs on this thread (same results) */
        alone = true;
        ranges = &one;
    }
    const int nth = alone ? 1 : lorc_threadpool_size(pool);
    lorc_work_split_init(&p->split, ranges, nth, p->n_chunks_a, p->n_chunks - p->n_chunks_a, chunk_cost, p);
    plan_col_blocks(p);
    plan_pack_buffers(p, s, nth);
    if (alone)
        plan_worker(p, 0, 1);
    else
        lorc_threadpool_run(pool, plan_worker, p);
}

/* Starts an output of n_out columns; the parts added next belong to it. */
static mm_output *plan_output(mm_plan *p, int64_t n_out) {
    mm_output *o = &p->outs[p->n_outs++];
    o->n_out = n_out;
    o->chunk_rows = 0;
    o->first_chunk = p->n_chunks;
    o->part0 = p->n_parts;
    o->n_parts = 0;
    return o;
}

static void plan_add_part(mm_plan *p, mm_output *o, const mm_part *part) {
    p->parts[p->n_parts++] = *part;
    o->n_parts++;
    p->work += (double)part->n * (double)o->n_out * (double)part->n_in;
    if (o->chunk_rows == 0) {
        /* The first part (the base weight) sets the chunk: whole tiles,
         * about MM_CHUNK_BYTES of weights (at least MM_PACKED_CHUNK_MIN_ROWS
         * rows when packed), or MM_STREAM_CHUNK_BYTES when they are read
         * once. */
        const bool streamed = part->n <= part->tile_cols;
        const size_t stride = part->w_stride ? part->w_stride : 1;
        int64_t rows = (int64_t)((streamed ? MM_STREAM_CHUNK_BYTES : MM_CHUNK_BYTES) / stride);
        if (streamed && rows > o->n_out / MM_STREAM_MIN_CHUNKS) rows = o->n_out / MM_STREAM_MIN_CHUNKS;
        const bool packs = part_packs(part);
        if (packs) {
            int64_t min_rows = MM_PACKED_CHUNK_MIN_ROWS;
            if (min_rows > o->n_out / MM_STREAM_MIN_CHUNKS) min_rows = o->n_out / MM_STREAM_MIN_CHUNKS;
            if (rows < min_rows) rows = min_rows;
        }
        if (!streamed && rows > MM_CHUNK_MAX_ROWS) rows = MM_CHUNK_MAX_ROWS;
        int64_t unit = part_tile_rows(part, packs);
        /* whole blocks of the column layout too where the chunk holds one,
         * so that a LoRA B kept in columns can be read in them (add_product) */
        const int64_t blocks = lcm64(unit, LORC_LORA_COLS_BLOCK);
        if (rows >= blocks) unit = blocks;
        rows -= rows % unit;
        if (rows < unit) rows = unit;
        o->chunk_rows = rows;
        p->n_chunks += out_chunks(o);
    }
}

/* ------------------------------------------------------------ packing */

/* Activation rows packed into one act format. rows == NULL: all n_total
 * input rows in order; else the listed rows, gathered. */
typedef struct mm_pack {
    const float *x;
    const lorc_act_format *fmt;
    int64_t n_in;
    const int64_t *rows;
    const uint8_t *data;
    size_t stride;
} mm_pack;

typedef struct pack_job {
    const lorc_act_format *fmt;
    const float *x;
    int64_t n_in;
    uint8_t *dst;
    size_t stride;
    int64_t n;
} pack_job;

static void pack_run(void *user, int ith, int nth) {
    const pack_job *j = user;
    for (int64_t k = ith; k < j->n; k += nth) j->fmt->from_float(j->x + k * j->n_in, j->dst + (size_t)k * j->stride, j->n_in);
}

/* Everything one lorc_matmul_multi call builds its plans with. */
typedef struct mm_build {
    const lorc_kernels *kern;
    lorc_kernels scalar; /* fallback entries, filled on first need */
    bool scalar_ready;
    lorc_threadpool *pool;
    lorc_matmul_scratch *scratch;
    mm_pack *packs;
    int n_packs, cap_packs;
} mm_build;

/* The packed rows (x rows listed in `rows`, or all n_total when NULL) in
 * `fmt`, packing each distinct input once per call. NULL when out of memory. */
static const mm_pack *get_pack(mm_build *b, const float *x, int64_t n_in, int64_t n_total, const lorc_act_format *fmt,
                               const int64_t *rows, int64_t m) {
    for (int i = 0; i < b->n_packs; i++) {
        const mm_pack *pk = &b->packs[i];
        if (pk->x == x && pk->fmt == fmt && pk->n_in == n_in && pk->rows == rows) return pk;
    }
    if (b->n_packs == b->cap_packs) return NULL;
    const size_t stride = (size_t)(n_in / fmt->block) * fmt->block_bytes;
    const mm_pack *full = NULL;
    if (rows && !(full = get_pack(b, x, n_in, n_total, fmt, NULL, n_total))) return NULL;
    if (b->n_packs == b->cap_packs) return NULL;
    const int64_t n = rows ? m : n_total;
    if (!rows && fmt->in_place) { /* F32 rows as they are: nothing to copy */
        mm_pack *pk = &b->packs[b->n_packs++];
        *pk = (mm_pack){x, fmt, n_in, rows, (const uint8_t *)x, stride};
        return pk;
    }
    uint8_t *data = mm_scratch_alloc(b->scratch, stride * (size_t)n);
    if (!data) return NULL;
    if (rows) {
        for (int64_t k = 0; k < m; k++) memcpy(data + (size_t)k * stride, full->data + (size_t)rows[k] * stride, stride);
    } else {
        pack_job pj = {fmt, x, n_in, data, stride, n};
        if (b->pool && n >= MM_PACK_PARALLEL_ROWS && lorc_threadpool_size(b->pool) > 1)
            lorc_threadpool_run(b->pool, pack_run, &pj);
        else
            pack_run(&pj, 0, 1);
    }
    mm_pack *pk = &b->packs[b->n_packs++];
    *pk = (mm_pack){x, fmt, n_in, rows, data, stride};
    return pk;
}

/* The kernel entry for a weight of `type` with rows of n_in values: the
 * table's, or the scalar one when the table's act format does not divide
 * n_in. NULL when lorc cannot compute with the type at all. */
static const lorc_type_kernel *entry_for(mm_build *b, uint32_t type, int64_t n_in) {
    if (type >= LORC_TYPE_COUNT || !lorc_row_bytes(type, n_in)) return NULL;
    const lorc_type_kernel *e = &b->kern->type[type];
    if (e->act && e->tile && n_in % e->act->block == 0) return e;
    if (!b->scalar_ready) {
        lorc_kernels_init_scalar(&b->scalar);
        b->scalar_ready = true;
    }
    e = &b->scalar.type[type];
    return e->act && e->tile && n_in % e->act->block == 0 ? e : NULL;
}

/* The kernel entry of a product with rows of n_in values: entry_for's, or
 * for a LoRA term's B·t (accumulate: rows of r values) the type's
 * short-row entry when it has one. */
static const lorc_type_kernel *product_entry(mm_build *b, uint32_t type, int64_t n_in, bool accumulate) {
    const lorc_type_kernel *e = entry_for(b, type, n_in);
    if (e && accumulate && e->short_rows && n_in <= LORC_SHORT_ROW_MAX) e = e->short_rows;
    return e;
}

/* Adds W·x[rows] to output o of plan p (x: n_total rows of n_in floats;
 * rows NULL: all), written to y rows y_rows[k] (NULL: k) — plus bias, or
 * when accumulating added as alpha[k]·W·x to what is there (a LoRA B·t term).
 * Returns -1 for an unusable type or shape, or out of memory. */
static int add_product(mm_build *b, mm_plan *p, mm_output *o, const lorc_tensor *w, const float *x, int64_t n_in,
                       int64_t n_total, const int64_t *rows, int64_t m, float *y, int64_t y_stride,
                       const int64_t *y_rows, const float *bias, bool accumulate, const float *alpha,
                       const void *w_cols) {
    if (w->ne[0] != n_in || w->ne[1] != o->n_out) return -1;
    const lorc_type_kernel *e = product_entry(b, w->type, n_in, accumulate);
    if (!e) return -1;
    const mm_pack *pk = get_pack(b, x, n_in, n_total, e->act, rows, m);
    if (!pk) return -1;
    mm_part part = {
        .tile = e->tile,
        .kernel = e,
        .tile_rows = e->tile_rows < MM_TILE_MAX ? e->tile_rows : MM_TILE_MAX,
        .tile_cols = e->tile_cols < MM_TILE_MAX ? e->tile_cols : MM_TILE_MAX,
        .w = w->data,
        .w_stride = lorc_row_bytes(w->type, n_in),
        .n_in = n_in,
        .x = pk->data,
        .x_stride = pk->stride,
        .n = rows ? m : n_total,
        .y = y,
        .y_stride = y_stride,
        .y_rows = y_rows,
        .bias = bias,
        .alpha = alpha,
        .accumulate = accumulate,
    };
    /* B in columns where the kernel reads them: a tile per block, so the
     * chunks (set by the base part) must start on blocks */
    if (w_cols && accumulate && !y_rows && e->tile_cols_acc && e->tile_rows == LORC_LORA_COLS_BLOCK &&
        o->chunk_rows % LORC_LORA_COLS_BLOCK == 0) {
        part.w = w_cols;
        part.cols = true;
    }
    plan_add_part(p, o, &part);
    return 0;
}

/* ------------------------------------------------------------ grouping */

/* Rows grouped by their replacement weight: group g holds
 * rows[start[g] .. start[g+1]), in increasing order. */
typedef struct row_groups {
    int n_groups;
    const void **keys; /* [n_rows] */
    int64_t *start;    /* [n_rows + 1] */
    int64_t *rows;     /* [n_rows] */
} row_groups;

/* Groups rows by replacement weight; rows without one are left out.
 * `gidx` is [n_rows] scratch. Groups are few (one per sequence at most), so
 * the lookup is a scan that starts from the previous row's group. */
static void group_rows(row_groups *g, int32_t *gidx, const lorc_lora_list *const *row_lora, int64_t n_rows) {
    g->n_groups = 0;
    int last = -1;
    for (int64_t i = 0; i < n_rows; i++) {
        const lorc_lora_list *l = row_lora[i];
        const void *key = l ? (const void *)l->replace : NULL;
        if (!key) {
            gidx[i] = -1;
            continue;
        }
        int found = -1;
        if (last >= 0 && g->keys[last] == key) found = last;
        for (int k = 0; found < 0 && k < g->n_groups; k++)
            if (g->keys[k] == key) found = k;
        if (found < 0) {
            found = g->n_groups++;
            g->keys[found] = key;
            g->start[found] = 0;
        }
        g->start[found]++;
        gidx[i] = found;
        last = found;
    }
    /* Counts -> start offsets, then place the rows. */
    int64_t acc = 0;
    for (int k = 0; k < g->n_groups; k++) {
        int64_t c = g->start[k];
        g->start[k] = acc;
        acc += c;
    }
    g->start[g->n_groups] = acc;
    for (int64_t i = 0; i < n_rows; i++)
        if (gidx[i] >= 0) g->rows[g->start[gidx[i]]++] = i;
    for (int k = g->n_groups; k > 0; k--) g->start[k] = g->start[k - 1];
    g->start[0] = 0;
}

static bool list_active(const lorc_lora_list *l) { return l && (l->replace || l->n_terms > 0); }

/* LoRA terms grouped across rows, whatever list (sequence) they come from.
 * Phase A: one A·x per distinct A over every row that uses it. Phase B: one
 * B·t per distinct (position k in the row's list, A, B), each row with its
 * own scale; grouping by k keeps every row's additions in its list order. */
typedef struct a_group {
    const lorc_tensor *a;
    int64_t m;     /* rows */
    int64_t *rows; /* [m] increasing rows of x */
    int64_t last;  /* while grouping: the last row added */
    float *t;      /* m × r: A·x of those rows */
} a_group;

typedef struct b_group {
    int k;  /* position of the term in its rows' lists */
    int ga; /* the a_group holding t */
    const lorc_tensor *b;
    const void *b_cols; /* the term's b_cols (one per b) */
    int64_t m;      /* rows */
    int64_t *rows;  /* [m] increasing rows of y */
    int64_t *trows; /* [m] their rows in the a_group's t */
    float *alpha;   /* [m] each row's term scale */
} b_group;

/* One product's row grouping and LoRA intermediates. */
typedef struct mm_arg_state {
    bool any_lora;
    row_groups rg;    /* by replacement weight */
    int64_t *plain;   /* rows without a replacement */
    int64_t n_plain;
    int n_a, n_b;     /* LoRA term groups */
    a_group *ga;      /* [n_a] */
    b_group *gb;      /* [n_b], ordered by k */
} mm_arg_state;

static bool alloc_groups(lorc_matmul_scratch *s, row_groups *g, size_t n) {
    g->keys = mm_scratch_alloc(s, n * sizeof(void *));
    g->start = mm_scratch_alloc(s, (n + 1) * sizeof(int64_t));
    g->rows = mm_scratch_alloc(s, n * sizeof(int64_t));
    return g->keys && g->start && g->rows;
}

/* Rows of a replacement group as a map, or NULL when the group is every
 * row in order (the common case: one sequence), which needs no gathering. */
static const int64_t *group_map(const row_groups *g, int k, int64_t n_rows) {
    return g->start[k + 1] - g->start[k] == n_rows ? NULL : g->rows + g->start[k];
}

static int find_a(const a_group *ga, int n, const lorc_tensor *a) {
    for (int g = 0; g < n; g++)
        if (ga[g].a == a) return g;
    return -1;
}

static int find_b(const b_group *gb, int n, int k, int ga, const lorc_tensor *b) {
    for (int g = 0; g < n; g++)
        if (gb[g].k == k && gb[g].ga == ga && gb[g].b == b) return g;
    return -1;
}

/* Groups every (row, term) of the product into st->ga / st->gb. Two passes
 * over the rows: the first finds the groups and counts their rows, the
 * second places each row. A row whose list is the previous row's (a prompt
 * chunk of one sequence) reuses that row's groups without a lookup. */
static int group_terms(lorc_matmul_scratch *s, const lorc_matmul_args *a, mm_arg_state *st) {
    const int64_t n = a->n_rows;
    int64_t n_inst = 0;
    for (int64_t i = 0; i < n; i++)
        if (a->row_lora[i]) n_inst += a->row_lora[i]->n_terms;
    if (n_inst == 0) return 0;
    int32_t *inst_a = mm_scratch_alloc(s, (size_t)n_inst * sizeof(int32_t));
    int32_t *inst_b = mm_scratch_alloc(s, (size_t)n_inst * sizeof(int32_t));
    st->ga = mm_scratch_alloc(s, (size_t)n_inst * sizeof(a_group));
    st->gb = mm_scratch_alloc(s, (size_t)n_inst * sizeof(b_group));
    if (!inst_a || !inst_b || !st->ga || !st->gb) return -1;
    int n_a = 0, n_b = 0, max_k = 0;
    b_group *gb = st->gb; /* in discovery order here; sorted by k below */
    const lorc_lora_list *prev = NULL;
    int64_t prev_inst = 0;
    for (int64_t i = 0, inst = 0; i < n; i++) {
        const lorc_lora_list *l = a->row_lora[i];
        if (!l || l->n_terms == 0) continue;
        for (int k = 0; k < l->n_terms; k++, inst++) {
            int ia, ib;
            if (l == prev) {
                ia = inst_a[prev_inst + k];
                ib = inst_b[prev_inst + k];
            } else {
                const lorc_lora_term *t = &l->terms[k];
                ia = find_a(st->ga, n_a, t->a);
                if (ia < 0) {
                    ia = n_a++;
                    st->ga[ia] = (a_group){.a = t->a, .last = -1};
                }
                ib = find_b(gb, n_b, k, ia, t->b);
                if (ib < 0) {
                    ib = n_b++;
                    gb[ib] = (b_group){.k = k, .ga = ia, .b = t->b, .b_cols = t->b_cols};
                    if (k > max_k) max_k = k;
                }
            }
            inst_a[inst] = ia;
            inst_b[inst] = ib;
            /* a row joins an A group once, even if its list held that A twice */
            if (st->ga[ia].last != i) {
                st->ga[ia].last = i;
                st->ga[ia].m++;
            }
            gb[ib].m++;
        }
        if (l != prev) {
            prev = l;
            prev_inst = inst - l->n_terms;
        }
    }
    for (int g = 0; g < n_a; g++) {
        a_group *x = &st->ga[g];
        x->rows = mm_scratch_alloc(s, (size_t)x->m * sizeof(int64_t));
        x->t = mm_scratch_alloc(s, (size_t)(x->m * x->a->ne[1]) * sizeof(float));
        if (!x->rows || !x->t) return -1;
        x->last = -1;
        x->m = 0;
    }
    for (int g = 0; g < n_b; g++) {
        b_group *y = &gb[g];
        y->rows = mm_scratch_alloc(s, (size_t)y->m * sizeof(int64_t));
        y->trows = mm_scratch_alloc(s, (size_t)y->m * sizeof(int64_t));
        y->alpha = mm_scratch_alloc(s, (size_t)y->m * sizeof(float));
        if (!y->rows || !y->trows || !y->alpha) return -1;
        y->m = 0;
    }
    for (int64_t i = 0, inst = 0; i < n; i++) {
        const lorc_lora_list *l = a->row_lora[i];
        if (!l || l->n_terms == 0) continue;
        for (int k = 0; k < l->n_terms; k++, inst++) {
            a_group *x = &st->ga[inst_a[inst]];
            if (x->last != i) {
                x->last = i;
                x->rows[x->m++] = i;
            }
            b_group *y = &gb[inst_b[inst]];
            y->rows[y->m] = i;
            y->trows[y->m] = x->m - 1;
            y->alpha[y->m] = l->terms[k].scale;
            y->m++;
        }
    }
    /* Phase B runs its parts in order on every chunk: all terms 0, then all
     * terms 1, ... so each row adds its terms in its own list order. */
    b_group *sorted = mm_scratch_alloc(s, (size_t)n_b * sizeof(b_group));
    if (!sorted) return -1;
    int o = 0;
    for (int k = 0; k <= max_k; k++)
        for (int g = 0; g < n_b; g++)
            if (gb[g].k == k) sorted[o++] = gb[g];
    st->gb = sorted;
    st->n_a = n_a;
    st->n_b = n_b;
    return 0;
}

static int prepare_arg(lorc_matmul_scratch *s, const lorc_matmul_args *a, mm_arg_state *st) {
    memset(st, 0, sizeof *st);
    const int64_t n = a->n_rows;
    if (a->row_lora)
        for (int64_t i = 0; i < n && !st->any_lora; i++) st->any_lora = list_active(a->row_lora[i]);
    if (!st->any_lora) return 0;
    int32_t *gidx = mm_scratch_alloc(s, (size_t)n * sizeof(int32_t));
    st->plain = mm_scratch_alloc(s, (size_t)n * sizeof(int64_t));
    if (!gidx || !st->plain || !alloc_groups(s, &st->rg, (size_t)n)) return -1;
    group_rows(&st->rg, gidx, a->row_lora, n);
    for (int64_t i = 0; i < n; i++)
        if (gidx[i] < 0) st->plain[st->n_plain++] = i;
    return group_terms(s, a, st);
}

/* ------------------------------------------------------------ lorc_matmul */

/* Whether B group y reads its t in place (F32 rows, every row of its A
 * group in order): then nothing reads t while the plan is built, and its
 * A·x can run in the same dispatch as the B·t (mm_plan.n_chunks_a). A
 * gathered or converted t is copied when the part is added, so it must
 * exist by then. */
static bool b_reads_t_in_place(mm_build *b, const b_group *y, const a_group *x) {
    const lorc_type_kernel *e = product_entry(b, y->b->type, x->a->ne[1], true);
    return e && e->act->in_place && y->m == x->m;
}

static bool plan_alloc(lorc_matmul_scratch *s, mm_plan *p, int n_outs, int n_parts) {
    memset(p, 0, sizeof *p);
    p->outs = mm_scratch_alloc(s, (size_t)(n_outs ? n_outs : 1) * sizeof(mm_output));
    p->parts = mm_scratch_alloc(s, (size_t)(n_parts ? n_parts : 1) * sizeof(mm_part));
    p->cap_outs = n_outs;
    p->cap_parts = n_parts;
    atomic_init(&p->next, 0);
    atomic_init(&p->done_a, 0);
    return p->outs && p->parts;
}

int lorc_matmul_multi(const lorc_kernels *kern, lorc_threadpool *pool, lorc_matmul_scratch *scratch,
                      const lorc_matmul_args *args, int n) {
    memset(&scratch->stats, 0, sizeof scratch->stats);
    if (n <= 0) return 0;
    mm_scratch_begin(scratch);
    mm_arg_state *st = mm_scratch_alloc(scratch, (size_t)n * sizeof *st);
    if (!st) return -1;
    /* Count the plans' sizes: phase A holds every A group's A·x, phase B
     * every output (base, replacements, then each B group's B·t). */
    int outs_a = 0, parts_b = 0;
    for (int i = 0; i < n; i++) {
        if (args[i].n_rows <= 0) {
            memset(&st[i], 0, sizeof st[i]);
            continue;
        }
        if (prepare_arg(scratch, &args[i], &st[i]) != 0) return -1;
        outs_a += st[i].n_a;
        parts_b += 1 + st[i].rg.n_groups + st[i].n_b;
    }
    mm_build b = {.kern = kern, .pool = pool, .scratch = scratch};
    b.cap_packs = 2 * (outs_a + parts_b) + 2;
    b.packs = mm_scratch_alloc(scratch, (size_t)b.cap_packs * sizeof(mm_pack));
    /* A·x and B·t in one dispatch when every B·t can read its t in place:
     * a dispatch per phase cost LoRA decode about 2% (a Q4_K_M TinyLlama
     * with rank 16 on all seven linears, Zen 5). */
    bool one_dispatch = true;
    for (int i = 0; i < n && b.packs; i++)
        for (int g = 0; g < st[i].n_b && one_dispatch; g++)
            one_dispatch = b_reads_t_in_place(&b, &st[i].gb[g], &st[i].ga[st[i].gb[g].ga]);
    mm_plan pa, pb;
    if (!b.packs || !plan_alloc(scratch, &pa, outs_a, outs_a) ||
        !plan_alloc(scratch, &pb, n + (one_dispatch ? outs_a : 0), parts_b + (one_dispatch ? outs_a : 0)))
        return -1;
    mm_plan *plan_a = one_dispatch ? &pb : &pa;
    lorc_matmul_stats stats = {0};

    /* Phase A: t = A·x over each A group's rows. */
    for (int i = 0; i < n; i++) {
        const lorc_matmul_args *a = &args[i];
        const int64_t n_in = a->w->ne[0];
        for (int g = 0; g < st[i].n_a; g++) {
            const a_group *x = &st[i].ga[g];
            const int64_t r = x->a->ne[1];
            const int64_t *rows = x->m == a->n_rows ? NULL : x->rows;
            mm_output *o = plan_output(plan_a, r);
            if (add_product(&b, plan_a, o, x->a, a->x, n_in, a->n_rows, rows, x->m, x->t, r, NULL, NULL, false, NULL,
                            NULL) != 0)
                return -1;
            stats.a_parts++;
        }
    }
    if (one_dispatch)
        pb.n_chunks_a = pb.n_chunks;
    else
        plan_run(&pa, pool, scratch);

    /* Phase B: each output's chunk gets base + bias (or its replacement),
     * then the B groups by term position, all by the same thread. */
    for (int i = 0; i < n; i++) {
        const lorc_matmul_args *a = &args[i];
        if (a->n_rows <= 0) continue;
        const int64_t n_in = a->w->ne[0], n_out = a->w->ne[1];
        mm_output *o = plan_output(&pb, n_out);
        const mm_arg_state *s = &st[i];
        if (!s->any_lora || s->n_plain == a->n_rows) {
            if (add_product(&b, &pb, o, a->w, a->x, n_in, a->n_rows, NULL, a->n_rows, a->y, n_out, NULL, a->bias, false,
                            NULL, NULL) != 0)
                return -1;
            stats.base_parts++;
        } else if (s->n_plain > 0) {
            if (add_product(&b, &pb, o, a->w, a->x, n_in, a->n_rows, s->plain, s->n_plain, a->y, n_out, s->plain,
                            a->bias, false, NULL, NULL) != 0)
                return -1;
            stats.base_parts++;
        }
        for (int g = 0; s->any_lora && g < s->rg.n_groups; g++) {
            const int64_t m = s->rg.start[g + 1] - s->rg.start[g];
            const int64_t *rows = group_map(&s->rg, g, a->n_rows);
            if (add_product(&b, &pb, o, s->rg.keys[g], a->x, n_in, a->n_rows, rows, m, a->y, n_out, rows, a->bias,
                            false, NULL, NULL) != 0)
                return -1;
            stats.replace_parts++;
        }
        for (int g = 0; g < s->n_b; g++) {
            const b_group *y = &s->gb[g];
            const a_group *x = &s->ga[y->ga];
            /* the group's rows of t (all of them, in order, when it is the
             * whole A group) times B, added with each row's scale */
            const int64_t *trows = y->m == x->m ? NULL : y->trows;
            const int64_t *yrows = y->m == a->n_rows ? NULL : y->rows;
            if (add_product(&b, &pb, o, y->b, x->t, x->a->ne[1], x->m, trows, y->m, a->y, n_out, yrows, NULL, true,
                            y->alpha, y->b_cols) != 0)
                return -1;
            stats.b_parts++;
            stats.b_cols_parts += pb.parts[pb.n_parts - 1].cols;
        }
    }
    plan_run(&pb, pool, scratch);
    scratch->stats = stats;
    return 0;
}

int lorc_matmul(const lorc_kernels *kern, lorc_threadpool *pool, lorc_matmul_scratch *scratch,
                const lorc_matmul_args *args) {
    return lorc_matmul_multi(kern, pool, scratch, args, 1);
}

/* ------------------------------------------------------------ reference */

/* Dequantizes row `row` of t (ne[0] values) into dst. */
static void row_to_float(const lorc_tensor *t, int64_t row, float *dst) {
    const lorc_type_info *ti = lorc_type_get(t->type);
    size_t rb = lorc_row_bytes(t->type, t->ne[0]);
    ti->to_float((const uint8_t *)t->data + (size_t)row * rb, dst, t->ne[0]);
}

void lorc_matmul_reference(const lorc_matmul_args *args) {
    const lorc_tensor *w = args->w;
    const int64_t n_in = w->ne[0], n_out = w->ne[1];
    int64_t max_r = 0;
    for (int64_t i = 0; args->row_lora && i < args->n_rows; i++) {
        const lorc_lora_list *l = args->row_lora[i];
        for (int t = 0; l && t < l->n_terms; t++)
            if (l->terms[t].a->ne[1] > max_r) max_r = l->terms[t].a->ne[1];
    }
    int64_t wide = n_in > max_r ? n_in : max_r;
    float *row = malloc((size_t)wide * sizeof(float));
    double *acc = malloc((size_t)n_out * sizeof(double));
    double *tv = malloc((size_t)(max_r > 0 ? max_r : 1) * sizeof(double));
    if (!row || !acc || !tv) {
        /* Test-only code: make an allocation failure impossible to miss. */
        for (int64_t i = 0; i < args->n_rows * n_out; i++) args->y[i] = NAN;
        free(row);
        free(acc);
        free(tv);
        return;
    }
    for (int64_t i = 0; i < args->n_rows; i++) {
        const float *x = args->x + i * n_in;
        const lorc_lora_list *l = args->row_lora ? args->row_lora[i] : NULL;
        const lorc_tensor *wi = l && l->replace ? l->replace : w;
        for (int64_t j = 0; j < n_out; j++) {
            row_to_float(wi, j, row);
            double s = 0;
            for (int64_t k = 0; k < n_in; k++) s += (double)row[k] * (double)x[k];
            acc[j] = s + (args->bias ? (double)args->bias[j] : 0.0);
        }
        for (int t = 0; l && t < l->n_terms; t++) {
            const lorc_lora_term *tm = &l->terms[t];
            int64_t r = tm->a->ne[1];
            for (int64_t q = 0; q < r; q++) {
                row_to_float(tm->a, q, row);
                double s = 0;
                for (int64_t k = 0; k < n_in; k++) s += (double)row[k] * (double)x[k];
                tv[q] = s;
            }
            for (int64_t j = 0; j < n_out; j++) {
                row_to_float(tm->b, j, row);
                double s = 0;
                for (int64_t q = 0; q < r; q++) s += (double)row[q] * tv[q];
                acc[j] += (double)tm->scale * s;
            }
        }
        for (int64_t j = 0; j < n_out; j++) args->y[i * n_out + j] = (float)acc[j];
    }
    free(row);
    free(acc);
    free(tv);
}
