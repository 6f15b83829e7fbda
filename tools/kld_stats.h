/* kld_stats.h — the statistics llama.cpp's perplexity tool reports when
 * comparing a model against base log-probabilities: per-token KL divergence,
 * top-token agreement, the probability change of the right token, and the
 * perplexities of both (with uncertainties and their correlation). */
#ifndef LORC_TOOLS_KLD_STATS_H
#define LORC_TOOLS_KLD_STATS_H

#include <stddef.h>
#include <stdint.h>

typedef struct kld_stats {
    double sum_nll, sum_nll2;           /* the model under test */
    double sum_nll_base, sum_nll_base2; /* the base */
    double sum_nll_nll_base;
    double sum_kld, sum_kld2;
    double sum_p_diff, sum_p_diff2, sum_p_diff4;
    double max_p_diff;
    size_t n_same_top;
    size_t count;
} kld_stats;

/* Adds one scored position: `logits` of the model under test, the base's
 * log-probabilities (n_vocab each), the true next token. Writes the token's
 * KL divergence KL(base || test) and p_test - p_base when the outputs are
 * not NULL. Like llama.cpp, base entries with log p <= -16 are left out of
 * the KL sum (the saved format cannot tell them apart). */
void kld_stats_add(kld_stats *k, int n_vocab, const float *logits, const float *base_log_probs, int32_t tok,
                   float *kld_out, float *p_diff_out);

/* Log-softmax of one row of logits (n_vocab), in place of `out`. */
void kld_log_softmax(const float *logits, int n_vocab, float *out);

typedef struct kld_summary {
    size_t count;
    double ppl, ppl_unc;           /* the model under test */
    double ppl_base, ppl_base_unc; /* the base */
    double log_ppl_cor;            /* correlation of the two ln(PPL) */
    double log_ratio, log_ratio_unc; /* ln(PPL/PPL_base) */
    double ratio, ratio_unc;         /* PPL/PPL_base */
    double diff, diff_unc;           /* PPL - PPL_base */
    double kld, kld_unc;             /* mean KL divergence */
    double p_diff, p_diff_unc;       /* mean p_test - p_base of the right token */
    double rms_p_diff, rms_p_diff_unc;
    double same_top, same_top_unc; /* fraction of positions with the same argmax */
} kld_summary;

void kld_summarize(const kld_stats *k, kld_summary *s);

/* Linear-interpolated percentile of sorted values (fraction in [0, 1]). */
float kld_percentile(const float *sorted, size_t n, float fraction);

#endif
