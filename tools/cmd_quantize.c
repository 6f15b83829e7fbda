/* cmd_quantize.c — `lorc quantize IN OUT TYPE`: converts every 2-D weight
 * whose rows fit TYPE's blocks (dequantize, then quantize), keeps the rest,
 * copies the metadata. Converted tensors are produced one at a time while
 * the output is written, so the whole output is never held in memory. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "base/threadpool.h"
#include "cli.h"
#include "commands.h"
#include "format/gguf.h"
#include "tensor/finite_check.h"
#include "tensor/types.h"

/* GGUF `general.quantization_version` of the block formats lorc writes. */
#define QUANTIZE_QNT_VERSION 2

static void usage(FILE *fp) {
    fprintf(fp,
            "usage: lorc quantize IN OUT TYPE [-t THREADS]\n"
            "\n"
            "Writes OUT: IN with every 2-D weight tensor (name ending in \".weight\")\n"
            "converted to TYPE where its row length is a multiple of TYPE's block\n"
            "size. 1-D tensors (norms, biases, rope factors) and rows that do not fit\n"
            "are kept as they are; the metadata is copied and general.file_type set.\n"
            "\n"
            "TYPE (any case): F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K Q4_K Q5_K Q6_K\n"
            "                 (those lorc has a quantizer for)\n"
            "  -t THREADS     worker threads (default: all cores)\n");
}

/* llama.cpp's llama_ftype for a file whose weights are mostly `type` (the
 * value llama.cpp itself infers from the dominant type); -1 if none. */
static int ftype_for(uint32_t type) {
    switch (type) {
    case LORC_TYPE_F32: return 0;  /* ALL_F32 */
    case LORC_TYPE_F16: return 1;  /* MOSTLY_F16 */
    case LORC_TYPE_Q4_0: return 2; /* MOSTLY_Q4_0 */
    case LORC_TYPE_Q4_1: return 3;
    case LORC_TYPE_Q8_0: return 7;
    case LORC_TYPE_Q5_0: return 8;
    case LORC_TYPE_Q5_1: return 9;
    case LORC_TYPE_Q2_K: return 10;
    case LORC_TYPE_Q3_K: return 12; /* MOSTLY_Q3_K_M */
    case LORC_TYPE_Q4_K: return 15; /* MOSTLY_Q4_K_M */
    case LORC_TYPE_Q5_K: return 17; /* MOSTLY_Q5_K_M */
    case LORC_TYPE_Q6_K: return 18;
    case LORC_TYPE_BF16: return 32;
    default: return -1;
    }
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
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
    lorc_error *thread_err; /* [threads]: a value the type cannot hold (tensor/finite_check.h) */
} convert_job;

static void convert_rows(void *user, int ith, int nth) {
    convert_job *j = user;
    const lorc_type_info *from = lorc_type_get(j->src->type);
    int64_t ne0 = j->src->ne[0];
    size_t src_row = lorc_row_bytes(j->src->type, ne0), dst_row = lorc_row_bytes(j->dst_type, ne0);
    float *row = j->scratch + (int64_t)ith * j->scratch_stride;
    int64_t r0 = j->n_rows * ith / nth, r1 = j->n_rows * (ith + 1) / nth;
    for (int64_t r = r0; r < r1; r++) {
        from->to_float((const uint8_t *)j->src->data + (size_t)r * src_row, row, ne0);
        if (lorc_encode_row_checked(j->dst_type, row, j->dst + (size_t)r * dst_row, ne0, j->src->name, r,
                                    &j->thread_err[ith]) != LORC_OK)
            return;
    }
}

static lorc_status convert_fill(void *user, void *dst, uint64_t nbytes, lorc_error *err) {
    convert_job *j = user;
    (void)nbytes; /* the writer sized it from the same type and dims */
    j->dst = dst;
    j->n_rows = j->src->ne[1] * j->src->ne[2] * j->src->ne[3];
    int nth = lorc_threadpool_size(j->pool);
    j->thread_err = calloc((size_t)nth, sizeof *j->thread_err);
    if (!j->thread_err) return lorc_fail(err, LORC_ERR_NOMEM, "tensor '%s': out of memory", j->src->name);
    lorc_threadpool_run(j->pool, convert_rows, j);
    lorc_status st = LORC_OK;
    for (int i = 0; i < nth && !st; i++)
        if (j->thread_err[i].status) st = lorc_fail(err, j->thread_err[i].status, "%s", j->thread_err[i].message);
    free(j->thread_err);
    j->thread_err = NULL;
    return st;
}

static uint64_t file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static double mib(uint64_t n) { return (double)n / (1024.0 * 1024.0); }

typedef struct quantize_args {
    const char *in, *out, *type_name;
    long threads;
} quantize_args;

/* 0: parsed, 1: error, 2: --help printed. */
static int parse_args(int argc, char **argv, quantize_args *a) {
    const char *pos[3];
    int n_pos = 0;
    a->threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *val = NULL;
        bool missing = false;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 2;
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
    int type = lorc_type_from_name(a.type_name);
    if (type < 0) {
        fprintf(stderr, "lorc quantize: unknown type '%s' (see lorc quantize --help)\n", a.type_name);
        return 1;
    }
    const lorc_type_info *to = lorc_type_get((uint32_t)type);
    int ftype = ftype_for((uint32_t)type);
    if (!to->from_float || ftype < 0) {
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

    uint64_t n_converted = 0, n_kept = 0, bytes_in = 0, bytes_out = 0;
    for (uint64_t i = 0; i < in->n_tensors; i++) {
        const gguf_tensor_info *t = &in->tensors[i];
        bool weight = t->n_dims >= 2 && ends_with(t->name, ".weight");
        bool fits = t->ne[0] % to->block_size == 0;
        bytes_in += t->nbytes;
        if (weight && !fits)
            printf("keeping %s as %s: row length %" PRId64 " is not a multiple of the %s block size %" PRId64 "\n",
                   t->name, lorc_type_name(t->type), t->ne[0], to->name, to->block_size);
        if (weight && fits && t->type != (uint32_t)type) {
            jobs[i] = (convert_job){t, (uint32_t)type, pool, scratch, max_row, NULL, 0, NULL};
            gguf_writer_add_tensor_lazy(w, t->name, (uint32_t)type, t->n_dims, t->ne, convert_fill, &jobs[i]);
            bytes_out += lorc_row_bytes((uint32_t)type, t->ne[0]) * (uint64_t)(t->ne[1] * t->ne[2] * t->ne[3]);
            n_converted++;
        } else {
            gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data);
            bytes_out += t->nbytes;
            n_kept++;
        }
    }
    /* the file type describes the weights: unchanged when none converted */
    if (n_converted > 0) {
        gguf_writer_set_u32(w, "general.file_type", (uint32_t)ftype);
        if (to->quantized) gguf_writer_set_u32(w, "general.quantization_version", QUANTIZE_QNT_VERSION);
    } else {
        printf("note: no tensor of %s can be converted to %s; the output is a copy\n", a.in, to->name);
    }
    printf("converting %" PRIu64 " tensors to %s, keeping %" PRIu64 " (%d threads)\n", n_converted, to->name, n_kept,
           (int)a.threads);
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
