/* cmd_diff.c — `lorc diff BASE FINETUNED -o OUT`: the overlay of exactly the
 * tensors whose bytes (or type) differ between two files with the same
 * tensor table (names and shapes; types may differ). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter/extract.h"
#include "adapter/overlay.h"
#include "base/error.h"
#include "cli.h"
#include "commands.h"
#include "format/gguf.h"
#include "tensor/types.h"

static void usage(FILE *fp) {
    fprintf(fp,
            "usage: lorc diff BASE FINETUNED -o OUT\n"
            "  Writes an overlay (docs/overlay-format.md) holding exactly the tensors of\n"
            "  FINETUNED that differ from BASE, byte for byte, so that BASE + OUT equals\n"
            "  FINETUNED. Both must have the same architecture and the same tensor names\n"
            "  and shapes; a tensor whose type changed counts as changed.\n"
            "  -o OUT    output overlay file (written atomically; a device, FIFO, directory\n"
            "            or dangling link is refused, a link to a file is followed).\n"
            "            A tensor holding Inf/NaN is refused, not written (docs/output-files.md)\n");
}

static void shape_str(const gguf_tensor_info *t, char *buf, size_t cap) {
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (uint32_t d = 0; d < t->n_dims && n < cap; d++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", d ? ", " : "", (long long)t->ne[d]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

static size_t kv_value_size(const gguf_kv *kv) {
    switch (kv->type) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
    case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
    case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
    case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64: return 8;
    default: return 0;
    }
}

static bool kv_equal(const gguf_kv *a, const gguf_kv *b) {
    if (a->type != b->type) return false;
    if (a->type == GGUF_TYPE_STRING) return a->str.len == b->str.len && !memcmp(a->str.ptr, b->str.ptr, a->str.len);
    if (a->type == GGUF_TYPE_BOOL) return a->v.b == b->v.b;
    if (a->type == GGUF_TYPE_FLOAT32 || a->type == GGUF_TYPE_FLOAT64) return a->v.f64 == b->v.f64;
    if (a->type != GGUF_TYPE_ARRAY) return a->v.u64 == b->v.u64;
    if (a->arr_type != b->arr_type || a->arr_len != b->arr_len) return false;
    if (a->arr_type == GGUF_TYPE_STRING) {
        for (uint64_t i = 0; i < a->arr_len; i++)
            if (a->arr_strs[i].len != b->arr_strs[i].len ||
                memcmp(a->arr_strs[i].ptr, b->arr_strs[i].ptr, a->arr_strs[i].len))
                return false;
        return true;
    }
    gguf_kv elem = {.type = a->arr_type};
    size_t es = kv_value_size(&elem);
    return a->arr_len == 0 || !memcmp(a->arr_data, b->arr_data, (size_t)a->arr_len * es);
}

/* Overlays carry tensors only: say which model settings the overlay will
 * not reproduce. general.* keys (names, file type) are not model settings. */
static void report_metadata(const gguf_file *base, const gguf_file *ft) {
    int n = 0;
    for (uint64_t i = 0; i < ft->n_kv; i++) {
        const gguf_kv *f = &ft->kv[i];
        if (!strncmp(f->key, "general.", 8)) continue;
        const gguf_kv *b = gguf_find_kv(base, f->key);
        if (b && kv_equal(b, f)) continue;
        if (n++ < 8) fprintf(stderr, "lorc diff: note: metadata '%s' %s; overlays do not carry metadata\n", f->key,
                             b ? "differs" : "is only in FINETUNED");
    }
    for (uint64_t i = 0; i < base->n_kv; i++) {
        const gguf_kv *b = &base->kv[i];
        if (strncmp(b->key, "general.", 8) && !gguf_find_kv(ft, b->key) && n++ < 8)
            fprintf(stderr, "lorc diff: note: metadata '%s' is only in BASE\n", b->key);
    }
    if (n > 8) fprintf(stderr, "lorc diff: note: %d metadata keys differ in all\n", n);
}

