/* cmd_merge.c — `lorc merge`: fold LoRA adapters into the base weights they
 * touch (W + Σ s·B·A in F32, re-quantized) and write them as an overlay, or
 * with --full as a complete model; optionally report what that costs
 * against runtime LoRA on a sample text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "adapter/adapter.h"
#include "adapter/merge.h"
#include "cli.h"
#include "commands.h"
#include "finetune_eval.h"
#include "tensor/types.h"

enum { MERGE_MAX_ADAPTERS = 32 };

typedef struct merge_opts {
    const char *model, *out;
    int n_lora;
    const char *lora[MERGE_MAX_ADAPTERS];
    float scale[MERGE_MAX_ADAPTERS];
    int type; /* -1: each tensor's own */
    bool full;
    long threads;
    finetune_eval_opts eval;
} merge_opts;

static void usage(FILE *fp) {
    fprintf(fp,
            "usage: lorc merge -m BASE (--lora A | --lora-scaled A S)... -o OUT [options]\n"
            "  Merges LoRA adapters (GGUF adapter files or PEFT directories) into the\n"
            "  weights they touch: W + sum of s*B*A computed in F32, then re-quantized.\n"
            "  Writes an overlay holding only those tensors (docs/overlay-format.md),\n"
            "  to be used as `lorc run -m BASE --overlay OUT`.\n"
            "  -m BASE               the base model (GGUF)\n"
            "  --lora A              adapter at scale 1; repeatable\n"
            "  --lora-scaled A S     adapter at scale S; repeatable\n"
            "  -o OUT                output file (written atomically; only a new name or a\n"
            "                        regular file is replaced: docs/output-files.md)\n"
            "  --type TYPE           store merged tensors as TYPE (F32, F16, BF16, Q8_0, Q4_0,\n"
            "                        Q4_K, Q6_K, ...); default: each base tensor's own type.\n"
            "                        Tensors TYPE cannot hold get the nearest larger type.\n"
            "                        A merged value TYPE cannot hold (F16 above 65504, a\n"
            "                        quantized block whose scale overflows) is refused, not\n"
            "                        clamped: the error names the tensor and the largest\n"
            "                        value, and nothing is written (use a wider type)\n"
            "  --full                write a complete merged model instead of an overlay\n"
            "  --eval-text FILE      report KL divergence and top-token agreement of the\n"
            "                        result against runtime LoRA on the unmerged base\n"
            "  -c N                  context length of that evaluation (default 256)\n"
            "  --eval-chunks N       evaluate at most N chunks (default: the whole text)\n"
            "  -t N                  threads (default: all cores)\n");
}

static int parse(int argc, char **argv, merge_opts *o) {
    memset(o, 0, sizeof *o);
    o->type = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        bool missing = false;
        int used;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (cli_opt(argc, argv, &i, "-m", &v, &missing)) {
            o->model = v;
        } else if (cli_opt(argc, argv, &i, "-o", &v, &missing)) {
            o->out = v;
        } else if (!strcmp(a, "--lora") || !strcmp(a, "--lora-scaled")) {
            bool scaled = a[6] == '-';
            if (i + (scaled ? 2 : 1) >= argc) {
                return cli_usage_error("merge", "%s needs %s", a, scaled ? "a file and a scale" : "a file");
            }
            if (o->n_lora == MERGE_MAX_ADAPTERS) {
                fprintf(stderr, "lorc merge: at most %d adapters\n", MERGE_MAX_ADAPTERS);
                return 1;
            }
            o->lora[o->n_lora] = argv[++i];
            o->scale[o->n_lora] = 1.0f;
            if (scaled && !cli_parse_float("merge", a, argv[++i], &o->scale[o->n_lora])) return 1;
            o->n_lora++;
        } else if (cli_opt(argc, argv, &i, "--type", &v, &missing)) {
            if (missing) return 1;
            o->type = lorc_type_from_name(v);
            const lorc_type_info *ti = o->type >= 0 ? lorc_type_get((uint32_t)o->type) : NULL;
            if (!ti || !ti->from_float || !ti->to_float) {
                fprintf(stderr, "lorc merge: lorc cannot write type '%s' (try F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K)\n", v);
                return 1;
            }
        } else if (!strcmp(a, "--full")) {
            o->full = true;
        } else if ((used = finetune_eval_opts_parse(&o->eval, "merge", argc, argv, &i)) != 0) {
            if (used < 0) return 1;
        } else if (cli_opt(argc, argv, &i, "-t", &v, &missing)) {
            if (missing || !cli_parse_int("merge", "-t", v, 1, 1024, &o->threads)) return 1;
        } else {
            return cli_usage_error("merge", "unknown option '%s'", a);
        }
        if (missing) return 1;
    }
    if (!o->model || !o->out || o->n_lora == 0) {
        return cli_usage_error("merge", "-m BASE, at least one --lora and -o OUT are required");
    }
    const char *inputs[MERGE_MAX_ADAPTERS + 2] = {o->model, o->eval.text};
    for (int k = 0; k < o->n_lora; k++) inputs[2 + k] = o->lora[k];
    if (!cli_output_is_new("merge", o->out, inputs, 2 + o->n_lora)) return 1;
    return -1; /* go on */
}

