/* bench_report.c — `lorc bench`'s output: a table for people, or exactly one
 * JSON object (jansson) for scripts, with null for what was not measured. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

static json_t *number_or_null(double v) { return v >= 0 ? json_real(v) : json_null(); }

bool bench_print_json(const bench_report *r, FILE *fp) {
    json_t *o = json_object();
    if (!o) return false;
    json_object_set_new(o, "model", json_string(r->model));
    json_object_set_new(o, "type", r->type ? json_string(r->type) : json_null());
    json_object_set_new(o, "threads", json_integer(r->threads));
    json_object_set_new(o, "kernels", json_string(r->kernels));
    json_object_set_new(o, "bandwidth_gbs", number_or_null(r->bandwidth_gbs));
    json_object_set_new(o, "pp_tps", number_or_null(r->pp_tps));
    json_object_set_new(o, "tg_tps", number_or_null(r->tg_tps));
    json_object_set_new(o, "tg_roofline_fraction", number_or_null(r->tg_roofline_fraction));
    if (r->lora_measured) {
        json_t *list = json_array();
        for (int i = 0; i < r->n_lora; i++) {
            const bench_lora_result *l = &r->lora[i];
            json_t *e = json_object();
            json_object_set_new(e, "rank", json_integer(l->rank));
            json_object_set_new(e, "targets", json_string(l->targets));
            json_object_set_new(e, "pp_ratio", number_or_null(l->pp_ratio));
            json_object_set_new(e, "tg_ratio", number_or_null(l->tg_ratio));
            json_array_append_new(list, e);
        }
        json_object_set_new(o, "lora", list);
    } else {
        json_object_set_new(o, "lora", json_null());
    }
    json_object_set_new(o, "load_ms", number_or_null(r->load_ms));
    json_object_set_new(o, "attach_ms", number_or_null(r->attach_ms));
    char *text = json_dumps(o, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    json_decref(o);
    if (!text) return false;
    fprintf(fp, "%s\n", text);
    free(text);
    return true;
}

static void line(FILE *fp, const char *label, double v, const char *fmt_unit) {
    fprintf(fp, "%-22s ", label);
    if (v < 0)
        fprintf(fp, "not measured\n");
    else {
        fprintf(fp, fmt_unit, v);
        fprintf(fp, "\n");
    }
}

void bench_print_table(const bench_report *r, FILE *fp) {
    fprintf(fp, "%-22s %s\n", "model", r->model);
    fprintf(fp, "%-22s %s\n", "type", r->type ? r->type : "unknown");
    fprintf(fp, "%-22s %d\n", "threads", r->threads);
    fprintf(fp, "%-22s %s\n", "kernels", r->kernels);
    line(fp, "read bandwidth", r->bandwidth_gbs, "%.2f GB/s (best of the passes, same threads)");
    line(fp, "weights per token", r->weight_mb_per_token, "%.1f MB");
    char label[64];
    snprintf(label, sizeof label, "pp%d", r->n_prompt);
    line(fp, label, r->pp_tps, "%.2f tokens/s");
    snprintf(label, sizeof label, "tg%d", r->n_gen);
    line(fp, label, r->tg_tps, "%.2f tokens/s");
    line(fp, "tg / roofline", r->tg_roofline_fraction >= 0 ? 100 * r->tg_roofline_fraction : -1,
         "%.1f%% (weight bytes per token x tg / bandwidth)");
    line(fp, "load", r->load_ms, "%.1f ms (model load + context)");
    line(fp, "adapter attach", r->attach_ms, "%.1f ms (adapter load + attach, first adapter)");
    fprintf(fp, "(best of %d rounds)\n", r->reps);
    if (!r->lora_measured) return;
    fprintf(fp, "\nLoRA: speed with the adapter / without (rounds alternate base and adapter)\n");
    fprintf(fp, "%-6s %-24s %-10s %-10s %s\n", "rank", "targets", "pp ratio", "tg ratio", "attach ms");
    for (int i = 0; i < r->n_lora; i++) {
        const bench_lora_result *l = &r->lora[i];
        fprintf(fp, "%-6d %-24s ", l->rank, l->targets);
        if (l->pp_ratio >= 0) fprintf(fp, "%-10.3f ", l->pp_ratio); else fprintf(fp, "%-10s ", "-");
        if (l->tg_ratio >= 0) fprintf(fp, "%-10.3f ", l->tg_ratio); else fprintf(fp, "%-10s ", "-");
        fprintf(fp, "%.1f\n", l->attach_ms);
    }
}
