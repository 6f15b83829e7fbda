/* avx2_kquants.c — puts the AVX2 k-quant tiles (avx2_q23k.c, avx2_q45k.c,
 * avx2_q6k.c; the Q5_K and Q6_K packed prompt tiles: avx2_kq16_packed.c) and their
 * activation formats (kq_act.h) into a kernel table.
 * Built with -mavx2 -mfma -mf16c; filled only on a CPU that has them. */
#include "../kernels.h"
#include "avx2_kq_common.h"
#include "avx2_q5k.h"
#include "avx2_q6k.h"

void lorc_kernels_fill_avx2_kquants(lorc_kernels *k) {
#if defined(__x86_64__)
    const lorc_act_format *q8 = &lorc_avx2_act_fmt_q8_K256, *q16 = &lorc_avx2_act_fmt_q16_K256;
    k->type[LORC_TYPE_Q2_K] = lorc_tile_entry(q8, lorc_avx2_tile_q2_K, LORC_KQ_TILE_ROWS, LORC_KQ_TILE_COLS);
    k->type[LORC_TYPE_Q3_K] = lorc_tile_entry(q8, lorc_avx2_tile_q3_K, LORC_KQ_TILE_ROWS, LORC_KQ_TILE_COLS);
    k->type[LORC_TYPE_Q4_K] = lorc_avx2_q4_K_entry();
    k->type[LORC_TYPE_Q5_K] = lorc_tile_entry(q16, lorc_avx2_tile_q5_K, LORC_KQ_TILE_ROWS, LORC_KQ_TILE_COLS);
    k->type[LORC_TYPE_Q5_K].pack = lorc_avx2_pack_q5_K;
    k->type[LORC_TYPE_Q5_K].pack_bytes = lorc_avx2_pack_bytes_q5_K;
    k->type[LORC_TYPE_Q5_K].tile_packed = lorc_avx2_tile_packed_q5_K;
    k->type[LORC_TYPE_Q6_K] = lorc_tile_entry(q16, lorc_avx2_tile_q6_K, LORC_KQ_TILE_ROWS, LORC_KQ_TILE_COLS);
    k->type[LORC_TYPE_Q6_K].pack = lorc_avx2_pack_q6_K;
    k->type[LORC_TYPE_Q6_K].pack_bytes = lorc_avx2_pack_bytes_q6_K;
    k->type[LORC_TYPE_Q6_K].tile_packed = lorc_avx2_tile_packed_q6_K;
#else
    (void)k;
#endif
}
