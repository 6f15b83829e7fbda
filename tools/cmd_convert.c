/* cmd_convert.c — `lorc convert`: a Hugging Face PEFT LoRA directory to a
 * llama.cpp-compatible GGUF adapter. The adapter is loaded against the base
 * model (names mapped, Q/K rows permuted into GGUF order, everything
 * checked), then written with adapter.lora.alpha chosen so that llama.cpp's
 * alpha / r reproduces PEFT's scale (rsLoRA included). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "adapter/adapter.h"
#include "base/error.h"
#include "cli.h"
#include "commands.h"
#include "format/gguf.h"
#include "tensor/finite_check.h"
#include "tensor/types.h"

static const char convert_usage[] =
    "usage: lorc convert PEFT_DIR -m BASE -o OUT.gguf [--outtype f32|f16|bf16|q8_0]\n"
    "\n"
    "Writes a Hugging Face PEFT LoRA adapter (adapter_config.json +\n"
    "adapter_model.safetensors) as a llama.cpp GGUF adapter, usable by lorc and\n"
    "llama.cpp (--lora). The base model supplies the architecture and the head\n"
    "counts of the RoPE row permutation of Q/K, and every tensor is checked\n"
    "against it.\n"
    "\n"
    "  -m, --model FILE   the GGUF base model the adapter was trained on (required)\n"
    "  -o, --output FILE  the GGUF adapter to write (atomically; only a new name or\n"
    "                     a regular file is replaced: docs/output-files.md)\n"
    "  --outtype TYPE     f32 (default, exact), f16, bf16 or q8_0; q8_0 keeps F32\n"
    "                     for tensors whose rows are not a multiple of 32. A value\n"
    "                     TYPE cannot hold (F16 above 65504, ...) is refused, not\n"
    "                     clamped: nothing is written (use a wider type)\n"
    "  -h, --help         this help\n"
    "\n"
    "llama.cpp's adapter format has one alpha and scales each tensor by alpha/r:\n"
    "rsLoRA becomes alpha = scale x r, and modules whose scale differs (rank_pattern,\n"
    "alpha_pattern) get the difference folded into their lora_b. DoRA and\n"
    "modules_to_save cannot be expressed and are refused: use the PEFT directory\n"
    "with lorc directly, or `lorc merge`.\n";

typedef struct convert_tensor {
    char name[160];
    uint32_t type;
    int64_t ne[2];
    void *data; /* owned */
} convert_tensor;

/* A's or B's values in F32, with B's rows multiplied by `factor`. */
static float *to_f32(const lorc_tensor *t, float factor) {
    const lorc_type_info *ti = lorc_type_get(t->type);
    int64_t n = t->ne[0] * t->ne[1];
    size_t rb = lorc_row_bytes(t->type, t->ne[0]);
    float *v = malloc((size_t)n * sizeof *v);
    if (!v) return NULL;
    for (int64_t r = 0; r < t->ne[1]; r++) ti->to_float((const uint8_t *)t->data + (size_t)r * rb, v + r * t->ne[0], t->ne[0]);
    if (factor != 1.0f)
        for (int64_t i = 0; i < n; i++) v[i] *= factor;
    return v;
}

/* Encodes F32 rows as `type` (or F32 when the rows do not fit its blocks).
 * A value the type cannot hold (e.g. a folded scale pushing F16 past 65504)
 * is refused, not clamped (tensor/finite_check.h). `v` is overwritten. */
static lorc_status encode(convert_tensor *ct, float *v, uint32_t type, bool *fell_back, lorc_error *err) {
    if (lorc_row_bytes(type, ct->ne[0]) == 0) {
        type = LORC_TYPE_F32;
        *fell_back = true;
    }
    size_t rb = lorc_row_bytes(type, ct->ne[0]);
    ct->data = malloc((size_t)ct->ne[1] * rb);
    if (!ct->data) return lorc_fail(err, LORC_ERR_NOMEM, "out of memory");
    ct->type = type;
    for (int64_t r = 0; r < ct->ne[1]; r++) {
        lorc_status st = lorc_encode_row_checked(type, v + r * ct->ne[0], (uint8_t *)ct->data + (size_t)r * rb,
                                                 ct->ne[0], ct->name, r, err);
        if (st) return st;
    }
    return LORC_OK;
}

