/* test_matmul.c — lorc_matmul against lorc_matmul_reference for every weight
 * type lorc computes with: several shapes (one row and many), LoRA terms with
 * A/B in F32 and in a quantized type, mixed per-row lists (NULL rows, shared
 * lists, a replacement weight), and 1 vs 2 threads bit-identical — with, for
 * every type, a shape big enough that the 2-thread pool must take part
 * (checked through its job count, so the comparison cannot silently be two
 * single-threaded runs). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/threadpool.h"
#include "synth.h"
#include "tensor/matmul.h"
#include "tensor/ops.h"
#include "tensor/types.h"
#include "matmul_bound.h"
#include "testutil.h"

/* A tensor with owned data. */
typedef struct owned_tensor {
    lorc_tensor t;
    void *data;
} owned_tensor;

static uint64_t rng_state = 12345;

static uint64_t next_u64(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Random [n_in, n_out] tensor of `type`: quantized from random floats when
 * the type has from_float, else random blocks kept only when they decode to
 * finite, moderate values. */
static bool make_tensor(owned_tensor *o, uint32_t type, int64_t n_in, int64_t n_out, float scale) {
    const lorc_type_info *ti = lorc_type_get(type);
    size_t rb = lorc_row_bytes(type, n_in);
    memset(o, 0, sizeof *o);
    if (!ti || !rb) return false;
    o->data = malloc(rb * (size_t)n_out);
    float *f = malloc((size_t)(n_in * n_out) * sizeof(float));
    if (!o->data || !f) return false;
    if (ti->from_float) {
        synth_random_floats(next_u64(), f, n_in * n_out, scale);
        ti->from_float(f, o->data, n_in * n_out);
    } else {
        int64_t n_blocks = n_in * n_out / ti->block_size;
        float blk[256];
        for (int64_t b = 0; b < n_blocks; b++) {
            uint8_t *p = (uint8_t *)o->data + (size_t)b * ti->block_bytes;
            for (int tries = 0;; tries++) {
                for (size_t k = 0; k < ti->block_bytes; k++) p[k] = (uint8_t)next_u64();
                ti->to_float(p, blk, ti->block_size);
                bool ok = true;
                for (int64_t k = 0; k < ti->block_size; k++) ok &= isfinite(blk[k]) && fabsf(blk[k]) < 100.0f;
                if (ok) break;
                if (tries > 100000) {
                    free(f);
                    return false;
                }
            }
        }
    }
    free(f);
    o->t.name = "test";
    o->t.type = type;
    o->t.n_dims = 2;
    o->t.ne[0] = n_in;
    o->t.ne[1] = n_out;
    o->t.ne[2] = o->t.ne[3] = 1;
    o->t.data = o->data;
    o->t.nbytes = rb * (size_t)n_out;
    return true;
}

/* Runs args through lorc_matmul on pools of 1 and 2 threads and through
 * the reference; checks closeness and bit-identity across thread counts.
 * Returns the number of jobs the 2-thread pool ran for the product. */
static unsigned check_product(const char *what, lorc_threadpool *p1, lorc_threadpool *p2, lorc_matmul_args *a) {
    const size_t n = (size_t)(a->n_rows * a->w->ne[1]);
    float *y1 = malloc(n * sizeof(float)), *y2 = malloc(n * sizeof(float)), *yr = malloc(n * sizeof(float));
    double *bound = malloc(n * sizeof(double));
    lorc_matmul_scratch s1 = {0}, s2 = {0};
    lorc_kernels kern;
    lorc_kernels_init_scalar(&kern);
    a->y = y1;
    CHECK_MSG(lorc_matmul(&kern, p1, &s1, a) == 0, "%s: lorc_matmul failed", what);
    a->y = y2;
    const unsigned jobs0 = lorc_threadpool_jobs(p2);
    CHECK_MSG(lorc_matmul(&kern, p2, &s2, a) == 0, "%s: lorc_matmul (2 threads) failed", what);
    const unsigned jobs = lorc_threadpool_jobs(p2) - jobs0;
    a->y = yr;
    lorc_matmul_reference(a);
    matmul_magnitude(a, bound);
    double worst = 0;
    size_t worst_at = 0;
    for (size_t e = 0; e < n; e++) {
        double err = fabs((double)y1[e] - (double)yr[e]) / (bound[e] + 1e-30);
        if (!(err <= worst)) {
            worst = isnan(err) ? INFINITY : err;
            worst_at = e;
        }
    }
    CHECK_MSG(worst <= 1e-5, "%s: error %.3g of the magnitude at element %zu (got %g, want %g)", what, worst, worst_at,
              (double)y1[worst_at], (double)yr[worst_at]);
    CHECK_MSG(memcmp(y1, y2, n * sizeof(float)) == 0, "%s: 1 and 2 threads differ", what);
    lorc_matmul_scratch_free(&s1);
    lorc_matmul_scratch_free(&s2);
    free(y1);
    free(y2);
    free(yr);
    free(bound);
    return jobs;
}

static void test_type(uint32_t type, lorc_threadpool *p1, lorc_threadpool *p2) {
    const lorc_type_info *ti = lorc_type_get(type);
    const int64_t bs = ti->block_size;
    /* Shapes: (n_in, n_out, n_rows); float types also get an odd row length.
     * The last two must make lorc_matmul use the pool for every type: >= 64 x
     * 640 multiply-adds per row (over its 32768 threshold) and 640 output
     * rows, more than two of its chunks (at most 256 weight rows each, and
     * a quarter of the rows when one row streams through the weights). The
     * third has more rows than most tiles, the fourth is one row (decode). */
    const int64_t base_in = bs == 1 ? 64 : (bs < 64 ? 64 : bs);
    const int64_t shapes[4][3] = {
        {bs == 1 ? 45 : base_in, 33, 1}, {base_in * 2, 96, 1}, {base_in, 640, 7}, {base_in, 640, 1}};
    char what[128];
    for (int s = 0; s < 4; s++) {
        const int64_t n_in = shapes[s][0], n_out = shapes[s][1], n_rows = shapes[s][2];
        owned_tensor w;
        if (!make_tensor(&w, type, n_in, n_out, 1.0f)) {
            CHECK_MSG(false, "%s: cannot make a [%lld, %lld] weight", ti->name, (long long)n_in, (long long)n_out);
            free(w.data);
            return;
        }
        float *x = malloc((size_t)(n_in * n_rows) * sizeof(float));
        float *bias = malloc((size_t)n_out * sizeof(float));
        synth_random_floats(next_u64(), x, n_in * n_rows, 1.0f);
        synth_random_floats(next_u64(), bias, n_out, 0.5f);
        lorc_matmul_args a = {&w.t, s == 1 ? bias : NULL, x, NULL, n_rows, NULL};
        snprintf(what, sizeof what, "%s [%lld x %lld] x %lld rows", ti->name, (long long)n_in, (long long)n_out,
                 (long long)n_rows);
        const unsigned jobs = check_product(what, p1, p2, &a);
        if (s >= 2) CHECK_MSG(jobs > 0, "%s: the 2-thread pool never ran: the comparison proves nothing", what);

        if (n_rows > 1) {
            /* LoRA: list L1 = {F32 pair, quantized pair}, L2 = replacement +
             * one F32 pair, L3 = empty; rows mix them with NULL rows. */
            const int64_t r = 32;
            uint32_t qtype = lorc_type_supported(LORC_TYPE_Q8_0) && lorc_type_get(LORC_TYPE_Q8_0)->from_float
                                 ? LORC_TYPE_Q8_0
                                 : LORC_TYPE_F16;
            owned_tensor a1, b1, a2, b2, a3, b3, rep;
            bool ok = make_tensor(&a1, LORC_TYPE_F32, n_in, r, 0.5f) && make_tensor(&b1, LORC_TYPE_F32, r, n_out, 0.5f) &&
                      make_tensor(&a2, qtype, n_in, r, 0.5f) && make_tensor(&b2, qtype, r, n_out, 0.5f) &&
                      make_tensor(&a3, LORC_TYPE_F32, n_in, 8, 0.5f) && make_tensor(&b3, LORC_TYPE_F32, 8, n_out, 0.5f) &&
                      make_tensor(&rep, LORC_TYPE_F32, n_in, n_out, 0.3f);
            CHECK_MSG(ok, "%s: cannot make adapter tensors", ti->name);
            if (ok) {
                lorc_lora_term t1[2] = {{.a = &a1.t, .b = &b1.t, .scale = 0.75f},
                                        {.a = &a2.t, .b = &b2.t, .scale = -1.5f}};
                lorc_lora_term t2[1] = {{.a = &a3.t, .b = &b3.t, .scale = 2.0f}};
                lorc_lora_list l1 = {NULL, 2, t1}, l2 = {&rep.t, 1, t2}, l3 = {NULL, 0, NULL};
                const lorc_lora_list *rows[7] = {NULL, &l1, &l1, &l2, NULL, &l1, &l3};
                a.row_lora = rows;
                a.bias = bias;
                snprintf(what, sizeof what, "%s [%lld x %lld] x 7 rows with mixed LoRA lists", ti->name,
                         (long long)n_in, (long long)n_out);
                check_product(what, p1, p2, &a);
                const lorc_lora_list *all[7] = {&l1, &l1, &l1, &l1, &l1, &l1, &l1};
                a.row_lora = all;
                snprintf(what, sizeof what, "%s with one LoRA list on every row", ti->name);
                check_product(what, p1, p2, &a);
                const lorc_lora_list *one[1] = {&l2};
                a.row_lora = one;
                a.n_rows = 1;
                snprintf(what, sizeof what, "%s single row with a replacement", ti->name);
                check_product(what, p1, p2, &a);
            }
            free(a1.data);
            free(b1.data);
            free(a2.data);
            free(b2.data);
            free(a3.data);
            free(b3.data);
            free(rep.data);
        }
        free(x);
        free(bias);
        free(w.data);
    }
}

int main(void) {
    lorc_threadpool *p1 = lorc_threadpool_new(1), *p2 = lorc_threadpool_new(2);
    CHECK(p1 && p2);
    int n_types = 0;
    for (uint32_t type = 0; type < LORC_TYPE_COUNT; type++) {
        const lorc_type_info *ti = lorc_type_get(type);
        if (!ti || !lorc_type_supported(type) || !ti->vec_dot) continue;
        n_types++;
        test_type(type, p1, p2);
    }
    printf("test_matmul: %d weight types\n", n_types);
    CHECK_MSG(n_types >= 13, "only %d computable types", n_types);
    lorc_threadpool_free(p1);
    lorc_threadpool_free(p2);
    return test_finish("test_matmul");
}