static long n_cores(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? n : 1;
}

/* Runtime LoRA on the unmerged base (the reference) vs the merged result. */
static int evaluate(const merge_opts *o, lorc_model *base, lorc_adapter **adapters, const finetune_eval_text *text) {
    lorc_error err = {0};
    lorc_model *merged = NULL;
    lorc_overlay *ov = NULL;
    kld_setup ref = {0}, test = {0};
    int rc = 1;
    int n_ctx = text->n_ctx;
    lorc_status st = lorc_model_load(o->full ? o->out : o->model, &merged, &err);
    if (!st && !o->full) st = lorc_overlay_apply(merged, o->out, false, &ov, &err);
    if (!st) st = finetune_eval_setup(base, n_ctx, (int)o->threads, &ref, &err);
    if (!st) st = lorc_sequence_set_adapters(ref.seq, adapters, o->scale, o->n_lora, &err);
    if (!st) st = finetune_eval_setup(merged, n_ctx, (int)o->threads, &test, &err);
    if (st) cli_fail("merge", &err);
    else rc = finetune_eval_print("merge", o->eval.text, text, &ref, &test, "runtime LoRA (reference)",
                                  o->full ? "merged model" : "base + merged overlay");
    finetune_eval_setup_free(&test);
    finetune_eval_setup_free(&ref);
    lorc_overlay_remove(merged, ov);
    lorc_model_free(merged);
    return rc;
}

static void source_text(const merge_opts *o, char *buf, size_t cap) {
    size_t n = (size_t)snprintf(buf, cap, "lorc merge of");
    for (int i = 0; i < o->n_lora && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s %s (scale %g)", i ? "," : "", o->lora[i], (double)o->scale[i]);
}

int lorc_cmd_merge(int argc, char **argv) {
    merge_opts o;
    int prc = parse(argc, argv, &o);
    if (prc >= 0) return prc;
    lorc_error err = {0};
    lorc_model *model = NULL;
    lorc_adapter *adapters[MERGE_MAX_ADAPTERS] = {0};
    lorc_adapter_set set = {0};
    lorc_merge_plan plan = {0};
    lorc_threadpool *pool = NULL;
    finetune_eval_text text = {0};
    int rc = 1;
    if (lorc_model_load(o.model, &model, &err)) {
        cli_fail("merge", &err);
        goto done;
    }
    for (int i = 0; i < o.n_lora; i++)
        if (lorc_adapter_load(model, o.lora[i], &adapters[i], &err)) {
            cli_fail("merge", &err);
            goto done;
        }
    if (lorc_adapter_set_build(&set, model, NULL, adapters, o.scale, o.n_lora, &err) ||
        lorc_merge_plan_build(model, &set, o.type, &plan, &err)) {
        cli_fail("merge", &err);
        goto done;
    }
    if (plan.n_items == 0) {
        fprintf(stderr, "lorc merge: the adapters change no tensor of %s\n", o.model);
        goto done;
    }
    /* every input is checked before the output is written */
    if (o.eval.text && finetune_eval_text_load(&o.eval, model, &text, &err)) {
        cli_fail("merge", &err);
        goto done;
    }
    printf("merging %d adapter%s into %d tensor%s of %s:\n", o.n_lora, o.n_lora == 1 ? "" : "s", plan.n_items,
           plan.n_items == 1 ? "" : "s", o.model);
    for (int i = 0; i < plan.n_items; i++) {
        const lorc_merge_item *it = &plan.items[i];
        printf("  %-32s %-5s -> %-5s%s\n", it->name, lorc_type_name(it->base_type), lorc_type_name(it->out_type),
               it->type_fallback ? "  (requested type does not fit this tensor)" : "");
    }
    pool = lorc_threadpool_new((int)(o.threads > 0 ? o.threads : n_cores()));
    if (!pool) {
        fprintf(stderr, "lorc merge: cannot start threads\n");
        goto done;
    }
    char source[2048];
    source_text(&o, source, sizeof source);
    if (lorc_merge_write(model, &set, &plan, o.full, source, pool, o.out, cli_progress, "merge", &err)) {
        cli_fail("merge", &err);
        goto done;
    }
    struct stat sb;
    if (stat(o.out, &sb) == 0)
        printf("wrote %s: %s, %.2f MiB\n", o.out, o.full ? "complete model" : "overlay", (double)sb.st_size / 1048576.0);
    lorc_threadpool_free(pool);
    pool = NULL;
    rc = o.eval.text ? evaluate(&o, model, adapters, &text) : 0;
    if (rc != 0) finetune_eval_discard_output("merge", o.out);
done:
    finetune_eval_text_free(&text);
    lorc_threadpool_free(pool);
    lorc_merge_plan_free(&plan);
    lorc_adapter_set_clear(&set);
    for (int i = 0; i < o.n_lora; i++) lorc_adapter_free(adapters[i]);
    lorc_model_free(model);
    return rc;
}
