/* kernels.h — the compute kernels a context uses, chosen once at run time
 * from the CPU's features (no mutable globals: the context holds the table).
 *
 * Each weight type has one entry: the activation format its dot kernels
 * want (F32 rows are packed into it once per batch) and a tile kernel that
 * computes the dot products of a few weight rows with a few activation
 * rows at once. The scalar family is the reference and the fallback; the
 * ISA families (src/tensor/simd/) overwrite entries they speed up.
 *
 * Batch invariance: a tile kernel must give each (weight row, activation
 * row) pair a bit-identical result whatever nr, nc and the pair's place in
 * the tile — so a row decoded alone equals the same row inside a prompt. */
#ifndef LORC_TENSOR_KERNELS_H
#define LORC_TENSOR_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "types.h"

/* How F32 activation rows are packed for a family of dot kernels. A row of
 * n values (n a multiple of `block`) takes n / block * block_bytes bytes. */
typedef struct lorc_act_format {
    const char *name;  /* "f32", "q8_0", "q8_K", ... (for messages and tests) */
    int64_t block;
    size_t block_bytes;
    void (*from_float)(const float *x, void *dst, int64_t n);
    /* from_float is a plain copy (F32 rows): the product may read the F32
     * rows in place instead of packing them */
    bool in_place;
} lorc_act_format;

/* Dots of nr weight rows with nc activation rows, each of n values:
 *   y[c * y_stride + r] = dot(w + r * w_stride, x + c * x_stride)
 * for r < nr, c < nc. w is the weight type's row bytes, x the packed
 * activation rows. 1 <= nr <= tile_rows, 1 <= nc <= tile_cols. */
typedef void (*lorc_tile_fn)(int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride,
                             int nc, float *y, size_t y_stride);

/* A tile that adds its results into the output:
 *   y[c * y_stride + r] += alpha[c] * dot(row r, x + c * x_stride)
 * the dot rounded to float, times alpha rounded, then the sum rounded: the
 * bits of the tile's dot followed by that C statement. */
typedef void (*lorc_tile_acc_fn)(int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride,
                                 int nc, const float *alpha, float *y, size_t y_stride);

/* Rewrites nr <= tile_rows weight rows into one packed tile (see below). */
typedef void (*lorc_pack_fn)(int64_t n, const void *w, size_t w_stride, int nr, void *dst);

typedef struct lorc_type_kernel {
    const lorc_act_format *act; /* NULL: lorc cannot compute with this type */
    lorc_tile_fn tile;
    int tile_rows; /* largest nr the tile takes (>= 1) */
    int tile_cols; /* largest nc the tile takes (>= 1) */
    /* Optional, for products over many activation rows: a tile's weight
     * rows rewritten once (values unpacked, scales as floats: the work a
     * tile would otherwise redo for every activation tile) into pack_bytes(n)
     * bytes, which tile_packed then reads in place of w (its w_stride is
     * unused). Must give the same bits as tile. */
    lorc_pack_fn pack;
    size_t (*pack_bytes)(int64_t n);
    lorc_tile_fn tile_packed;
    /* Weight rows of one packed tile (pack's nr, tile_packed's nr): 0 means
     * tile_rows. Else a multiple of tile_rows, so that a family with wider
     * registers can pack more rows per tile than its unpacked tile takes;
     * the packed tile still gives each pair the unpacked tile's bits.
     * Use lorc_packed_rows(). */
    int packed_rows;
    /* Activation rows one packed tile takes (tile_packed's largest nc): 0
     * means tile_cols. A packed tile may trade columns for rows: with its
     * weights streamed from the pack, fewer activation rows stay in L1
     * while a chunk's tiles pass over them. Use lorc_packed_cols(). */
    int packed_cols;
    /* Pack only for products over at least this many activation rows; 0:
     * over more than tile_cols, when a chunk's weight rows first meet a
     * second activation tile. Set higher for a type whose packing costs
     * more than the unpacked tile's second pass would. */
    int pack_min_rows;
    /* Optional, for products whose weight rows hold at most
     * LORC_SHORT_ROW_MAX values and are added into the output (a LoRA B
     * matrix: r values a row, B·t): the entry to use instead, with tiles
     * that avoid a horizontal sum per output. Used for every such product
     * whatever the batch, so a row's bits do not depend on it. */
    const struct lorc_type_kernel *short_rows;
    /* Optional: tile and tile_packed adding into the output (a LoRA term's
     * B·t, scaled per activation row) instead of writing it. */
    lorc_tile_acc_fn tile_acc, tile_packed_acc;
    /* Optional, in a short_rows entry: tile_acc reading B in the column
     * layout of lora_cols.h instead of rows. w is the block of the tile's
     * first row (a multiple of LORC_LORA_COLS_BLOCK); w_stride is unused;
     * nr <= LORC_LORA_COLS_BLOCK. Must give the bits of tile_acc. */
    lorc_tile_acc_fn tile_cols_acc;
} lorc_type_kernel;

