/* overlay_fixtures.h — helpers shared by the overlay / merge / diff /
 * extract tests: logits of a model setup, running the lorc CLI with its
 * output captured, and hand-made overlay files (valid or deliberately not). */
#ifndef LORC_TESTS_OVERLAY_FIXTURES_H
#define LORC_TESTS_OVERLAY_FIXTURES_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lorc.h"
#include "testutil.h"

/* A scratch path in a local buffer (test_tmp's buffers are reused after 8 calls). */
#define FX_TMP(var, rel)  \
    char var[1024];       \
    snprintf(var, sizeof var, "%s", test_tmp(rel))

/* Logits of every position of tokens[0..n) through `model` (n × n_vocab,
 * malloc'd), with the adapters attached at their scales (n_ads may be 0).
 * NULL on failure (message printed). One thread, so runs are reproducible. */
float *fx_logits(lorc_model *model, const int32_t *tokens, int n, lorc_adapter *const *ads, const float *scales,
                 int n_ads);

/* max |a − b| / max |b| over n values. */
double fx_rel_diff(const float *a, const float *b, size_t n);

/* Runs "$LORC_BIN <args>" through the shell with stderr merged into stdout;
 * *output gets the malloc'd text (may be NULL). Returns the exit status. */
int fx_run_cli(char **output, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* An overlay for `base_path` replacing the named tensors by F32 values,
 * written with the library's overlay writer. */
lorc_status fx_write_overlay_f32(const char *base_path, const char *path, const char *const *names,
                                 float *const *values, int n, lorc_error *err);

/* The overlay of the 15 tensors the real full fine-tune moon-full-qvo
 * changed (attn_q/attn_v/attn_output of every layer, F32) over
 * shared/models/stories260K.gguf, written with the library's writer:
 * stories260K + it computes exactly as moon-full-qvo. */
lorc_status fx_write_moon_overlay(const char *path, lorc_error *err);

/* A hand-made overlay with arbitrary (possibly wrong) header fields: each
 * tensor 2-D F32 of shape ne[i] filled with `fill`; hashes[i] as given. */
lorc_status fx_write_raw_overlay(const char *path, const char *arch, const char *table_hex, int n,
                                 const char *const *names, const int64_t (*ne)[2], const char *const *hashes, float fill,
                                 lorc_error *err);

/* Number of non-overlapping occurrences of `needle` in `hay`. */
int fx_count(const char *hay, const char *needle);

#endif
