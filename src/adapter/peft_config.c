/* peft_config.c — parsing adapter_config.json (jansson) and PEFT's module
 * selection rules: target_modules (list: exact name or ".name" suffix;
 * string: full regex match), exclude_modules, layers_to_transform, and
 * rank_pattern/alpha_pattern keys matched as re.match(r"(.*\.)?(KEY)$"),
 * first key in file order wins. Regexes run on PCRE2. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "peft_config.h"

#include <jansson.h>
#include <math.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/error.h"

struct peft_regex {
    pcre2_code *code;
};

static void regex_free(peft_regex *re) {
    if (!re) return;
    pcre2_code_free(re->code);
    free(re);
}

static lorc_status regex_compile(const char *path, const char *field, const char *pattern, peft_regex **out,
                                 lorc_error *err) {
    int code;
    PCRE2_SIZE off;
    *out = NULL;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, 0, &code, &off, NULL);
    if (!c) {
        PCRE2_UCHAR msg[128];
        pcre2_get_error_message(code, msg, sizeof msg);
        return lorc_fail(err, LORC_ERR_FORMAT, "%s: %s: bad regular expression '%s': %s", path, field, pattern,
                         (const char *)msg);
    }
    peft_regex *re = malloc(sizeof *re);
    if (!re) {
        pcre2_code_free(c);
        return lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory", path);
    }
    re->code = c;
    *out = re;
    return LORC_OK;
}

/* Anchored at the start; `whole`: also at the end (Python's re.fullmatch). */
static bool regex_match(const peft_regex *re, const char *s, bool whole) {
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re->code, NULL);
    if (!md) return false;
    uint32_t opts = PCRE2_ANCHORED | (whole ? PCRE2_ENDANCHORED : 0);
    int rc = pcre2_match(re->code, (PCRE2_SPTR)s, strlen(s), 0, opts, md, NULL);
    pcre2_match_data_free(md);
    return rc >= 0;
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static void selector_free(peft_selector *s) {
    regex_free(s->re);
    for (size_t i = 0; i < s->n_names; i++) free(s->names[i]);
    free(s->names);
    memset(s, 0, sizeof *s);
}

void peft_config_free(peft_config *cfg) {
    if (!cfg) return;
    selector_free(&cfg->targets);
    selector_free(&cfg->excludes);
    for (size_t i = 0; i < cfg->n_rank_pattern; i++) {
        free(cfg->rank_pattern[i].key);
        regex_free(cfg->rank_pattern[i].re);
    }
    free(cfg->rank_pattern);
    for (size_t i = 0; i < cfg->n_alpha_pattern; i++) {
        free(cfg->alpha_pattern[i].key);
        regex_free(cfg->alpha_pattern[i].re);
    }
    free(cfg->alpha_pattern);
    for (size_t i = 0; i < cfg->n_modules_to_save; i++) free(cfg->modules_to_save[i]);
    free(cfg->modules_to_save);
    free(cfg->layers);
    free(cfg->path);
    memset(cfg, 0, sizeof *cfg);
}

/* A list of strings (or null/absent: n = 0). */
static lorc_status parse_str_list(const peft_config *cfg, const char *field, const json_t *v, char ***out, size_t *n,
                                  lorc_error *err) {
    *out = NULL;
    *n = 0;
    if (!v || json_is_null(v)) return LORC_OK;
    if (!json_is_array(v)) return lorc_fail(err, LORC_ERR_FORMAT, "%s: %s is not a list", cfg->path, field);
    size_t len = json_array_size(v);
    char **names = calloc(len ? len : 1, sizeof *names);
    if (!names) return lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory", cfg->path);
    for (size_t i = 0; i < len; i++) {
        const json_t *e = json_array_get(v, i);
        if (!json_is_string(e) || !(names[i] = dup_str(json_string_value(e)))) {
            for (size_t j = 0; j < i; j++) free(names[j]);
            free(names);
            return lorc_fail(err, json_is_string(e) ? LORC_ERR_NOMEM : LORC_ERR_FORMAT, "%s: %s[%zu] is not a string",
                             cfg->path, field, i);
        }
    }
    *out = names;
    *n = len;
    return LORC_OK;
}

