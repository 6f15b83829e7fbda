/* kld_report.c — llama.cpp-style text output of the KL statistics. */
#include "kld_report.h"

#include <math.h>
#include <stdlib.h>

void kld_report_chunk_header(FILE *fp) {
    fprintf(fp, "chunk             PPL               ln(PPL(Q)/PPL(base))          KL Divergence              "
                "\xce\x94p RMS            Same top p\n");
}

void kld_report_chunk(FILE *fp, int chunk, const kld_stats *k) {
    kld_summary s;
    kld_summarize(k, &s);
    fprintf(fp, "%4d    %9.4f \xc2\xb1 %9.4f    %10.5f \xc2\xb1 %10.5f    %10.5f \xc2\xb1 %10.5f    %6.3f \xc2\xb1 %6.3f %%    %6.3f "
                "\xc2\xb1 %6.3f %%\n",
            chunk, s.ppl, s.ppl_unc, s.log_ratio, s.log_ratio_unc, s.kld, s.kld_unc, 100.0 * s.rms_p_diff,
            100.0 * s.rms_p_diff_unc, 100.0 * s.same_top, 100.0 * s.same_top_unc);
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static float median(const float *v, size_t n) {
    return n % 2 == 0 ? 0.5f * (v[n / 2] + v[n / 2 - 1]) : v[n / 2];
}

void kld_report_final(FILE *fp, const kld_stats *k, float *kv, float *pv, size_t n) {
    kld_summary s;
    kld_summarize(k, &s);
    if (n == 0) return;
    qsort(kv, n, sizeof *kv, cmp_float);
    qsort(pv, n, sizeof *pv, cmp_float);
    const char *pm = "\xc2\xb1"; /* ± */

    fprintf(fp, "\n====== Perplexity statistics ======\n");
    fprintf(fp, "Mean PPL(Q)                   : %10.6f %s %10.6f\n", s.ppl, pm, s.ppl_unc);
    fprintf(fp, "Mean PPL(base)                : %10.6f %s %10.6f\n", s.ppl_base, pm, s.ppl_base_unc);
    fprintf(fp, "Cor(ln(PPL(Q)), ln(PPL(base))): %6.2f%%\n", 100.0 * s.log_ppl_cor);
    fprintf(fp, "Mean ln(PPL(Q)/PPL(base))     : %10.6f %s %10.6f\n", s.log_ratio, pm, s.log_ratio_unc);
    fprintf(fp, "Mean PPL(Q)/PPL(base)         : %10.6f %s %10.6f\n", s.ratio, pm, s.ratio_unc);
    fprintf(fp, "Mean PPL(Q)-PPL(base)         : %10.6f %s %10.6f\n", s.diff, pm, s.diff_unc);

    static const struct {
        const char *label;
        float f;
    } kq[] = {{"99.9%   KLD", 0.999f}, {"99.0%   KLD", 0.990f}, {"95.0%   KLD", 0.950f}, {"90.0%   KLD", 0.900f},
              {NULL, 0.5f},            {"10.0%   KLD", 0.100f}, {" 5.0%   KLD", 0.050f}, {" 1.0%   KLD", 0.010f},
              {" 0.1%   KLD", 0.001f}};
    fprintf(fp, "\n====== KL divergence statistics ======\n");
    fprintf(fp, "Mean    KLD: %10.6f %s %10.6f\n", s.kld, pm, s.kld_unc);
    fprintf(fp, "Maximum KLD: %10.6f\n", kv[n - 1]);
    for (size_t i = 0; i < sizeof kq / sizeof kq[0]; i++) {
        if (kq[i].label)
            fprintf(fp, "%s: %10.6f\n", kq[i].label, kld_percentile(kv, n, kq[i].f));
        else
            fprintf(fp, "Median  KLD: %10.6f\n", median(kv, n));
    }
    fprintf(fp, "Minimum KLD: %10.6f\n", kv[0]);

    static const struct {
        const char *label;
        float f;
    } pq[] = {{"99.9%   ", 0.999f}, {"99.0%   ", 0.990f}, {"95.0%   ", 0.950f}, {"90.0%   ", 0.900f},
              {"75.0%   ", 0.750f}, {NULL, 0.5f},         {"25.0%   ", 0.250f}, {"10.0%   ", 0.100f},
              {" 5.0%   ", 0.050f}, {" 1.0%   ", 0.010f}, {" 0.1%   ", 0.001f}};
    const char *dp = "\xce\x94p"; /* Δp */
    fprintf(fp, "\n====== Token probability statistics ======\n");
    fprintf(fp, "Mean    %s: %6.3f %s %5.3f %%\n", dp, 100.0 * s.p_diff, pm, 100.0 * s.p_diff_unc);
    fprintf(fp, "Maximum %s: %6.3f%%\n", dp, 100.0 * pv[n - 1]);
    for (size_t i = 0; i < sizeof pq / sizeof pq[0]; i++) {
        if (pq[i].label)
            fprintf(fp, "%s%s: %6.3f%%\n", pq[i].label, dp, 100.0 * kld_percentile(pv, n, pq[i].f));
        else
            fprintf(fp, "Median  %s: %6.3f%%\n", dp, 100.0 * median(pv, n));
    }
    fprintf(fp, "Minimum %s: %6.3f%%\n", dp, 100.0 * pv[0]);
    fprintf(fp, "RMS %s    : %6.3f %s %5.3f %%\n", dp, 100.0 * s.rms_p_diff, pm, 100.0 * s.rms_p_diff_unc);
    fprintf(fp, "Same top p: %6.3f %s %5.3f %%\n", 100.0 * s.same_top, pm, 100.0 * s.same_top_unc);
}
