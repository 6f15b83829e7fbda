/* kld_report.h — printing KL-divergence results in the layout of llama.cpp's
 * perplexity tool (a row per chunk, then the full statistics). */
#ifndef LORC_TOOLS_KLD_REPORT_H
#define LORC_TOOLS_KLD_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include "kld_stats.h"

void kld_report_chunk_header(FILE *fp);
/* One row with the running figures after chunk `chunk` (1-based). */
void kld_report_chunk(FILE *fp, int chunk, const kld_stats *k);
/* The final statistics; sorts kld_values and p_diff_values (n each). */
void kld_report_final(FILE *fp, const kld_stats *k, float *kld_values, float *p_diff_values, size_t n);

#endif