int lorc_cmd_diff(int argc, char **argv) {
    const char *pos[2] = {NULL, NULL}, *out = NULL;
    int n_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        bool missing = false;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (cli_opt(argc, argv, &i, "-o", &v, &missing)) {
            if (missing) return 1;
            out = v;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error("diff", "unknown option '%s'", argv[i]);
        } else if (n_pos < 2) {
            pos[n_pos++] = argv[i];
        } else {
            return cli_usage_error("diff", "unexpected argument '%s'", argv[i]);
        }
    }
    if (n_pos != 2 || !out) return cli_usage_error("diff", "BASE, FINETUNED and -o OUT are required");
    if (!cli_output_is_new("diff", out, pos, 2)) return 1;
    lorc_error err = {0};
    gguf_file *base = NULL, *ft = NULL;
    lorc_overlay_writer *ow = NULL;
    int rc = 1;
    if (gguf_open(pos[0], &base, &err) || gguf_open(pos[1], &ft, &err)) {
        cli_fail("diff", &err);
        goto done;
    }
    if (lorc_finetune_check_tables(base, ft, &err)) {
        cli_fail("diff", &err);
        goto done;
    }
    report_metadata(base, ft);
    if (lorc_overlay_writer_new(base, &ow, &err)) {
        cli_fail("diff", &err);
        goto done;
    }
    char source[1024];
    snprintf(source, sizeof source, "lorc diff of %s", ft->path);
    if (gguf_writer_set_str(lorc_overlay_writer_gguf(ow), LORC_OVERLAY_KEY_SOURCE, source)) {
        fprintf(stderr, "lorc diff: out of memory\n");
        goto done;
    }
    uint64_t changed_bytes = 0, ft_bytes = 0;
    for (uint64_t i = 0; i < base->n_tensors; i++) {
        const gguf_tensor_info *b = &base->tensors[i];
        const gguf_tensor_info *f = gguf_find_tensor(ft, b->name);
        ft_bytes += f->nbytes;
        if (lorc_finetune_tensor_same(b, f)) continue;
        if (!lorc_type_supported(f->type)) {
            fprintf(stderr, "lorc diff: tensor '%s' of %s has type %s, which lorc cannot compute with\n", f->name,
                    ft->path, lorc_type_name(f->type));
            goto done;
        }
        if (f->n_dims < 2 && f->type != b->type) {
            fprintf(stderr, "lorc diff: 1-D tensor '%s' changed type (%s -> %s); an overlay must keep it %s\n", f->name,
                    lorc_type_name(b->type), lorc_type_name(f->type), lorc_type_name(b->type));
            goto done;
        }
        if (lorc_overlay_writer_add(ow, f->name, f->type, f->data, &err)) {
            cli_fail("diff", &err);
            goto done;
        }
        char shape[96];
        shape_str(f, shape, sizeof shape);
        printf("  %-32s %-5s %-16s %10llu bytes%s\n", f->name, lorc_type_name(f->type), shape,
               (unsigned long long)f->nbytes, b->type != f->type ? " (type changed)" : "");
        changed_bytes += f->nbytes;
    }
    if (lorc_overlay_writer_write(ow, out, cli_progress, "diff", &err)) {
        cli_fail("diff", &err);
        goto done;
    }
    printf("%d of %llu tensors differ: %.2f MiB of tensor data (%.1f%% of %s's tensors) -> %s\n",
           lorc_overlay_writer_count(ow), (unsigned long long)base->n_tensors, (double)changed_bytes / 1048576.0,
           ft_bytes ? 100.0 * (double)changed_bytes / (double)ft_bytes : 0.0, ft->path, out);
    rc = 0;
done:
    lorc_overlay_writer_free(ow);
    gguf_close(ft);
    gguf_close(base);
    return rc;
}