static int parse_outtype(const char *s, uint32_t *type) {
    static const struct {
        const char *name;
        uint32_t type;
    } types[] = {{"f32", LORC_TYPE_F32}, {"f16", LORC_TYPE_F16}, {"bf16", LORC_TYPE_BF16}, {"q8_0", LORC_TYPE_Q8_0}};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (!strcmp(s, types[i].name)) {
            *type = types[i].type;
            return 0;
        }
    fprintf(stderr, "lorc convert: invalid value '%s' for --outtype (f32, f16, bf16 or q8_0)\n", s);
    return -1;
}

/* Writes the adapter's pairs; returns the process exit code. */
static int write_adapter(const lorc_adapter *ad, const lorc_model *model, const char *out, uint32_t outtype) {
    int n_pairs = 0;
    for (int s = 0; s < ad->n_slots; s++) {
        const lorc_adapter_weight *w = &ad->slots[s];
        char name[128];
        if (w->dora) {
            fprintf(stderr,
                    "lorc convert: %s: DoRA (use_dora) cannot be expressed in a llama.cpp GGUF adapter; use the PEFT "
                    "directory with lorc, or `lorc merge` it into an overlay\n",
                    ad->path);
            return 1;
        }
        if (w->has_replace) {
            fprintf(stderr,
                    "lorc convert: %s: modules_to_save replaces '%s', which a llama.cpp GGUF adapter cannot express; "
                    "use the PEFT directory with lorc, or `lorc merge` it into an overlay\n",
                    ad->path, lorc_model_slot_name(model, s, name, sizeof name));
            return 1;
        }
        n_pairs += w->has_lora;
    }
    if (n_pairs == 0) {
        fprintf(stderr, "lorc convert: %s: the adapter has no LoRA weights\n", ad->path);
        return 1;
    }
    convert_tensor *ct = calloc((size_t)(2 * n_pairs), sizeof *ct);
    gguf_writer *gw = gguf_writer_new();
    int rc = 1, nt = 0, folded = 0;
    bool fell_back = false;
    float alpha = 0.0f;
    bool have_alpha = false;
    if (!ct || !gw) {
        fprintf(stderr, "lorc convert: out of memory\n");
        goto out;
    }
    /* alpha = 0 means "scale 1" to llama.cpp, so it comes from a module with a
     * non-zero scale; when every scale is 0, alpha = r (scale 1) and the 0 is
     * folded into lora_b like any other difference. */
    for (int s = 0; s < ad->n_slots && !have_alpha; s++) {
        const lorc_adapter_weight *w = &ad->slots[s];
        if (w->has_lora && w->scale != 0.0f) {
            alpha = w->scale * (float)w->b.ne[0];
            have_alpha = true;
        }
    }
    for (int s = 0; s < ad->n_slots && !have_alpha; s++) {
        if (ad->slots[s].has_lora) {
            alpha = (float)ad->slots[s].b.ne[0];
            have_alpha = true;
        }
    }
    if (!isfinite(alpha)) {
        fprintf(stderr, "lorc convert: %s: the adapter's scale does not fit adapter.lora.alpha (alpha = scale x r overflows)\n",
                ad->path);
        goto out;
    }
    for (int s = 0; s < ad->n_slots; s++) {
        const lorc_adapter_weight *w = &ad->slots[s];
        if (!w->has_lora) continue;
        float r = (float)w->b.ne[0];
        /* llama.cpp applies alpha / r; fold whatever differs from this module's scale into B. */
        float applied = alpha / r;
        float factor = applied == w->scale ? 1.0f : w->scale / applied;
        folded += factor != 1.0f;
        char base[128];
        lorc_model_slot_name(model, s, base, sizeof base);
        const lorc_tensor *src[2] = {&w->a, &w->b};
        for (int k = 0; k < 2; k++) {
            convert_tensor *t = &ct[nt++];
            snprintf(t->name, sizeof t->name, "%s.lora_%c", base, k ? 'b' : 'a');
            t->ne[0] = src[k]->ne[0];
            t->ne[1] = src[k]->ne[1];
            float *v = to_f32(src[k], k ? factor : 1.0f);
            lorc_error err = {0};
            if (!v || encode(t, v, outtype, &fell_back, &err) != LORC_OK) {
                free(v);
                if (!v) fprintf(stderr, "lorc convert: out of memory\n");
                else cli_fail("convert", &err);
                goto out;
            }
            free(v);
        }
    }
    lorc_status st = gguf_writer_set_str(gw, "general.architecture", model->arch_name);
    if (!st) st = gguf_writer_set_str(gw, "general.type", "adapter");
    if (!st) st = gguf_writer_set_str(gw, "adapter.type", "lora");
    if (!st) st = gguf_writer_set_f32(gw, "adapter.lora.alpha", alpha);
    for (int i = 0; i < nt && !st; i++) st = gguf_writer_add_tensor(gw, ct[i].name, ct[i].type, 2, ct[i].ne, ct[i].data);
    lorc_error err = {0};
    if (st) {
        fprintf(stderr, "lorc convert: out of memory\n");
        goto out;
    }
    if (gguf_writer_write(gw, out, cli_progress, (void *)"convert", &err) != LORC_OK) {
        cli_fail("convert", &err);
        goto out;
    }
    printf("wrote %s: %d LoRA pairs, rank %d, adapter.lora.alpha = %g (%s)\n", out, n_pairs, ad->rank, (double)alpha,
           lorc_type_name(outtype));
    if (folded) printf("note: %d module(s) with their own scale (rank/alpha pattern) have it folded into lora_b\n", folded);
    if (fell_back) printf("note: tensors whose rows do not fit %s blocks were kept as F32\n", lorc_type_name(outtype));
    rc = 0;
out:
    for (int i = 0; ct && i < nt; i++) free(ct[i].data);
    free(ct);
    gguf_writer_free(gw);
    return rc;
}

