/* cmd_quantize.c — `lorc quantize IN OUT TYPE`: converts the weights as the
 * llama-quantize mix TYPE chooses per tensor (quant_mix.h; dequantize, then
 * quantize), keeps the rest, copies the metadata. Converted tensors are produced one at a time while
 * the output is written, so the whole output is never held in memory. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/threadpool.h"
#include "cli.h"
#include "commands.h"
#include "format/gguf.h"
#include "quant_mix.h"
#include "tensor/types.h"

/* GGUF `general.quantization_version` of the block formats lorc writes. */
#define QUANTIZE_QNT_VERSION 2

static void usage(FILE *fp) {
    fprintf(fp,
            "usage: lorc quantize IN OUT TYPE [--pure] [-t THREADS]\n"
            "\n"
            "Writes OUT: IN with its weight tensors converted as llama-quantize's mix\n"
            "TYPE does it (most weights in the mix's type, some tensors in more bits).\n"
            "1-D tensors and norms stay as they are; the metadata is copied and\n"
            "general.file_type set. Rows whose length does not fit a k-quant's\n"
            "256-value blocks fall back to a legacy type (Q4_K->Q5_0, Q5_K->Q5_1,\n"
            "Q6_K->Q8_0, Q2_K/Q3_K->Q4_0), those that fit no type are kept.\n"
            "\n"
            "TYPE (any case), the mixes:\n");
    for (int i = 0; quant_mix_at(i); i++) fprintf(fp, "  %-7s %s\n", quant_mix_at(i)->name, quant_mix_at(i)->about);
    fprintf(fp,
            "  or a plain type lorc can write (Q3_K, Q4_K, Q5_K): every weight in it\n"
            "\n"
            "  --pure         every weight in the mix's main type: no per-tensor rules\n"
            "  -t THREADS     worker threads (default: all cores)\n");
}

/* What the mix rules need to know about the model in `f`. */
static quant_model_shape model_shape(const gguf_file *f) {
    quant_model_shape s = {0, 0, 1, false, false};
    char *arch = gguf_get_str_dup(f, "general.architecture");
    char key[160];
    snprintf(key, sizeof key, "%s.block_count", arch ? arch : "");
    s.n_layer = (int)gguf_get_u32_or(f, key, 0);
    snprintf(key, sizeof key, "%s.attention.head_count", arch ? arch : "");
    uint32_t n_head = gguf_get_u32_or(f, key, 1);
    snprintf(key, sizeof key, "%s.attention.head_count_kv", arch ? arch : "");
    uint32_t n_head_kv = gguf_get_u32_or(f, key, n_head);
    s.n_gqa = n_head_kv > 0 && n_head >= n_head_kv ? (int)(n_head / n_head_kv) : 1;
    s.llama_70b = arch && !strcmp(arch, "llama") && s.n_layer == 80 && n_head != n_head_kv;
    free(arch);
    int n_ffn_down = 0;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const char *name = f->tensors[i].name;
        if (strstr(name, "attn_v.weight")) s.n_attn_v++;
        if (strstr(name, "ffn_down")) n_ffn_down++;
        if (!strcmp(name, "output.weight")) s.has_output = true;
    }
    if (s.n_layer == 0) s.n_layer = n_ffn_down; /* no block_count: one ffn_down per layer */
    return s;
}

/* One tensor being converted: the writer calls fill when its turn comes. */
typedef struct convert_job {
    const gguf_tensor_info *src;
    uint32_t dst_type;
    lorc_threadpool *pool;
    float *scratch; /* borrowed: one row of floats per thread */
    int64_t scratch_stride;
    /* set per fill */
    uint8_t *dst;
    int64_t n_rows;
} convert_job;

static void convert_rows(void *user, int ith, int nth) {
    convert_job *j = user;
    const lorc_type_info *from = lorc_type_get(j->src->type), *to = lorc_type_get(j->dst_type);
    int64_t ne0 = j->src->ne[0];
    size_t src_row = lorc_row_bytes(j->src->type, ne0), dst_row = lorc_row_bytes(j->dst_type, ne0);
    float *row = j->scratch + (int64_t)ith * j->scratch_stride;
    int64_t r0 = j->n_rows * ith / nth, r1 = j->n_rows * (ith + 1) / nth;
    for (int64_t r = r0; r < r1; r++) {
        from->to_float((const uint8_t *)j->src->data + (size_t)r * src_row, row, ne0);
        to->from_float(row, j->dst + (size_t)r * dst_row, ne0);
    }
}

static lorc_status convert_fill(void *user, void *dst, uint64_t nbytes, lorc_error *err) {
    convert_job *j = user;
    (void)nbytes; /* the writer sized it from the same type and dims */
    (void)err;
    j->dst = dst;
    j->n_rows = j->src->ne[1] * j->src->ne[2] * j->src->ne[3];
    lorc_threadpool_run(j->pool, convert_rows, j);
    return LORC_OK;
}

static uint64_t file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static double mib(uint64_t n) { return (double)n / (1024.0 * 1024.0); }

typedef struct quantize_args {
    const char *in, *out, *type_name;
    long threads;
    bool pure;
} quantize_args;