static lorc_status parse_selector(const peft_config *cfg, const char *field, const json_t *v, peft_selector *s,
                                  lorc_error *err) {
    memset(s, 0, sizeof *s);
    if (!v || json_is_null(v)) return LORC_OK;
    s->present = true;
    if (json_is_string(v)) {
        const char *str = json_string_value(v);
        if (!strcmp(str, "all-linear")) {
            s->all_linear = true;
            return LORC_OK;
        }
        return regex_compile(cfg->path, field, str, &s->re, err);
    }
    return parse_str_list(cfg, field, v, &s->names, &s->n_names, err);
}

static lorc_status parse_patterns(const peft_config *cfg, const char *field, const json_t *v, bool integer,
                                  peft_pattern **out, size_t *n, lorc_error *err) {
    *out = NULL;
    *n = 0;
    if (!v || json_is_null(v)) return LORC_OK;
    if (!json_is_object(v)) return lorc_fail(err, LORC_ERR_FORMAT, "%s: %s is not an object", cfg->path, field);
    size_t len = json_object_size(v);
    peft_pattern *p = calloc(len ? len : 1, sizeof *p);
    if (!p) return lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory", cfg->path);
    *out = p;
    const char *key;
    json_t *val;
    /* jansson keeps objects in file order, which is the order PEFT tries the keys in. */
    json_object_foreach((json_t *)v, key, val) {
        bool ok = integer ? json_is_integer(val) && json_integer_value(val) > 0 && json_integer_value(val) <= 1000000
                          : json_is_number(val) && isfinite(json_number_value(val));
        if (!ok)
            return lorc_fail(err, LORC_ERR_FORMAT, "%s: %s['%s'] is not a %s", cfg->path, field, key,
                             integer ? "positive integer" : "number");
        peft_pattern *e = &p[(*n)++];
        e->value = json_number_value(val);
        if (!(e->key = dup_str(key))) return lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory", cfg->path);
        size_t plen = strlen(key) + 16;
        char *pat = malloc(plen);
        if (!pat) return lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory", cfg->path);
        snprintf(pat, plen, "(.*\\.)?(%s)$", key);
        lorc_status st = regex_compile(cfg->path, field, pat, &e->re, err);
        free(pat);
        if (st != LORC_OK) return st;
    }
    return LORC_OK;
}

/* A setting lorc does not implement must be absent, null, false, empty or `ok_str`. */
static lorc_status refuse_if_set(const peft_config *cfg, const json_t *root, const char *field, const char *ok_str,
                                 const char *what, lorc_error *err) {
    const json_t *v = json_object_get(root, field);
    if (!v || json_is_null(v) || json_is_false(v)) return LORC_OK;
    if ((json_is_array(v) && json_array_size(v) == 0) || (json_is_object(v) && json_object_size(v) == 0)) return LORC_OK;
    if (ok_str && json_is_string(v) && !strcmp(json_string_value(v), ok_str)) return LORC_OK;
    return lorc_fail(err, LORC_ERR_UNSUPPORTED, "%s: %s is set%s%s%s: %s is not supported", cfg->path, field,
                     json_is_string(v) ? " to '" : "", json_is_string(v) ? json_string_value(v) : "",
                     json_is_string(v) ? "'" : "", what);
}

static lorc_status parse_layers(peft_config *cfg, const json_t *v, lorc_error *err) {
    if (!v || json_is_null(v)) return LORC_OK;
    size_t len = json_is_array(v) ? json_array_size(v) : 1;
    cfg->layers = calloc(len ? len : 1, sizeof *cfg->layers);
    if (!cfg->layers) return lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory", cfg->path);
    cfg->has_layers = true;
    for (size_t i = 0; i < len; i++) {
        const json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
        if (!json_is_integer(e) || json_integer_value(e) < 0 || json_integer_value(e) > 1000000)
            return lorc_fail(err, LORC_ERR_FORMAT, "%s: layers_to_transform holds a non-layer value", cfg->path);
        cfg->layers[cfg->n_layers++] = (int)json_integer_value(e);
    }
    return LORC_OK;
}

