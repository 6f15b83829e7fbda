/* cmd_inspect.c — `lorc inspect FILE`: a GGUF file's header, metadata and
 * tensor table, as read (and fully validated) by src/format/gguf_read.c. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "inspect_finetune.h"
#include "commands.h"
#include "format/gguf.h"
#include "tensor/types.h"

#define INSPECT_ARRAY_SHOWN 8   /* array elements printed unless --all */
#define INSPECT_STRING_SHOWN 80 /* string bytes printed unless --all */

static void usage(FILE *fp) {
    fprintf(fp,
            "usage: lorc inspect [--all] [--base MODEL] FILE\n"
            "\n"
            "Validates a GGUF file and prints its version, alignment, metadata\n"
            "(arrays shortened to their type, length and first elements) and tensor\n"
            "table (name, type, dims, bytes, offset), with totals. For a LoRA adapter\n"
            "(GGUF file or PEFT directory) or a tensor overlay it adds a summary: the\n"
            "base it fits, ranks, targets, sizes.\n"
            "\n"
            "  --all          print every array element and whole strings\n"
            "  --base MODEL   check that the adapter/overlay fits this base model\n");
}

/* Prints a string quoted, escaping control bytes and quotes; cut at `max`
 * bytes (0: never) with the full length noted. */
static void print_str(const gguf_string *s, uint64_t max) {
    uint64_t n = (max && s->len > max) ? max : s->len;
    putchar('"');
    for (uint64_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s->ptr[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c == '\n')
            fputs("\\n", stdout);
        else if (c == '\t')
            fputs("\\t", stdout);
        else if (c < 0x20 || c == 0x7f)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
    putchar('"');
    if (n < s->len) printf("... (%" PRIu64 " bytes)", s->len);
}

static void print_scalar(const gguf_kv *kv) {
    switch (kv->type) {
    case GGUF_TYPE_INT8:
    case GGUF_TYPE_INT16:
    case GGUF_TYPE_INT32:
    case GGUF_TYPE_INT64: printf("%" PRId64, kv->v.i64); break;
    case GGUF_TYPE_FLOAT32:
    case GGUF_TYPE_FLOAT64: printf("%.9g", kv->v.f64); break;
    case GGUF_TYPE_BOOL: fputs(kv->v.b ? "true" : "false", stdout); break;
    default: printf("%" PRIu64, kv->v.u64); break;
    }
}

static void print_array(const gguf_kv *kv, bool all) {
    uint64_t n = all ? kv->arr_len : (kv->arr_len < INSPECT_ARRAY_SHOWN ? kv->arr_len : INSPECT_ARRAY_SHOWN);
    printf("[%s x %" PRIu64 "] [", gguf_value_type_name(kv->arr_type), kv->arr_len);
    for (uint64_t i = 0; i < n; i++) {
        if (i) fputs(", ", stdout);
        switch (kv->arr_type) {
        case GGUF_TYPE_STRING: print_str(&kv->arr_strs[i], all ? 0 : 32); break;
        case GGUF_TYPE_FLOAT32:
        case GGUF_TYPE_FLOAT64: printf("%.9g", gguf_arr_get_f64(kv, i)); break;
        case GGUF_TYPE_BOOL: fputs(gguf_arr_get_i64(kv, i) ? "true" : "false", stdout); break;
        case GGUF_TYPE_UINT64: printf("%" PRIu64, (uint64_t)gguf_arr_get_i64(kv, i)); break;
        default: printf("%" PRId64, gguf_arr_get_i64(kv, i)); break;
        }
    }
    if (n < kv->arr_len) fputs(", ...", stdout);
    putchar(']');
}

static void print_metadata(const gguf_file *f, bool all) {
    printf("\nmetadata: %" PRIu64 " keys\n", f->n_kv);
    for (uint64_t i = 0; i < f->n_kv; i++) {
        const gguf_kv *kv = &f->kv[i];
        printf("  %-40s ", kv->key);
        if (kv->type == GGUF_TYPE_ARRAY) {
            print_array(kv, all);
        } else {
            printf("%-5s ", gguf_value_type_name(kv->type));
            if (kv->type == GGUF_TYPE_STRING)
                print_str(&kv->str, all ? 0 : INSPECT_STRING_SHOWN);
            else
                print_scalar(kv);
        }
        putchar('\n');
    }
}

static void print_tensors(const gguf_file *f) {
    printf("\ntensors: %" PRIu64 "\n", f->n_tensors);
    if (f->n_tensors == 0) return;
    printf("  %-32s %-7s %-22s %12s %12s\n", "name", "type", "dims", "bytes", "offset");
    uint64_t total_bytes = 0, total_params = 0;
    uint64_t per_type[LORC_TYPE_COUNT] = {0};
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor_info *t = &f->tensors[i];
        char dims[64];
        size_t len = 0;
        uint64_t n_el = 1;
        for (uint32_t d = 0; d < t->n_dims; d++) {
            len += (size_t)snprintf(dims + len, sizeof dims - len, "%s%" PRId64, d ? " x " : "", t->ne[d]);
            if (len >= sizeof dims) len = sizeof dims - 1;
            n_el *= (uint64_t)t->ne[d]; /* the reader checked this product */
        }
        printf("  %-32s %-7s %-22s %12" PRIu64 " %12" PRIu64 "\n", t->name, lorc_type_name(t->type), dims, t->nbytes,
               t->offset);
        total_bytes += t->nbytes;
        total_params += n_el;
        if (t->type < LORC_TYPE_COUNT) per_type[t->type]++;
    }
    printf("\ntotal: %" PRIu64 " tensors, %" PRIu64 " parameters, %" PRIu64 " bytes (%.2f MiB)\n", f->n_tensors,
           total_params, total_bytes, (double)total_bytes / (1024.0 * 1024.0));
    fputs("types:", stdout);
    for (uint32_t t = 0; t < LORC_TYPE_COUNT; t++)
        if (per_type[t]) printf(" %s x %" PRIu64, lorc_type_name(t), per_type[t]);
    putchar('\n');
}


int lorc_cmd_inspect(int argc, char **argv) {
    const char *path = NULL, *base_path = NULL;
    bool all = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--all") || !strcmp(argv[i], "-a")) {
            all = true;
        } else if (!strcmp(argv[i], "--base")) {
            if (i + 1 >= argc) {
                return cli_usage_error("inspect", "--base needs a model file");
            }
            base_path = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1] != 0) {
            return cli_usage_error("inspect", "unknown option '%s'", argv[i]);
        } else if (path) {
            return cli_usage_error("inspect", "more than one file given ('%s' and '%s')", path, argv[i]);
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        return cli_usage_error("inspect", "no file given");
    }
    lorc_error err = {0};
    struct stat st;
    /* a PEFT adapter is a directory: it only has the fine-tune summary */
    if (!(stat(path, &st) == 0 && S_ISDIR(st.st_mode))) {
        gguf_file *f;
        if (gguf_open(path, &f, &err) != LORC_OK) return cli_fail("inspect", &err);
        printf("%s\n", path);
        printf("GGUF version %u, alignment %" PRIu64 ", %" PRIu64 " bytes, tensor data at byte %" PRIu64 "\n",
               f->version, f->alignment, (uint64_t)f->map.size, f->data_offset);
        print_metadata(f, all);
        print_tensors(f);
        gguf_close(f);
    }
    /* adapters and overlays: which base they fit, ranks, targets */
    if (inspect_finetune(path, base_path, stdout, &err) < 0) return cli_fail("inspect", &err);
    return 0;
}
