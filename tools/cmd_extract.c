/* cmd_extract.c — `lorc extract BASE FINETUNED -r RANK -o OUT`: a llama.cpp
 * GGUF LoRA adapter approximating FINETUNED − BASE per changed 2-D tensor by
 * truncated SVD, with each tensor's relative error, and optionally the KL
 * divergence of base + adapter against the fine-tuned model. */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "adapter/extract.h"
#include "base/threadpool.h"
#include "cli.h"
#include "commands.h"
#include "finetune_eval.h"
#include "format/gguf.h"
#include "tensor/finite_check.h"
#include "tensor/types.h"

typedef struct extract_opts {
    const char *base, *ft, *out;
    long rank, threads;
    finetune_eval_opts eval;
} extract_opts;

typedef struct extract_job {
    const gguf_tensor_info *b, *f;
    bool embd;
    lorc_lowrank lr;
    lorc_status st;
    lorc_error err;
    char a_name[160], b_name[160];
} extract_job;

typedef struct extract_work {
    extract_job *jobs;
    int n_jobs;
    int rank;
    atomic_int done; /* jobs finished, for the progress bar */
} extract_work;

static void usage(FILE *fp) {
    fprintf(fp,
            "usage: lorc extract BASE FINETUNED -r RANK -o OUT [options]\n"
            "  Approximates FINETUNED - BASE, for every 2-D tensor that differs, by a\n"
            "  rank-RANK product B*A (truncated SVD) and writes it as a llama.cpp GGUF\n"
            "  LoRA adapter (adapter.lora.alpha = RANK, so scale 1), printing each\n"
            "  tensor's relative error |D - B*A| / |D| (Frobenius; \"undefined\" when D = 0).\n"
            "  Inf/NaN in either model is refused, naming the file and the tensor.\n"
            "  -r RANK               rank of every pair\n"
            "  -o OUT                output adapter (written atomically; only a new name or a\n"
            "                        regular file is replaced: docs/output-files.md)\n"
            "  --eval-text FILE      report KL divergence and top-token agreement of\n"
            "                        BASE + adapter against FINETUNED on this text\n"
            "  -c N                  context length of that evaluation (default 256)\n"
            "  --eval-chunks N       evaluate at most N chunks (default: the whole text)\n"
            "  -t N                  threads (default: all cores)\n");
}

static int parse(int argc, char **argv, extract_opts *o) {
    memset(o, 0, sizeof *o);
    int n_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        bool missing = false;
        int used;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (cli_opt(argc, argv, &i, "-r", &v, &missing)) {
            if (missing || !cli_parse_int("extract", "-r", v, 1, 65536, &o->rank)) return 1;
        } else if (cli_opt(argc, argv, &i, "-o", &v, &missing)) {
            o->out = v;
        } else if ((used = finetune_eval_opts_parse(&o->eval, "extract", argc, argv, &i)) != 0) {
            if (used < 0) return 1;
        } else if (cli_opt(argc, argv, &i, "-t", &v, &missing)) {
            if (missing || !cli_parse_int("extract", "-t", v, 1, 1024, &o->threads)) return 1;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("extract", "unknown option '%s'", a);
        } else if (n_pos == 0) {
            o->base = a, n_pos++;
        } else if (n_pos == 1) {
            o->ft = a, n_pos++;
        } else {
            return cli_usage_error("extract", "unexpected argument '%s'", a);
        }
        if (missing) return 1;
    }
    if (n_pos != 2 || !o->out || o->rank <= 0) {
        return cli_usage_error("extract", "BASE, FINETUNED, -r RANK and -o OUT are required");
    }
    const char *inputs[3] = {o->base, o->ft, o->eval.text};
    if (!cli_output_is_new("extract", o->out, inputs, 3)) return 1;
    return -1;
}

/* Tensors are spread over the threads round-robin: each SVD is independent. */
static void extract_worker(void *user, int ith, int nth) {
    extract_work *w = user;
    for (int j = ith; j < w->n_jobs; j += nth) {
        extract_job *job = &w->jobs[j];
        job->st = lorc_lowrank_extract(job->b, job->f, w->rank, job->embd, &job->lr, &job->err);
        int done = atomic_fetch_add(&w->done, 1) + 1;
        /* one thread draws; the caller draws the end of the bar */
        if (ith == 0 && done < w->n_jobs) cli_progress("svd", (uint64_t)done, (uint64_t)w->n_jobs);
    }
}

