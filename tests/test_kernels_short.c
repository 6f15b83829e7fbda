/* test_kernels_short.c — the short-row tiles (LoRA B·t: rows of r values)
 * of each ISA against a double-precision dot, for F32 and F16 weights and
 * r from 1 to LORC_SHORT_ROW_MAX (tails included); every pair bit-identical
 * whatever nr, nc and its place in the tile; nothing written outside the
 * nr x nc outputs; the column tiles (B in the layout of lora_cols.h) with
 * the row tiles' bits; and lorc_matmul's LoRA term through them equal to the
 * row-by-row reference. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/kernels.h"
#include "tensor/lora_cols.h"
#include "tensor/quant_impl.h"
#include "tensor/types.h"
#include "testutil.h"

static uint64_t rng_state = 88172645463325252ull;
static double rnd(void) {
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

static void check_type(const lorc_kernels *k, uint32_t type, int64_t n) {
    const lorc_type_kernel *e = k->type[type].short_rows;
    const int R = e->tile_rows, C = e->tile_cols;
    const size_t row = lorc_row_bytes(type, n) + 2 * (size_t)(n % 3); /* odd strides too */
    uint8_t *w = calloc((size_t)R, row);
    float *wf = malloc((size_t)(R * n) * sizeof(float));
    float *x = malloc((size_t)(C * n) * sizeof(float));
    for (int r = 0; r < R; r++) {
        for (int64_t i = 0; i < n; i++) wf[r * n + i] = (float)(rnd() * (r == 3 ? 1e-3 : 1.0));
        lorc_type_get(type)->from_float(wf + r * n, w + (size_t)r * row, n);
        lorc_type_get(type)->to_float(w + (size_t)r * row, wf + r * n, n);
    }
    for (int64_t i = 0; i < C * n; i++) x[i] = (float)(rnd() * 3.0);
    float full[16 * 16], part[16 * 16];
    e->tile(n, w, row, R, x, (size_t)n * sizeof(float), C, full, (size_t)R);
    int bad = 0;
    for (int c = 0; c < C; c++)
        for (int r = 0; r < R; r++) {
            double want = 0, mag = 0;
            for (int64_t i = 0; i < n; i++) {
                want += (double)wf[r * n + i] * x[c * n + i];
                mag += fabs((double)wf[r * n + i] * x[c * n + i]);
            }
            if (!(fabs(full[c * R + r] - want) <= 1e-6 * mag + 1e-30) && bad++ < 3)
                fprintf(stderr, "%s %s r=%lld: pair (%d,%d) %.9g, exact %.9g\n", lorc_isa_name(k->isa),
                        lorc_type_name(type), (long long)n, r, c, full[c * R + r], want);
        }
    CHECK_MSG(bad == 0, "%s %s r=%lld: %d pairs off the exact dot", lorc_isa_name(k->isa), lorc_type_name(type),
              (long long)n, bad);
    int moved = 0, outside = 0;
    for (int nr = 1; nr <= R; nr++)
        for (int nc = 1; nc <= C; nc++)
            for (int r0 = 0; r0 + nr <= R; r0 += 3)
                for (int c0 = 0; c0 + nc <= C; c0++) {
                    for (int i = 0; i < 16 * 16; i++) part[i] = -5.0f;
                    e->tile(n, w + (size_t)r0 * row, row, nr, x + c0 * n, (size_t)n * sizeof(float), nc, part,
                                  (size_t)R);
                    for (int c = 0; c < C; c++)
                        for (int r = 0; r < R; r++) {
                            if (c < nc && r < nr)
                                moved += memcmp(&part[c * R + r], &full[(c0 + c) * R + r0 + r], sizeof(float)) != 0;
                            else
                                outside += part[c * R + r] != -5.0f;
                        }
                }
    CHECK_MSG(moved == 0, "%s %s r=%lld: %d pairs depend on the tile's shape or place", lorc_isa_name(k->isa),
              lorc_type_name(type), (long long)n, moved);
    CHECK_MSG(outside == 0, "%s %s r=%lld: %d writes outside the tile", lorc_isa_name(k->isa), lorc_type_name(type),
              (long long)n, outside);
    /* packed (prompts): the same bits for every nr (padding rows) and nc */
    if (e->pack) {
        uint8_t *packed = malloc(e->pack_bytes(n));
        int differ = 0;
        for (int nr = 1; nr <= R; nr++) {
            e->pack(n, w, row, nr, packed);
            for (int nc = 1; nc <= C; nc++) {
                for (int i = 0; i < 16 * 16; i++) part[i] = -5.0f;
                e->tile_packed(n, packed, 0, nr, x, (size_t)n * sizeof(float), nc, part, (size_t)R);
                for (int c = 0; c < C; c++)
                    for (int r = 0; r < R; r++)
                        differ += (c < nc && r < nr) ? memcmp(&part[c * R + r], &full[c * R + r], sizeof(float)) != 0
                                                     : part[c * R + r] != -5.0f;
            }
        }
        CHECK_MSG(differ == 0, "%s %s r=%lld: %d packed-tile outputs differ from the streaming tile's",
                  lorc_isa_name(k->isa), lorc_type_name(type), (long long)n, differ);
        free(packed);
    }
    /* the adding tiles (a LoRA term's B·t into the base output): the bits of
     * the dot, then y + alpha * dot as one C statement (kernels.h), for one
     * activation row (decode) as for several, streaming and packed */
    if (e->tile_acc) {
        float alpha[16], y0[16 * 16], want[16 * 16];
        for (int c = 0; c < C; c++) alpha[c] = 0.3f + 0.37f * (float)c;
        for (int i = 0; i < 16 * 16; i++) y0[i] = (float)rnd();
        for (int c = 0; c < C; c++)
            for (int r = 0; r < R; r++) want[c * R + r] = y0[c * R + r] + alpha[c] * full[c * R + r];
        uint8_t *packed = e->pack ? malloc(e->pack_bytes(n)) : NULL;
        if (packed) e->pack(n, w, row, R, packed);
        int off = 0;
        for (int nc = 1; nc <= C; nc++)
            for (int c0 = 0; c0 + nc <= C; c0++)
                for (int use_packed = 0; use_packed <= (packed != NULL); use_packed++) {
                    memcpy(part, y0, sizeof part);
                    if (use_packed)
                        e->tile_packed_acc(n, packed, 0, R, x + c0 * n, (size_t)n * sizeof(float), nc, alpha + c0,
                                           part + c0 * R, (size_t)R);
                    else
                        e->tile_acc(n, w, row, R, x + c0 * n, (size_t)n * sizeof(float), nc, alpha + c0, part + c0 * R,
                                    (size_t)R);
                    for (int c = 0; c < C; c++)
                        for (int r = 0; r < R; r++) {
                            const float *expect = (c >= c0 && c < c0 + nc) ? &want[c * R + r] : &y0[c * R + r];
                            off += memcmp(&part[c * R + r], expect, sizeof(float)) != 0;
                        }
                }
        CHECK_MSG(off == 0, "%s %s r=%lld: %d outputs of the adding tiles differ from y + alpha * dot",
                  lorc_isa_name(k->isa), lorc_type_name(type), (long long)n, off);
        free(packed);
        /* the column tile, on the same rows in the column layout: the same
         * bits, for every nr and nc, and nothing written past them */
        uint8_t *cols = e->tile_cols_acc ? malloc(lorc_lora_cols_bytes(type, n, R)) : NULL;
        if (cols) {
            CHECK(R == LORC_LORA_COLS_BLOCK);
            lorc_lora_cols_build(type, n, R, w, row, cols);
            int wrong = 0;
            for (int nr = 1; nr <= R; nr++)
                for (int nc = 1; nc <= C; nc++)
                    for (int c0 = 0; c0 + nc <= C; c0++) {
                        memcpy(part, y0, sizeof part);
                        e->tile_cols_acc(n, cols, 0, nr, x + c0 * n, (size_t)n * sizeof(float), nc, alpha + c0,
                                         part + c0 * R, (size_t)R);
                        for (int c = 0; c < C; c++)
                            for (int r = 0; r < R; r++) {
                                const bool in = c >= c0 && c < c0 + nc && r < nr;
                                wrong += memcmp(&part[c * R + r], in ? &want[c * R + r] : &y0[c * R + r],
                                                sizeof(float)) != 0;
                            }
                    }
            CHECK_MSG(wrong == 0, "%s %s r=%lld: %d outputs of the column tile differ from the row tile's",
                      lorc_isa_name(k->isa), lorc_type_name(type), (long long)n, wrong);
            free(cols);
        }
    }
    free(x);
    free(wf);
    free(w);
}

