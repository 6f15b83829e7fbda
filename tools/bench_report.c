/* bench_report.c — `lorc bench`'s output: a table for people, or exactly one
 * JSON object (jansson) for scripts, with null for what was not measured. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

static json_t *number_or_null(double v) { return v >= 0 ? json_real(v) : json_null(); }

static double ratio_or_none(double num, double den) { return num > 0 && den > 0 ? num / den : -1; }

static json_t *scaling_json(const bench_report *r) {
    if (!r->scaling_measured) return json_null();
    const bench_scaling_result *s = &r->scaling;
    json_t *e = json_object();
    json_object_set_new(e, "threads", json_integer(s->threads));
    json_object_set_new(e, "tg_tps_1", number_or_null(s->tg_tps_1));
    json_object_set_new(e, "tg_tps_n", number_or_null(s->tg_tps_n));
    json_object_set_new(e, "tg_ratio", number_or_null(ratio_or_none(s->tg_tps_n, s->tg_tps_1)));
    json_object_set_new(e, "bandwidth_gbs_1", number_or_null(s->bandwidth_gbs_1));
    json_object_set_new(e, "bandwidth_gbs_n", number_or_null(s->bandwidth_gbs_n));
    json_object_set_new(e, "bandwidth_ratio", number_or_null(ratio_or_none(s->bandwidth_gbs_n, s->bandwidth_gbs_1)));
    return e;
}

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
    json_object_set_new(o, "model_huge_page_fraction", number_or_null(r->huge_page_fraction));
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
    json_object_set_new(o, "lora_type", r->lora_type ? json_string(r->lora_type) : json_null());
    if (r->n_mixed > 0) {
        static const char *const setups[3] = {"base", "one_adapter", "mixed"};
        json_t *list = json_array();
        for (int i = 0; i < r->n_mixed; i++) {
            const bench_mixed_result *m = &r->mixed[i];
            json_t *e = json_object();
            json_object_set_new(e, "n", json_integer(m->n));
            json_object_set_new(e, "rank", json_integer(m->rank));
            json_object_set_new(e, "targets", json_string(m->targets));
            json_t *pp = json_object(), *tg = json_object();
            for (int s = 0; s < 3; s++) {
                json_object_set_new(pp, setups[s], number_or_null(m->pp_tps[s]));
                json_object_set_new(tg, setups[s], number_or_null(m->tg_tps[s]));
            }
            json_object_set_new(e, "pp_tps", pp);
            json_object_set_new(e, "tg_tps", tg);
            json_object_set_new(e, "tg_mixed_vs_one",
                                number_or_null(m->tg_tps[1] > 0 && m->tg_tps[2] > 0 ? m->tg_tps[2] / m->tg_tps[1] : -1));
            json_object_set_new(e, "pp_mixed_vs_one",
                                number_or_null(m->pp_tps[1] > 0 && m->pp_tps[2] > 0 ? m->pp_tps[2] / m->pp_tps[1] : -1));
            json_object_set_new(e, "switch_ms", number_or_null(m->switch_ms));
            json_array_append_new(list, e);
        }
        json_object_set_new(o, "mixed", list);
    } else {
        json_object_set_new(o, "mixed", json_null());
    }
    json_object_set_new(o, "thread_scaling", scaling_json(r));
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

static void print_lora(const bench_report *r, FILE *fp);
static void print_mixed(const bench_report *r, FILE *fp);
static void print_scaling(const bench_report *r, FILE *fp);

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
    line(fp, "model in 2 MB pages", r->huge_page_fraction >= 0 ? 100 * r->huge_page_fraction : -1,
         "%.0f%% (of its mapping; the rest in 4 KB pages)");
    line(fp, "load", r->load_ms, "%.1f ms (model load + context)");
    line(fp, "adapter attach", r->attach_ms, "%.1f ms (adapter load + attach, first adapter)");
    fprintf(fp, "(best of %d rounds)\n", r->reps);
    if (r->scaling_measured) print_scaling(r, fp);
    if (r->lora_measured) print_lora(r, fp);
    if (r->n_mixed > 0) print_mixed(r, fp);
}

static void print_lora(const bench_report *r, FILE *fp) {
    fprintf(fp, "\nLoRA: speed with the adapter / without (rounds alternate base and adapter)");
    if (r->lora_type) fprintf(fp, ", random adapters in %s", r->lora_type);
    fprintf(fp, "\n");
    fprintf(fp, "%-6s %-24s %-10s %-10s %s\n", "rank", "targets", "pp ratio", "tg ratio", "attach ms");
    for (int i = 0; i < r->n_lora; i++) {
        const bench_lora_result *l = &r->lora[i];
        fprintf(fp, "%-6d %-24s ", l->rank, l->targets);
        char pp[32] = "-", tg[32] = "-";
        if (l->pp_ratio >= 0) snprintf(pp, sizeof pp, "%.3f", l->pp_ratio);
        if (l->tg_ratio >= 0) snprintf(tg, sizeof tg, "%.3f", l->tg_ratio);
        fprintf(fp, "%-10s %-10s ", pp, tg);
        fprintf(fp, "%.1f\n", l->attach_ms);
    }
}

static void print_mixed(const bench_report *r, FILE *fp) {
    fprintf(fp, "\nMixed adapters: N sequences decoding together, tokens/s summed over them\n");
    fprintf(fp, "(rank %d on %s; rounds alternate the set-ups)\n", r->mixed[0].rank, r->mixed[0].targets);
    fprintf(fp, "%-5s %-12s %-12s %-12s %-12s %-12s %s\n", "N", "tg base", "tg 1 adapter", "tg N adapters",
            "mixed/one", "pp mixed/one", "switch ms");
    for (int i = 0; i < r->n_mixed; i++) {
        const bench_mixed_result *m = &r->mixed[i];
        double tg_ratio = m->tg_tps[1] > 0 ? m->tg_tps[2] / m->tg_tps[1] : -1;
        double pp_ratio = m->pp_tps[1] > 0 ? m->pp_tps[2] / m->pp_tps[1] : -1;
        fprintf(fp, "%-5d %-12.2f %-12.2f %-12.2f %-12.3f %-12.3f %.3f\n", m->n, m->tg_tps[0], m->tg_tps[1],
                m->tg_tps[2], tg_ratio, pp_ratio, m->switch_ms);
    }
}

static void print_scaling(const bench_report *r, FILE *fp) {
    const bench_scaling_result *s = &r->scaling;
    fprintf(fp, "\nThreads: tg%d with 1 and %d threads (rounds alternate), read bandwidth with each\n", r->n_gen,
            s->threads);
    fprintf(fp, "%-22s %.2f -> %.2f tokens/s (x%.2f)\n", "tg", s->tg_tps_1, s->tg_tps_n,
            ratio_or_none(s->tg_tps_n, s->tg_tps_1));
    if (s->bandwidth_gbs_1 > 0 && s->bandwidth_gbs_n > 0)
        fprintf(fp, "%-22s %.2f -> %.2f GB/s (x%.2f: the ceiling of a decode bound by memory)\n", "read bandwidth",
                s->bandwidth_gbs_1, s->bandwidth_gbs_n, s->bandwidth_gbs_n / s->bandwidth_gbs_1);
    else
        fprintf(fp, "%-22s not measured\n", "read bandwidth");
}