#define LORC_SHORT_ROW_MAX 64

/* Rows of one packed tile of entry e. */
static inline int lorc_packed_rows(const lorc_type_kernel *e) { return e->packed_rows ? e->packed_rows : e->tile_rows; }

/* Activation rows of one packed tile of entry e. */
static inline int lorc_packed_cols(const lorc_type_kernel *e) { return e->packed_cols ? e->packed_cols : e->tile_cols; }

/* An entry without packing (tile only). */
static inline lorc_type_kernel lorc_tile_entry(const lorc_act_format *act, lorc_tile_fn tile, int rows, int cols) {
    return (lorc_type_kernel){.act = act, .tile = tile, .tile_rows = rows, .tile_cols = cols};
}

/* Instruction-set families, slowest first. */
typedef enum lorc_isa {
    LORC_ISA_SCALAR = 0,
    LORC_ISA_AVX2 = 1,   /* AVX2 + FMA + F16C */
    LORC_ISA_AVX512 = 2, /* AVX-512 F/BW/VL (+ VNNI where present) over the AVX2 family */
    LORC_ISA_NEON = 3,
    LORC_ISA_COUNT = 4
} lorc_isa;

typedef struct lorc_cpu_features {
    bool avx2, fma, f16c;
    bool avx512f, avx512bw, avx512vl, avx512vnni, avx512bf16, avx512vbmi;
    bool avxvnni;
    bool neon, dotprod;
} lorc_cpu_features;

/* Float helpers for attention and the small ops. */
typedef struct lorc_vec_kernels {
    float (*dot_f32)(const float *a, const float *b, int64_t n);
    void (*axpy_f32)(float a, const float *x, float *y, int64_t n); /* y += a·x */
    /* x[i] = exp(x[i] - max) / sum, in place; returns nothing, n >= 1 */
    void (*softmax_f32)(float *x, int64_t n);
    /* F16 rows to F32 and back (round to nearest even), for the KV cache's
     * F16 elements: the same bits as the F16 type's to_float/from_float. */
    void (*f16_to_f32)(const void *src, float *dst, int64_t n);
    void (*f32_to_f16)(const float *src, void *dst, int64_t n);
    /* gate[i] = silu(gate[i]) * up[i]. Each element by the same operations
     * wherever it sits (a row alone or in a batch: same bits). */
    void (*swiglu_f32)(float *gate, const float *up, int64_t n);
    /* Attention's P·V over a run of positions, for n_q queries at once:
     *   out[c][j] += p[c * p_stride + t] · v[t * v_stride + j]
     * for c < n_q, j < n, t < n_t, added one position at a time in t order
     * (per element the same operations as one axpy_f32 per t), so a query's
     * bits depend neither on n_q nor on how its positions are split over
     * calls: a query decoded alone equals the same query inside a prompt.
     * Each V row is read once per few queries instead of once per query. */
    void (*weighted_rows_f32)(int n_q, int n_t, const float *p, size_t p_stride, const float *v, size_t v_stride,
                              float *const *out, int64_t n);
    /* softmax_f32 of x[i] · scale, in place (attention's 1/sqrt(head_dim)):
     * the bits of x[i] *= scale then softmax_f32, one pass fewer. */
    void (*softmax_scaled_f32)(float *x, int64_t n, float scale);
    /* Attention's Q·Kᵀ against K kept by dimension (the KV cache's F16 or
     * F32 K, kv_pool.h): for c < n_q and t < n_t,
     *   s[c * s_stride + t] = sum over d < hd of q[c * hd + d] · k[d * k_stride + t]
     * as one fused multiply-add per d, in d order from zero. So a score's
     * bits depend only on its query and key, whatever n_q, n_t or the
     * family; and no per-score horizontal sum is needed. f16: k holds F16. */
    void (*scores_cols)(int n_q, int hd, const float *q, const void *k, bool f16, size_t k_stride, int n_t, float *s,
                        size_t s_stride);
} lorc_vec_kernels;

