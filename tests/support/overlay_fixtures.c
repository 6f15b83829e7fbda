/* overlay_fixtures.c — see overlay_fixtures.h. */
#include "overlay_fixtures.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "adapter/overlay.h"
#include "format/gguf.h"
#include "tensor/types.h"

float *fx_logits(lorc_model *model, const int32_t *tokens, int n, lorc_adapter *const *ads, const float *scales,
                 int n_ads) {
    lorc_error err = {0};
    lorc_context *ctx = NULL;
    lorc_sequence *seq = NULL;
    lorc_context_params cp = lorc_context_default_params();
    cp.n_threads = 1;
    cp.n_ctx = n;
    cp.n_batch = n;
    size_t nv = (size_t)lorc_model_n_vocab(model);
    float *logits = malloc((size_t)n * nv * sizeof *logits);
    lorc_status st = logits ? LORC_OK : LORC_ERR_NOMEM;
    if (!st) st = lorc_context_new(model, &cp, &ctx, &err);
    if (!st) st = lorc_sequence_new(ctx, &seq, &err);
    if (!st && n_ads) st = lorc_sequence_set_adapters(seq, ads, scales, n_ads, &err);
    if (!st) st = lorc_decode(ctx, seq, tokens, n, true, logits, &err);
    if (st) {
        fprintf(stderr, "fx_logits: %s\n", err.message);
        free(logits);
        logits = NULL;
    }
    lorc_sequence_free(seq);
    lorc_context_free(ctx);
    return logits;
}

double fx_rel_diff(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > num || isnan(d)) num = isnan(d) ? INFINITY : d;
        if (fabs((double)b[i]) > den) den = fabs((double)b[i]);
    }
    return den > 0 ? num / den : num;
}

int fx_run_cli(char **output, const char *fmt, ...) {
    const char *bin = getenv("LORC_BIN");
    if (!bin) bin = "lorc";
    char args[4096], cmd[5120];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", bin, args);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += got;
        if (cap - len < 1024) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) break;
            buf = nb;
            cap *= 2;
        }
    }
    if (buf) buf[len] = '\0';
    int status = pclose(p);
    if (output) *output = buf;
    else free(buf);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

lorc_status fx_write_overlay_f32(const char *base_path, const char *path, const char *const *names,
                                 float *const *values, int n, lorc_error *err) {
    gguf_file *base = NULL;
    lorc_overlay_writer *w = NULL;
    lorc_status st = gguf_open(base_path, &base, err);
    if (!st) st = lorc_overlay_writer_new(base, &w, err);
    for (int i = 0; i < n && !st; i++) st = lorc_overlay_writer_add(w, names[i], LORC_TYPE_F32, values[i], err);
    if (!st) st = lorc_overlay_writer_write(w, path, NULL, NULL, err);
    lorc_overlay_writer_free(w);
    gguf_close(base);
    return st;
}

lorc_status fx_write_raw_overlay(const char *path, const char *arch, const char *table_hex, int n,
                                 const char *const *names, const int64_t (*ne)[2], const char *const *hashes, float fill,
                                 lorc_error *err) {
    gguf_writer *w = gguf_writer_new();
    gguf_writer_allow_nonfinite(w); /* a fixture: may write hostile values on purpose */
    float **bufs = calloc((size_t)n + 1, sizeof *bufs);
    lorc_status st = w && bufs ? LORC_OK : LORC_ERR_NOMEM;
    if (!st) st = gguf_writer_set_str(w, "general.architecture", arch);
    if (!st) st = gguf_writer_set_str(w, "general.type", "overlay");
    if (!st) st = gguf_writer_set_u32(w, LORC_OVERLAY_KEY_VERSION, 1);
    if (!st) st = gguf_writer_set_str(w, LORC_OVERLAY_KEY_TABLE, table_hex);
    if (!st) st = gguf_writer_set_arr_str(w, LORC_OVERLAY_KEY_HASHES, hashes, (uint64_t)n);
    for (int i = 0; i < n && !st; i++) {
        bufs[i] = malloc((size_t)(ne[i][0] * ne[i][1]) * sizeof(float));
        if (!bufs[i]) {
            st = LORC_ERR_NOMEM;
            break;
        }
        for (int64_t j = 0; j < ne[i][0] * ne[i][1]; j++) bufs[i][j] = fill;
        st = gguf_writer_add_tensor(w, names[i], LORC_TYPE_F32, 2, ne[i], bufs[i]);
    }
    if (!st) st = gguf_writer_write(w, path, NULL, NULL, err);
    else if (err) snprintf(err->message, sizeof err->message, "fx_write_raw_overlay: setup failed");
    for (int i = 0; bufs && i < n; i++) free(bufs[i]);
    free(bufs);
    gguf_writer_free(w);
    return st;
}

int fx_count(const char *hay, const char *needle) {
    int n = 0;
    size_t len = strlen(needle);
    for (const char *p = hay ? strstr(hay, needle) : NULL; p; p = strstr(p + len, needle)) n++;
    return n;
}

lorc_status fx_write_moon_overlay(const char *path, lorc_error *err) {
    static const char *const kinds[3] = {"attn_q", "attn_v", "attn_output"};
    char base[1024], full[1024];
    snprintf(base, sizeof base, "%s", test_shared("models/stories260K.gguf"));
    snprintf(full, sizeof full, "%s", test_shared("adapters/moon-full-qvo/stories260K-moon-full-qvo-F32.gguf"));
    gguf_file *f = NULL;
    lorc_status st = gguf_open(full, &f, err);
    if (st) return st;
    char names[15][64];
    const char *np[15];
    float *vals[15];
    int n = 0;
    for (int l = 0; l < 5 && !st; l++)
        for (int k = 0; k < 3 && !st; k++, n++) {
            snprintf(names[n], sizeof names[n], "blk.%d.%s.weight", l, kinds[k]);
            const gguf_tensor_info *t = gguf_find_tensor(f, names[n]);
            np[n] = names[n];
            if (!t || t->type != LORC_TYPE_F32) {
                snprintf(err->message, sizeof err->message, "%s: no F32 tensor '%s'", full, names[n]);
                st = err->status = LORC_ERR_MISMATCH;
            } else {
                vals[n] = (float *)t->data; /* borrowed from the mapping until the write returns */
            }
        }
    if (!st) st = fx_write_overlay_f32(base, path, np, vals, n, err);
    gguf_close(f);
    return st;
}