int main(void) {
    lorc_cpu_features cpu;
    lorc_cpu_detect(&cpu);
    int checked = 0;
    for (int isa = 0; isa < LORC_ISA_COUNT; isa++) {
        if (!lorc_isa_supported(&cpu, (lorc_isa)isa) || !lorc_isa_built((lorc_isa)isa)) continue;
        lorc_kernels k;
        lorc_kernels_init(&k, &cpu, (lorc_isa)isa);
        if (isa == LORC_ISA_AVX2) CHECK(k.type[LORC_TYPE_F32].short_rows && k.type[LORC_TYPE_F16].short_rows);
        const uint32_t types[2] = {LORC_TYPE_F32, LORC_TYPE_F16};
        for (int t = 0; t < 2; t++) {
            const lorc_type_kernel *e = k.type[types[t]].short_rows;
            if (!e) continue;
            CHECK(e->tile_rows >= 1 && e->tile_rows <= 16 && e->tile_cols >= 1 && e->tile_cols <= 16);
            CHECK(e->act == k.type[types[t]].act); /* the same activation rows as the type's own products */
            const int64_t ns[] = {1, 7, 8, 9, 16, 17, 31, 64};
            for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) check_type(&k, types[t], ns[i]);
            checked++;
        }
        printf("%s: short-row tiles checked\n", lorc_isa_name((lorc_isa)isa));
    }
    if (!checked) printf("no ISA here has short-row tiles: nothing to compare\n");
    return test_finish("kernels_short");
}