static void shape_str(const gguf_tensor_info *t, char *buf, size_t cap) {
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (uint32_t d = 0; d < t->n_dims && n < cap; d++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", d ? ", " : "", (long long)t->ne[d]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

/* The fine-tuned model (reference) against base + the extracted adapter;
 * both models and the text were loaded before the adapter was written. */
static int evaluate(const extract_opts *o, lorc_model *ft, lorc_model *base, const finetune_eval_text *text) {
    lorc_error err = {0};
    lorc_adapter *ad = NULL;
    kld_setup ref = {0}, test = {0};
    int rc = 1;
    float one = 1.0f;
    lorc_status st = lorc_adapter_load(base, o->out, &ad, &err);
    if (!st) st = finetune_eval_setup(ft, text->n_ctx, (int)o->threads, &ref, &err);
    if (!st) st = finetune_eval_setup(base, text->n_ctx, (int)o->threads, &test, &err);
    if (!st) st = lorc_sequence_set_adapters(test.seq, &ad, &one, 1, &err);
    if (st) cli_fail("extract", &err);
    else rc = finetune_eval_print("extract", o->eval.text, text, &ref, &test, "fine-tuned (reference)",
                                  "base + extracted LoRA");
    finetune_eval_setup_free(&test);
    finetune_eval_setup_free(&ref);
    lorc_adapter_free(ad);
    return rc;
}

/* Inf/NaN in either model would turn the SVD and every error into NaN:
 * refused up front, naming the file and the tensor. */
static bool tensors_finite(const gguf_file *f) {
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor_info *t = &f->tensors[i];
        lorc_error err = {0};
        int64_t rows = t->ne[1] * t->ne[2] * t->ne[3];
        if (lorc_check_encoded_finite(t->type, t->data, t->ne[0], rows, t->name, &err) != LORC_OK) {
            fprintf(stderr, "lorc extract: %s: %s\n", f->path, err.message);
            return false;
        }
    }
    return true;
}

static void print_rel_error(const char *label, double e, const char *note) {
    /* D = 0 (the bytes differ, the values do not): 0/0 has no value */
    if (isnan(e)) printf("%s undefined (no difference in value)%s\n", label, note);
    else printf("%s %.3e%s\n", label, e, note);
}

static lorc_status set_metadata(gguf_writer *gw, const gguf_file *base, const extract_opts *o) {
    char *arch = gguf_get_str_dup(base, "general.architecture");
    char name[512];
    snprintf(name, sizeof name, "rank-%ld LoRA extracted from %s", o->rank, o->ft);
    lorc_status st = arch ? gguf_writer_set_str(gw, "general.architecture", arch) : LORC_ERR_FORMAT;
    if (!st) st = gguf_writer_set_str(gw, "general.type", "adapter");
    if (!st) st = gguf_writer_set_str(gw, "general.name", name);
    if (!st) st = gguf_writer_set_str(gw, "adapter.type", "lora");
    if (!st) st = gguf_writer_set_f32(gw, "adapter.lora.alpha", (float)o->rank);
    free(arch);
    return st;
}

int lorc_cmd_extract(int argc, char **argv) {
    extract_opts o;
    int prc = parse(argc, argv, &o);
    if (prc >= 0) return prc;
    lorc_error err = {0};
    gguf_file *base = NULL, *ft = NULL;
    extract_job *jobs = NULL;
    gguf_writer *gw = NULL;
    lorc_threadpool *pool = NULL;
    lorc_model *ft_model = NULL, *base_model = NULL;
    finetune_eval_text text = {0};
    int n_jobs = 0, rc = 1;
    if (gguf_open(o.base, &base, &err) || gguf_open(o.ft, &ft, &err) || lorc_finetune_check_tables(base, ft, &err)) {
        cli_fail("extract", &err);
        goto done;
    }
    if (!tensors_finite(base) || !tensors_finite(ft)) goto done;
    /* every input is checked before the output is written */
    if (o.eval.text && (lorc_model_load(o.ft, &ft_model, &err) || lorc_model_load(o.base, &base_model, &err) ||
                        finetune_eval_text_load(&o.eval, ft_model, &text, &err))) {
        cli_fail("extract", &err);
        goto done;
    }
    jobs = calloc(base->n_tensors + 1, sizeof *jobs);
    if (!jobs) {
        fprintf(stderr, "lorc extract: out of memory\n");
        goto done;
    }
    for (uint64_t i = 0; i < base->n_tensors; i++) {
        const gguf_tensor_info *b = &base->tensors[i], *f = gguf_find_tensor(ft, b->name);
        if (lorc_finetune_tensor_same(b, f)) continue;
        if (b->n_dims != 2) {
            fprintf(stderr, "lorc extract: note: %s differs but is not a matrix; LoRA cannot express it (skipped)\n",
                    b->name);
            continue;
        }
        extract_job *j = &jobs[n_jobs++];
        j->b = b;
        j->f = f;
        j->embd = !strcmp(b->name, "token_embd.weight");
        snprintf(j->a_name, sizeof j->a_name, "%s.lora_a", b->name);
        snprintf(j->b_name, sizeof j->b_name, "%s.lora_b", b->name);
    }
    if (n_jobs == 0) {
        fprintf(stderr, "lorc extract: no matrix differs between %s and %s\n", o.base, o.ft);
        goto done;
    }
    long nt = o.threads > 0 ? o.threads : sysconf(_SC_NPROCESSORS_ONLN);
    pool = lorc_threadpool_new((int)(nt > n_jobs ? n_jobs : (nt > 0 ? nt : 1)));
    if (!pool) {
        fprintf(stderr, "lorc extract: cannot start threads\n");
        goto done;
    }
    /* One rank for all pairs (the format has one alpha, and scale = alpha/r
     * per pair), and no pair can hold more than its smallest dimension. */
    long max_rank = o.rank;
    for (int j = 0; j < n_jobs; j++) {
        if (jobs[j].b->ne[0] < max_rank) max_rank = (long)jobs[j].b->ne[0];
        if (jobs[j].b->ne[1] < max_rank) max_rank = (long)jobs[j].b->ne[1];
    }
    if (max_rank < o.rank) {
        printf("rank %ld exceeds the smallest changed matrix dimension; using rank %ld\n", o.rank, max_rank);
        o.rank = max_rank;
    }
    printf("extracting %d tensor%s at rank %ld:\n", n_jobs, n_jobs == 1 ? "" : "s", o.rank);
    extract_work work = {.jobs = jobs, .n_jobs = n_jobs, .rank = (int)o.rank};
    atomic_init(&work.done, 0);
    lorc_threadpool_run(pool, extract_worker, &work);
    if (atomic_load(&work.done) == n_jobs) cli_progress("svd", (uint64_t)n_jobs, (uint64_t)n_jobs);
    double num = 0, den = 0;
    for (int j = 0; j < n_jobs; j++) {
        if (jobs[j].st) {
            cli_fail("extract", &jobs[j].err);
            goto done;
        }
        char shape[96];
        shape_str(jobs[j].b, shape, sizeof shape);
        char label[160];
        snprintf(label, sizeof label, "  %-32s %-14s relative error", jobs[j].b->name, shape);
        print_rel_error(label, jobs[j].lr.rel_err, "");
        if (jobs[j].lr.norm > 0) { /* a zero difference adds nothing (and its NaN error must not) */
            num += jobs[j].lr.rel_err * jobs[j].lr.rel_err * jobs[j].lr.norm * jobs[j].lr.norm;
            den += jobs[j].lr.norm * jobs[j].lr.norm;
        }
    }
    print_rel_error("overall relative error", den > 0 ? sqrt(num / den) : NAN, " (all changed matrices together)");
    gw = gguf_writer_new();
    if (!gw || set_metadata(gw, base, &o)) {
        fprintf(stderr, "lorc extract: cannot set the adapter metadata\n");
        goto done;
    }
    for (int j = 0; j < n_jobs; j++) {
        const lorc_lowrank *lr = &jobs[j].lr;
        if (gguf_writer_add_tensor(gw, jobs[j].a_name, LORC_TYPE_F32, 2, lr->a_ne, lr->a) ||
            gguf_writer_add_tensor(gw, jobs[j].b_name, LORC_TYPE_F32, 2, lr->b_ne, lr->b)) {
            fprintf(stderr, "lorc extract: cannot add tensor '%s'\n", jobs[j].a_name);
            goto done;
        }
    }
    if (gguf_writer_write(gw, o.out, cli_progress, "extract", &err)) {
        cli_fail("extract", &err);
        goto done;
    }
    struct stat sb;
    if (stat(o.out, &sb) == 0) printf("wrote %s: LoRA adapter, %.2f MiB\n", o.out, (double)sb.st_size / 1048576.0);
    rc = o.eval.text ? evaluate(&o, ft_model, base_model, &text) : 0;
    if (rc != 0) finetune_eval_discard_output("extract", o.out);
done:
    finetune_eval_text_free(&text);
    lorc_model_free(base_model);
    lorc_model_free(ft_model);
    lorc_threadpool_free(pool);
    gguf_writer_free(gw);
    for (int j = 0; j < n_jobs; j++) lorc_lowrank_free(&jobs[j].lr);
    free(jobs);
    gguf_close(ft);
    gguf_close(base);
    return rc;
}