int lorc_cmd_convert(int argc, char **argv) {
    const char *dir = NULL, *model_path = NULL, *out = NULL;
    uint32_t outtype = LORC_TYPE_F32;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        bool missing = false;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(convert_usage, stdout);
            return 0;
        }
        if (cli_opt(argc, argv, &i, "-m", &v, &missing) || cli_opt(argc, argv, &i, "--model", &v, &missing)) {
            if (missing) return 1;
            model_path = v;
        } else if (cli_opt(argc, argv, &i, "-o", &v, &missing) || cli_opt(argc, argv, &i, "--output", &v, &missing)) {
            if (missing) return 1;
            out = v;
        } else if (cli_opt(argc, argv, &i, "--outtype", &v, &missing)) {
            if (missing || parse_outtype(v, &outtype) != 0) return 1;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("convert", "unknown option '%s'", a);
        } else if (!dir) {
            dir = a;
        } else {
            return cli_usage_error("convert", "unexpected argument '%s' (one PEFT_DIR only)", a);
        }
    }
    if (!dir || !out || !model_path) {
        return cli_usage_error("convert", "PEFT_DIR, -m BASE and -o OUT are required");
    }
    const char *inputs[2] = {dir, model_path};
    if (!cli_output_is_new("convert", out, inputs, 2)) return 1;
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "lorc convert: %s: not a directory (convert reads PEFT adapter directories)\n", dir);
        return 1;
    }
    lorc_error err = {0};
    lorc_model *model = NULL;
    if (lorc_model_load(model_path, &model, &err) != LORC_OK) return cli_fail("convert", &err);
    lorc_adapter *ad = NULL;
    int rc;
    if (lorc_adapter_load(model, dir, &ad, &err) != LORC_OK) rc = cli_fail("convert", &err);
    else rc = write_adapter(ad, model, out, outtype);
    lorc_adapter_free(ad);
    lorc_model_free(model);
    return rc;
}
