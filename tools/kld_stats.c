/* kld_stats.c — accumulation and summary of the KL-divergence statistics
 * (same definitions and uncertainty estimates as llama.cpp's perplexity). */
#include "kld_stats.h"

#include <math.h>

void kld_log_softmax(const float *logits, int n_vocab, float *out) {
    float max = logits[0];
    for (int i = 1; i < n_vocab; i++)
        if (logits[i] > max) max = logits[i];
    double sum = 0.0;
    for (int i = 0; i < n_vocab; i++) sum += expf(logits[i] - max);
    const float lse = max + (float)log(sum);
    for (int i = 0; i < n_vocab; i++) out[i] = logits[i] - lse;
}

void kld_stats_add(kld_stats *k, int n_vocab, const float *logits, const float *base_log_probs, int32_t tok,
                   float *kld_out, float *p_diff_out) {
    float max_logit = logits[0];
    int imax = 0;
    for (int i = 1; i < n_vocab; i++)
        if (logits[i] > max_logit) {
            max_logit = logits[i];
            imax = i;
        }
    double sum_exp = 0.0;
    for (int i = 0; i < n_vocab; i++) sum_exp += expf(logits[i] - max_logit);
    const float log_sum_exp = (float)log(sum_exp);

    const float nll = max_logit + log_sum_exp - logits[tok];
    const float nll_base = -base_log_probs[tok];
    k->sum_nll += nll;
    k->sum_nll2 += (double)nll * nll;
    k->sum_nll_base += nll_base;
    k->sum_nll_base2 += (double)nll_base * nll_base;
    k->sum_nll_nll_base += (double)nll * nll_base;

    /* KL(base || test) = sum p_base (log p_base - log p_test). */
    const float norm = max_logit + log_sum_exp;
    double kl = 0.0;
    int imax_base = 0;
    float best_base = base_log_probs[0];
    for (int i = 0; i < n_vocab; i++) {
        const float lb = base_log_probs[i];
        if (i > 0 && lb > best_base) {
            best_base = lb;
            imax_base = i;
        }
        if (lb > -16.f) kl += expf(lb) * (lb - logits[i] + norm);
    }
    k->sum_kld += kl;
    k->sum_kld2 += kl * kl;
    k->count++;
    if (imax == imax_base) k->n_same_top++;

    const float p_diff = expf(-nll) - expf(-nll_base);
    const double d2 = (double)p_diff * p_diff;
    k->sum_p_diff += p_diff;
    k->sum_p_diff2 += d2;
    k->sum_p_diff4 += d2 * d2;
    if (fabsf(p_diff) > k->max_p_diff) k->max_p_diff = fabsf(p_diff);
    if (kld_out) *kld_out = (float)kl;
    if (p_diff_out) *p_diff_out = p_diff;
}

/* Mean and its standard error; no error below 11 samples (too few to say). */
static void mean_unc(double sum, double sum2, size_t n, double *mean, double *unc) {
    *mean = *unc = 0.0;
    if (n < 1) return;
    *mean = sum / (double)n;
    double var = sum2 / (double)n - *mean * *mean;
    *unc = var > 0 && n > 10 ? sqrt(var / (double)(n - 1)) : 0.0;
}

static double covariance(double suma, double sumb, double sumab, size_t n) {
    if (n < 10) return 0.0;
    double c = sumab / (double)n - (suma / (double)n) * (sumb / (double)n);
    return c / (double)(n - 1);
}

void kld_summarize(const kld_stats *k, kld_summary *s) {
    double lp, lp_unc, lb, lb_unc, m2, m2_unc;
    s->count = k->count;
    mean_unc(k->sum_nll, k->sum_nll2, k->count, &lp, &lp_unc);
    mean_unc(k->sum_nll_base, k->sum_nll_base2, k->count, &lb, &lb_unc);
    s->ppl = exp(lp);
    s->ppl_unc = s->ppl * lp_unc;
    s->ppl_base = exp(lb);
    s->ppl_base_unc = s->ppl_base * lb_unc;
    const double cov = covariance(k->sum_nll, k->sum_nll_base, k->sum_nll_nll_base, k->count);
    s->log_ppl_cor = lp_unc > 0 && lb_unc > 0 ? cov / (lp_unc * lb_unc) : 0.0;
    s->log_ratio = lp - lb;
    double v = lp_unc * lp_unc + lb_unc * lb_unc - 2.0 * cov;
    s->log_ratio_unc = v > 0 ? sqrt(v) : 0.0;
    s->ratio = exp(s->log_ratio);
    s->ratio_unc = s->ratio * s->log_ratio_unc;
    s->diff = s->ppl - s->ppl_base;
    v = s->ppl_unc * s->ppl_unc + s->ppl_base_unc * s->ppl_base_unc - 2.0 * s->ppl * s->ppl_base * cov;
    s->diff_unc = v > 0 ? sqrt(v) : 0.0;
    mean_unc(k->sum_kld, k->sum_kld2, k->count, &s->kld, &s->kld_unc);
    mean_unc(k->sum_p_diff, k->sum_p_diff2, k->count, &s->p_diff, &s->p_diff_unc);
    mean_unc(k->sum_p_diff2, k->sum_p_diff4, k->count, &m2, &m2_unc);
    s->rms_p_diff = sqrt(m2);
    s->rms_p_diff_unc = s->rms_p_diff > 0 ? 0.5 / s->rms_p_diff * m2_unc : 0.0;
    s->same_top = k->count ? (double)k->n_same_top / (double)k->count : 0.0;
    s->same_top_unc =
        k->count > 1 ? sqrt(s->same_top * (1.0 - s->same_top) / (double)(k->count - 1)) : 0.0;
}

float kld_percentile(const float *sorted, size_t n, float fraction) {
    if (n == 0) return 0.0f;
    if (fraction <= 0) return sorted[0];
    if (fraction >= 1) return sorted[n - 1];
    float p = fraction * (float)(n - 1);
    size_t ip = (size_t)p;
    p -= (float)ip;
    size_t next = ip + 1 < n ? ip + 1 : n - 1;
    return (1 - p) * sorted[ip] + p * sorted[next];
}
