/* bench_scaling.c — `lorc bench --scaling`: decode speed with one thread
 * against the run's N threads, rounds alternating so that both see the same
 * machine state, next to the read bandwidth with 1 and with N threads. A
 * decode that streams every weight once per token is bound by memory, and
 * it cannot scale further than the bandwidth does: the bandwidth ratio is
 * the ceiling to read the decode ratio against. */
#include "bench.h"

lorc_status bench_scaling_run(lorc_model *model, lorc_context *ctx_n, int n_gen, int reps, size_t bw_bytes,
                              bench_scaling_result *out, lorc_error *err) {
    *out = (bench_scaling_result){.threads = bench_threads(ctx_n), .tg_tps_1 = -1, .tg_tps_n = -1,
                                  .bandwidth_gbs_1 = -1, .bandwidth_gbs_n = -1};
    lorc_context_params cp = lorc_context_default_params();
    cp.n_threads = 1;
    cp.n_ctx = n_gen + 1;
    cp.n_batch = 1;
    lorc_context *ctx_1 = NULL;
    lorc_status st = lorc_context_new(model, &cp, &ctx_1, err);
    bench_speed one = BENCH_SPEED_NONE, many = BENCH_SPEED_NONE, round;
    /* one token first: the new context's buffers are touched once */
    if (st == LORC_OK) st = bench_speed_round(ctx_1, NULL, 0, 1, &round, err);
    for (int r = 0; r < reps && st == LORC_OK; r++) {
        st = bench_speed_round(ctx_1, NULL, 0, n_gen, &round, err);
        bench_speed_keep_best(&one, &round);
        if (st == LORC_OK) st = bench_speed_round(ctx_n, NULL, 0, n_gen, &round, err);
        bench_speed_keep_best(&many, &round);
    }
    lorc_context_free(ctx_1);
    if (st != LORC_OK) return st;
    out->tg_tps_1 = one.tg_tps;
    out->tg_tps_n = many.tg_tps;
    /* N threads measured again beside 1, not taken from the run's earlier
     * figure: here the bandwidth drifts by 20% within minutes */
    if (bw_bytes > 0) {
        const double bw_1 = bench_read_bandwidth(1, bw_bytes, 5), bw_n = bench_read_bandwidth(out->threads, bw_bytes, 5);
        out->bandwidth_gbs_1 = bw_1 > 0 ? bw_1 / 1e9 : -1;
        out->bandwidth_gbs_n = bw_n > 0 ? bw_n / 1e9 : -1;
    }
    return LORC_OK;
}