/* 0: parsed, 1: error, 2: --help printed. */
static int parse_args(int argc, char **argv, quantize_args *a) {
    const char *pos[3];
    int n_pos = 0;
    a->threads = 0;
    a->pure = false;
    for (int i = 1; i < argc; i++) {
        const char *val = NULL;
        bool missing = false;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 2;
        } else if (!strcmp(argv[i], "--pure")) {
            a->pure = true;
        } else if (cli_opt(argc, argv, &i, "-t", &val, &missing) ||
                   cli_opt(argc, argv, &i, "--threads", &val, &missing)) {
            if (missing || !cli_parse_int("quantize", "-t", val, 1, 1024, &a->threads)) return 1;
        } else if (argv[i][0] == '-' && argv[i][1] != 0) {
            fprintf(stderr, "lorc quantize: unknown option '%s'\n", argv[i]);
            return 1;
        } else if (n_pos < 3) {
            pos[n_pos++] = argv[i];
        } else {
            fprintf(stderr, "lorc quantize: unexpected argument '%s'\n", argv[i]);
            return 1;
        }
    }
    if (n_pos != 3) {
        fprintf(stderr, "lorc quantize: expected IN OUT TYPE (see lorc quantize --help)\n");
        return 1;
    }
    a->in = pos[0];
    a->out = pos[1];
    a->type_name = pos[2];
    if (!cli_output_is_new("quantize", a->out, &a->in, 1)) return 1;
    if (a->threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        a->threads = n > 0 ? n : 1;
    }
    return 0;
}

int lorc_cmd_quantize(int argc, char **argv) {
    quantize_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc == 2 ? 0 : 1;
    quant_mix mix;
    if (!quant_mix_lookup(a.type_name, a.pure, &mix)) {
        int known = lorc_type_from_name(a.type_name);
        if (known >= 0) {
            fprintf(stderr, "lorc quantize: lorc cannot write type %s (no quantizer for it)\n",
                    lorc_type_name((uint32_t)known));
            return 1;
        }
        fprintf(stderr, "lorc quantize: unknown type '%s' (see lorc quantize --help for the mixes)\n", a.type_name);
        return 1;
    }
    const lorc_type_info *to = lorc_type_get(mix.base_type);
    if (!to->from_float) {
        fprintf(stderr, "lorc quantize: lorc cannot write type %s (no quantizer for it)\n", to->name);
        return 1;
    }

    gguf_file *in = NULL;
    lorc_error err = {0};
    if (gguf_open(a.in, &in, &err) != LORC_OK) return cli_fail("quantize", &err);
    gguf_writer *w = gguf_writer_new();
    convert_job *jobs = calloc(in->n_tensors ? (size_t)in->n_tensors : 1, sizeof *jobs);
    lorc_threadpool *pool = lorc_threadpool_new((int)a.threads);
    float *scratch = NULL;
    rc = 1;
    if (!w || !jobs || !pool) {
        fprintf(stderr, "lorc quantize: out of memory\n");
        goto out;
    }
    int64_t max_row = 1;
    for (uint64_t i = 0; i < in->n_tensors; i++)
        if (in->tensors[i].ne[0] > max_row) max_row = in->tensors[i].ne[0];
    scratch = malloc((size_t)max_row * (size_t)a.threads * sizeof *scratch);
    if (!scratch) {
        fprintf(stderr, "lorc quantize: out of memory\n");
        goto out;
    }

    for (uint64_t i = 0; i < in->n_kv; i++) gguf_writer_copy_kv(w, &in->kv[i]);

    quant_model_shape shape = model_shape(in);
    quant_planner plan;
    quant_planner_init(&plan, &mix, &shape);
    uint64_t n_converted = 0, n_kept = 0, bytes_in = 0, bytes_out = 0;
    uint64_t per_type[LORC_TYPE_COUNT] = {0};
    for (uint64_t i = 0; i < in->n_tensors; i++) {
        const gguf_tensor_info *t = &in->tensors[i];
        uint32_t type = quant_planner_next(&plan, t->name, t->n_dims, t->ne[0], t->type);
        bytes_in += t->nbytes;
        per_type[type]++;
        if (plan.last_unfit)
            printf("keeping %s as %s: row length %" PRId64 " fits no type of the %s mix\n", t->name,
                   lorc_type_name(t->type), t->ne[0], mix.name);
        if (type != t->type) {
            jobs[i] = (convert_job){t, type, pool, scratch, max_row, NULL, 0};
            gguf_writer_add_tensor_lazy(w, t->name, type, t->n_dims, t->ne, convert_fill, &jobs[i]);
            bytes_out += lorc_row_bytes(type, t->ne[0]) * (uint64_t)(t->ne[1] * t->ne[2] * t->ne[3]);
            n_converted++;
        } else {
            gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data);
            bytes_out += t->nbytes;
            n_kept++;
        }
    }
    /* the file type describes the weights: unchanged when none converted */
    if (n_converted > 0) {
        gguf_writer_set_u32(w, "general.file_type", (uint32_t)mix.ftype);
        if (to->quantized) gguf_writer_set_u32(w, "general.quantization_version", QUANTIZE_QNT_VERSION);
    } else {
        printf("note: no tensor of %s can be converted to %s; the output is a copy\n", a.in, mix.name);
    }
    printf("%s%s: converting %" PRIu64 " tensors, keeping %" PRIu64 " (%d threads); tensors per type:", mix.name,
           mix.pure ? " (pure)" : "", n_converted, n_kept, (int)a.threads);
    for (uint32_t ty = 0; ty < LORC_TYPE_COUNT; ty++)
        if (per_type[ty]) printf(" %s %" PRIu64, lorc_type_name(ty), per_type[ty]);
    printf("\n");
    if (gguf_writer_write(w, a.out, cli_progress, (void *)"quantize", &err) != LORC_OK) {
        cli_fail("quantize", &err);
        goto out;
    }
    printf("tensor data: %.2f MiB -> %.2f MiB\n", mib(bytes_in), mib(bytes_out));
    printf("file size:   %.2f MiB -> %.2f MiB (%s)\n", mib(file_size(a.in)), mib(file_size(a.out)), a.out);
    rc = 0;
out:
    free(scratch);
    lorc_threadpool_free(pool);
    free(jobs);
    gguf_writer_free(w);
    gguf_close(in);
    return rc;
}
