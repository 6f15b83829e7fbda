/* test_gguf_quantize.c — `lorc quantize` on the real stories260K model:
 * pure (--pure) Q8_0 and Q4_0 outputs read back with the right types, the same metadata,
 * untouched norms and small dequantization error; bad arguments refused. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "format/gguf.h"
#include "tensor/types.h"
#include "testutil.h"

static const char *bin(void) { return getenv("LORC_BIN") ? getenv("LORC_BIN") : "lorc"; }

/* Runs a shell command; returns its exit code. */
static int run(const char *cmd) {
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static bool kv_equal(const gguf_kv *a, const gguf_kv *b) {
    if (a->type != b->type) return false;
    if (a->type == GGUF_TYPE_STRING) return a->str.len == b->str.len && !memcmp(a->str.ptr, b->str.ptr, a->str.len);
    if (a->type != GGUF_TYPE_ARRAY) return !memcmp(&a->v, &b->v, sizeof a->v);
    if (a->arr_type != b->arr_type || a->arr_len != b->arr_len) return false;
    if (a->arr_type != GGUF_TYPE_STRING)
        return a->arr_len == 0 || !memcmp(a->arr_data, b->arr_data, a->arr_len * gguf_value_type_size(a->arr_type));
    for (uint64_t i = 0; i < a->arr_len; i++)
        if (a->arr_strs[i].len != b->arr_strs[i].len ||
            memcmp(a->arr_strs[i].ptr, b->arr_strs[i].ptr, a->arr_strs[i].len))
            return false;
    return true;
}

/* Relative RMS error of a converted tensor against the F32 original. */
static double rel_rms_error(const gguf_tensor_info *orig, const gguf_tensor_info *q) {
    int64_t n = orig->ne[0] * orig->ne[1] * orig->ne[2] * orig->ne[3];
    float *a = malloc((size_t)n * sizeof *a), *b = malloc((size_t)n * sizeof *b);
    lorc_type_get(orig->type)->to_float(orig->data, a, n);
    lorc_type_get(q->type)->to_float(q->data, b, n);
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        num += (double)(a[i] - b[i]) * (a[i] - b[i]);
        den += (double)a[i] * a[i];
    }
    free(a);
    free(b);
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

static void check_quantized(const char *type_name, uint32_t type, uint32_t ftype, double max_err) {
    const char *in_path = test_shared("models/stories260K.gguf");
    char out_path[1024], cmd[4096];
    snprintf(out_path, sizeof out_path, "%s", test_tmp(type_name));
    strncat(out_path, "-stories260K.gguf", sizeof out_path - strlen(out_path) - 1);
    unlink(out_path);
    snprintf(cmd, sizeof cmd, "'%s' quantize '%s' '%s' %s --pure -t 2 > '%s.log' 2>&1", bin(), in_path, out_path, type_name,
             out_path);
    CHECK_MSG(run(cmd) == 0, "%s", cmd);

    gguf_file *in = NULL, *out = NULL;
    lorc_error err = {0};
    CHECK_MSG(gguf_open(in_path, &in, &err) == LORC_OK, "%s", err.message);
    CHECK_MSG(gguf_open(out_path, &out, &err) == LORC_OK, "%s", err.message);
    if (!in || !out) {
        gguf_close(in);
        gguf_close(out);
        return;
    }
    /* metadata: everything copied, plus the file type */
    for (uint64_t i = 0; i < in->n_kv; i++) {
        if (!strcmp(in->kv[i].key, "general.file_type")) continue;
        const gguf_kv *o = gguf_find_kv(out, in->kv[i].key);
        CHECK_MSG(o && kv_equal(&in->kv[i], o), "%s: key %s", type_name, in->kv[i].key);
    }
    CHECK(gguf_get_u32_or(out, "general.file_type", 999) == ftype);
    CHECK(gguf_get_u32_or(out, "general.quantization_version", 0) == 2);

    CHECK(out->n_tensors == in->n_tensors);
    int converted = 0, kept = 0;
    for (uint64_t i = 0; i < in->n_tensors; i++) {
        const gguf_tensor_info *a = &in->tensors[i];
        const gguf_tensor_info *b = gguf_find_tensor(out, a->name);
        CHECK_MSG(b != NULL, "%s missing", a->name);
        if (!b) continue;
        CHECK(b->n_dims == a->n_dims);
        for (int d = 0; d < 4; d++) CHECK(b->ne[d] == a->ne[d]);
        size_t len = strlen(a->name);
        bool weight2d = a->n_dims >= 2 && len > 7 && !strcmp(a->name + len - 7, ".weight");
        if (weight2d && a->ne[0] % 32 == 0) {
            CHECK_MSG(b->type == type, "%s: %s is %s", type_name, a->name, lorc_type_name(b->type));
            double e = rel_rms_error(a, b);
            CHECK_MSG(e < max_err, "%s: %s relative error %g", type_name, a->name, e);
            converted++;
        } else {
            /* norms (1-D) and ffn_down (rows of 172) stay bit for bit */
            CHECK_MSG(b->type == a->type && b->nbytes == a->nbytes && !memcmp(a->data, b->data, a->nbytes),
                      "%s: %s changed", type_name, a->name);
            kept++;
        }
    }
    CHECK(converted == 2 + 5 * 6); /* token_embd, output, 6 per layer (not ffn_down) */
    CHECK(kept == 1 + 5 * 3);      /* output_norm; attn_norm, ffn_norm, ffn_down per layer */
    CHECK(gguf_find_tensor(out, "blk.0.ffn_down.weight")->type == LORC_TYPE_F32);
    CHECK(gguf_find_tensor(out, "output_norm.weight")->type == LORC_TYPE_F32);
    gguf_close(in);
    gguf_close(out);

    /* the log names the kept ffn_down tensors */
    char log_path[1100];
    snprintf(log_path, sizeof log_path, "%s.log", out_path);
    char *log = test_read_file(log_path, NULL);
    CHECK(log && strstr(log, "keeping blk.0.ffn_down.weight") && strstr(log, "MiB"));
    free(log);
}

static void check_refused(const char *args, const char *expect) {
    char cmd[4096], err_path[1024];
    snprintf(err_path, sizeof err_path, "%s", test_tmp("gguf_quantize_err.txt"));
    snprintf(cmd, sizeof cmd, "'%s' quantize %s > /dev/null 2> '%s'", bin(), args, err_path);
    CHECK_MSG(run(cmd) == 1, "%s", cmd);
    char *msg = test_read_file(err_path, NULL);
    CHECK_MSG(msg && strstr(msg, expect), "%s: stderr '%s' lacks '%s'", args, msg ? msg : "", expect);
    if (msg) {
        char *nl = strchr(msg, '\n');
        CHECK_MSG(nl && nl[1] == 0, "%s: not exactly one line: '%s'", args, msg);
    }
    free(msg);
}

int main(void) {
    check_quantized("Q8_0", LORC_TYPE_Q8_0, 7, 0.01);
    check_quantized("q4_0", LORC_TYPE_Q4_0, 2, 0.15);

    const char *in = test_shared("models/stories260K.gguf");
    const char *out = test_tmp("gguf_quantize_refused.gguf");
    char args[3000];
    unlink(out);
    snprintf(args, sizeof args, "'%s' '%s' Q9_9", in, out);
    check_refused(args, "unknown type 'Q9_9'");
    snprintf(args, sizeof args, "'%s' '%s' iq2_xxs", in, out);
    check_refused(args, "IQ2_XXS");
    snprintf(args, sizeof args, "'%s' '%s'", in, out);
    check_refused(args, "IN OUT TYPE");
    snprintf(args, sizeof args, "'%s' '%s' Q8_0 -t 0", in, out);
    check_refused(args, "-t");
    snprintf(args, sizeof args, "'%s' '%s' Q8_0", test_tmp("gguf_quantize_missing.gguf"), out);
    check_refused(args, "gguf_quantize_missing.gguf");
    CHECK(access(out, F_OK) != 0); /* nothing written by the failures */
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' quantize --help | grep -q 'usage: lorc quantize'", bin());
    CHECK(run(cmd) == 0);
    return test_finish("test_gguf_quantize");
}