typedef struct lorc_kernels {
    lorc_isa isa;
    lorc_cpu_features cpu;
    lorc_type_kernel type[LORC_TYPE_COUNT];
    lorc_vec_kernels vec;
} lorc_kernels;

/* What this CPU (and OS: saved vector state) supports. */
void lorc_cpu_detect(lorc_cpu_features *f);
/* The fastest family `f` supports. */
lorc_isa lorc_isa_best(const lorc_cpu_features *f);
/* True when this build contains kernels of `isa`. */
bool lorc_isa_built(lorc_isa isa);
/* True when `f` can run `isa`. */
bool lorc_isa_supported(const lorc_cpu_features *f, lorc_isa isa);
const char *lorc_isa_name(lorc_isa isa); /* "scalar", "avx2", "avx512", "neon" */
/* "scalar" / "avx2" / "avx512" / "neon" / "auto"; -1 for anything else. */
int lorc_isa_from_name(const char *name);

/* Fills k with the kernels of `isa` (entries it lacks stay scalar). The
 * caller checks lorc_isa_supported first: running an unsupported family
 * faults. */
void lorc_kernels_init(lorc_kernels *k, const lorc_cpu_features *cpu, lorc_isa isa);
/* The scalar reference table (tests, tools that never run a forward pass). */
void lorc_kernels_init_scalar(lorc_kernels *k);

/* Per-family fill functions (each in its own file, built with its own
 * target flags; on a build without that family they do nothing). */
void lorc_kernels_fill_scalar(lorc_kernels *k);
void lorc_kernels_fill_avx2_float(lorc_kernels *k);   /* F32, F16, BF16 + vec helpers */
void lorc_kernels_fill_avx2_legacy(lorc_kernels *k);  /* Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 */
void lorc_kernels_fill_avx2_kquants(lorc_kernels *k); /* Q2_K .. Q6_K */
void lorc_kernels_fill_avx2_ffn(lorc_kernels *k);     /* vec.swiglu_f32 */
void lorc_kernels_fill_avx2_short(lorc_kernels *k);   /* short_rows of F32, F16 (after the others) */
void lorc_kernels_fill_avx2_vec(lorc_kernels *k);     /* attention's P·V, scaled softmax */
/* AVX-512: the AVX2 family, then ZMM tiles for the float types, (with
 * VNNI) packed tiles for the legacy block types and the k-quants, and
 * decode tiles for Q4_K, Q6_K, Q4_0 (with VBMI), Q8_0 and short F16 rows */
void lorc_kernels_fill_avx512_legacy(lorc_kernels *k); /* Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 */
void lorc_kernels_fill_avx512_float(lorc_kernels *k);  /* F32, F16, BF16 */
void lorc_kernels_fill_avx512_attention(lorc_kernels *k); /* Q·Kᵀ, softmax, P·V */
void lorc_kernels_fill_avx512_q4k(lorc_kernels *k);     /* Q4_K (packed and decode) */
void lorc_kernels_fill_avx512_kq_pairs(lorc_kernels *k); /* Q2_K, Q3_K, Q5_K, Q6_K */
void lorc_kernels_fill_avx512_kq16(lorc_kernels *k);     /* Q5_K, Q6_K decode */
void lorc_kernels_fill_avx512_q23k(lorc_kernels *k);     /* Q2_K, Q3_K decode */
void lorc_kernels_fill_avx512_q45(lorc_kernels *k);      /* Q4_0, Q4_1, Q5_0, Q5_1 decode */
void lorc_kernels_fill_avx512_q8_0(lorc_kernels *k);     /* Q8_0 decode */
void lorc_kernels_fill_avx512_short(lorc_kernels *k);    /* F16 short rows (LoRA B), decode */
void lorc_kernels_fill_neon_float(lorc_kernels *k);   /* F32, F16, BF16 + vec dot, axpy */
void lorc_kernels_fill_neon_legacy(lorc_kernels *k);  /* Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 */
void lorc_kernels_fill_neon_kquants(lorc_kernels *k); /* Q4_K, Q5_K, Q6_K */
void lorc_kernels_fill_neon_vec(lorc_kernels *k);     /* attention's P·V */

#endif