static lorc_status parse_root(peft_config *cfg, const json_t *root, lorc_error *err) {
    if (!json_is_object(root)) return lorc_fail(err, LORC_ERR_FORMAT, "%s: not a JSON object", cfg->path);
    const json_t *v = json_object_get(root, "peft_type");
    if (v && !json_is_null(v) && (!json_is_string(v) || strcmp(json_string_value(v), "LORA")))
        return lorc_fail(err, LORC_ERR_UNSUPPORTED, "%s: peft_type is '%s', lorc reads LORA adapters only", cfg->path,
                         json_is_string(v) ? json_string_value(v) : "?");
    cfg->r = 8; /* PEFT's defaults */
    cfg->alpha = 8;
    if ((v = json_object_get(root, "r")) && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) <= 0 || json_integer_value(v) > 1000000)
            return lorc_fail(err, LORC_ERR_FORMAT, "%s: r is not a positive integer", cfg->path);
        cfg->r = (int)json_integer_value(v);
    }
    if ((v = json_object_get(root, "lora_alpha")) && !json_is_null(v)) {
        if (!json_is_number(v) || !isfinite(json_number_value(v)))
            return lorc_fail(err, LORC_ERR_FORMAT, "%s: lora_alpha is not a number", cfg->path);
        cfg->alpha = json_number_value(v);
    }
    static const char *const flags[] = {"use_rslora", "use_dora", "fan_in_fan_out"};
    bool *dst[] = {&cfg->use_rslora, &cfg->use_dora, &cfg->fan_in_fan_out};
    for (int i = 0; i < 3; i++) {
        v = json_object_get(root, flags[i]);
        if (!v || json_is_null(v)) continue;
        if (!json_is_boolean(v)) return lorc_fail(err, LORC_ERR_FORMAT, "%s: %s is not a boolean", cfg->path, flags[i]);
        *dst[i] = json_is_true(v);
    }
    lorc_status st;
    if ((st = refuse_if_set(cfg, root, "bias", "none", "training biases (only bias \"none\")", err)) ||
        (st = refuse_if_set(cfg, root, "lora_bias", NULL, "a LoRA bias on lora_B", err)) ||
        (st = refuse_if_set(cfg, root, "layer_replication", NULL, "layer replication", err)) ||
        (st = refuse_if_set(cfg, root, "use_qalora", NULL, "QALoRA", err)) ||
        (st = refuse_if_set(cfg, root, "alora_invocation_tokens", NULL, "activated LoRA", err)) ||
        (st = refuse_if_set(cfg, root, "trainable_token_indices", NULL, "trainable token indices", err)) ||
        (st = refuse_if_set(cfg, root, "target_parameters", NULL, "LoRA on parameters", err)))
        return st;
    if ((st = parse_selector(cfg, "target_modules", json_object_get(root, "target_modules"), &cfg->targets, err)) ||
        (st = parse_selector(cfg, "exclude_modules", json_object_get(root, "exclude_modules"), &cfg->excludes, err)) ||
        (st = parse_patterns(cfg, "rank_pattern", json_object_get(root, "rank_pattern"), true, &cfg->rank_pattern,
                             &cfg->n_rank_pattern, err)) ||
        (st = parse_patterns(cfg, "alpha_pattern", json_object_get(root, "alpha_pattern"), false, &cfg->alpha_pattern,
                             &cfg->n_alpha_pattern, err)) ||
        (st = parse_str_list(cfg, "modules_to_save", json_object_get(root, "modules_to_save"), &cfg->modules_to_save,
                             &cfg->n_modules_to_save, err)) ||
        (st = parse_layers(cfg, json_object_get(root, "layers_to_transform"), err)))
        return st;
    if (!cfg->targets.present) {
        /* PEFT fills a missing target_modules per model type; for llama and qwen2 it is q_proj, v_proj. */
        cfg->targets.present = true;
        cfg->targets.names = calloc(2, sizeof *cfg->targets.names);
        if (!cfg->targets.names) return lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory", cfg->path);
        cfg->targets.names[0] = dup_str("q_proj");
        cfg->targets.names[1] = dup_str("v_proj");
        cfg->targets.n_names = 2;
        if (!cfg->targets.names[0] || !cfg->targets.names[1])
            return lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory", cfg->path);
    }
    return LORC_OK;
}

lorc_status peft_config_load(const char *dir, peft_config *cfg, lorc_error *err) {
    memset(cfg, 0, sizeof *cfg);
    size_t n = strlen(dir) + sizeof "/adapter_config.json";
    if (!(cfg->path = malloc(n))) return lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory", dir);
    snprintf(cfg->path, n, "%s/adapter_config.json", dir);
    json_error_t jerr;
    json_t *root = json_load_file(cfg->path, JSON_REJECT_DUPLICATES, &jerr);
    lorc_status st;
    if (!root) {
        FILE *fp = fopen(cfg->path, "rb");
        if (!fp) {
            st = lorc_fail(err, LORC_ERR_IO, "%s: cannot open (not a PEFT adapter directory?)", cfg->path);
        } else {
            fclose(fp);
            st = lorc_fail(err, LORC_ERR_FORMAT, "%s: bad JSON at line %d: %s", cfg->path, jerr.line, jerr.text);
        }
    } else {
        st = parse_root(cfg, root, err);
        json_decref(root);
    }
    if (st != LORC_OK) peft_config_free(cfg);
    return st;
}

/* PEFT's list rule: the module is named exactly, or ends with ".name". */
static bool name_matches(const char *module, const char *name) {
    size_t n = strlen(module), m = strlen(name);
    if (n == m) return !strcmp(module, name);
    return n > m && module[n - m - 1] == '.' && !strcmp(module + n - m, name);
}

static bool selector_matches(const peft_selector *s, const char *module, bool linear, bool is_head) {
    if (s->all_linear) return linear && !is_head;
    if (s->re) return regex_match(s->re, module, true);
    for (size_t i = 0; i < s->n_names; i++)
        if (name_matches(module, s->names[i])) return true;
    return false;
}

bool peft_config_targets(const peft_config *cfg, const char *module, bool linear, bool is_head, int layer) {
    if (cfg->excludes.present && selector_matches(&cfg->excludes, module, linear, is_head)) return false;
    if (!selector_matches(&cfg->targets, module, linear, is_head)) return false;
    if (cfg->has_layers) {
        if (layer < 0) return false;
        for (size_t i = 0; i < cfg->n_layers; i++)
            if (cfg->layers[i] == layer) return true;
        return false;
    }
    return true;
}

bool peft_config_saves(const peft_config *cfg, const char *module) {
    for (size_t i = 0; i < cfg->n_modules_to_save; i++)
        if (name_matches(module, cfg->modules_to_save[i])) return true;
    return false;
}

static const peft_pattern *pattern_for(const peft_pattern *p, size_t n, const char *module) {
    for (size_t i = 0; i < n; i++)
        if (regex_match(p[i].re, module, false)) return &p[i];
    return NULL;
}

void peft_config_module(const peft_config *cfg, const char *module, int *r, double *alpha, double *scale) {
    const peft_pattern *pr = pattern_for(cfg->rank_pattern, cfg->n_rank_pattern, module);
    const peft_pattern *pa = pattern_for(cfg->alpha_pattern, cfg->n_alpha_pattern, module);
    *r = pr ? (int)pr->value : cfg->r;
    *alpha = pa ? pa->value : cfg->alpha;
    *scale = cfg->use_rslora ? *alpha / sqrt((double)*r) : *alpha / (double)*r;
}
