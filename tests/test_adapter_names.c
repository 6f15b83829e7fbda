/* test_adapter_names.c — PEFT naming rules: HF module paths to GGUF names,
 * tensor key suffixes, and adapter_config.json's module selection as PEFT
 * applies it (target_modules list/regex/all-linear, exclude_modules,
 * layers_to_transform, rank/alpha patterns: first key in file order whose
 * "(.*\.)?(KEY)$" matches). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "adapter/peft_config.h"
#include "adapter/peft_names.h"
#include "testutil.h"

static void names(void) {
    peft_module m;
    CHECK(peft_module_map("model.layers.12.self_attn.q_proj", &m) && !strcmp(m.gguf, "blk.12.attn_q") &&
          m.layer == 12 && m.perm == PEFT_PERM_Q && m.linear);
    CHECK(peft_module_map("model.layers.0.self_attn.k_proj", &m) && m.perm == PEFT_PERM_K);
    CHECK(peft_module_map("model.layers.3.self_attn.o_proj", &m) && !strcmp(m.gguf, "blk.3.attn_output") &&
          m.perm == PEFT_PERM_NONE);
    CHECK(peft_module_map("model.layers.3.mlp.down_proj", &m) && !strcmp(m.gguf, "blk.3.ffn_down"));
    CHECK(peft_module_map("layers.3.mlp.gate_proj", &m) && !strcmp(m.gguf, "blk.3.ffn_gate")); /* bare decoder */
    CHECK(peft_module_map("lm_head", &m) && !strcmp(m.gguf, "output") && m.linear && m.layer == -1);
    CHECK(peft_module_map("model.embed_tokens", &m) && !strcmp(m.gguf, "token_embd") && m.embedding && !m.linear);
    CHECK(peft_module_map("model.norm", &m) && !strcmp(m.gguf, "output_norm") && !m.linear);
    CHECK(peft_module_map("model.layers.1.input_layernorm", &m) && !strcmp(m.gguf, "blk.1.attn_norm"));
    CHECK(!peft_module_map("model.layers.01.self_attn.q_proj", &m));
    CHECK(!peft_module_map("model.layers.x.self_attn.q_proj", &m));
    CHECK(!peft_module_map("model.layers.1.self_attn.qkv_proj", &m));
    CHECK(!peft_module_map("transformer.h.0.attn.c_attn", &m));

    char mod[128];
    peft_kind k;
    CHECK(peft_split_key("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", mod, sizeof mod, &k) &&
          k == PEFT_LORA_A && !strcmp(mod, "model.layers.0.self_attn.q_proj"));
    CHECK(peft_split_key("base_model.model.lm_head.lora_B.weight", mod, sizeof mod, &k) && k == PEFT_LORA_B);
    CHECK(peft_split_key("base_model.model.model.embed_tokens.lora_embedding_A", mod, sizeof mod, &k) &&
          k == PEFT_EMBED_A && !strcmp(mod, "model.embed_tokens"));
    CHECK(peft_split_key("base_model.model.x.q_proj.lora_magnitude_vector", mod, sizeof mod, &k) && k == PEFT_MAGNITUDE);
    CHECK(peft_split_key("base_model.model.x.q_proj.lora_magnitude_vector.weight", mod, sizeof mod, &k) &&
          k == PEFT_MAGNITUDE && !strcmp(mod, "x.q_proj"));
    CHECK(peft_split_key("base_model.model.lm_head.weight", mod, sizeof mod, &k) && k == PEFT_FULL_WEIGHT &&
          !strcmp(mod, "lm_head"));
    CHECK(peft_split_key("base_model.model.lm_head.modules_to_save.default.weight", mod, sizeof mod, &k) &&
          k == PEFT_FULL_WEIGHT && !strcmp(mod, "lm_head"));
    CHECK(!peft_split_key("model.lm_head.weight", mod, sizeof mod, &k));
    CHECK(!peft_split_key("base_model.model.lm_head", mod, sizeof mod, &k));
    CHECK(!peft_split_key("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", mod, 8, &k));
}

static bool load(const char *json, peft_config *cfg) {
    const char *dir = test_tmp("names_cfg");
    mkdir(dir, 0755);
    char path[1024];
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    FILE *fp = fopen(path, "wb");
    fputs(json, fp);
    fclose(fp);
    lorc_error err = {0};
    lorc_status st = peft_config_load(dir, cfg, &err);
    CHECK_MSG(st == LORC_OK, "%s: %s", json, err.message);
    return st == LORC_OK;
}

static const char Q0[] = "model.layers.0.self_attn.q_proj", Q1[] = "model.layers.1.self_attn.q_proj",
                  V1[] = "model.layers.1.self_attn.v_proj", D0[] = "model.layers.0.mlp.down_proj";

static void selection(void) {
    peft_config c;
    int r;
    double alpha, scale;
    if (load("{\"r\": 16, \"lora_alpha\": 32, \"target_modules\": [\"q_proj\", \"layers.1.self_attn.v_proj\"]}", &c)) {
        CHECK(peft_config_targets(&c, Q0, true, false, 0) && peft_config_targets(&c, V1, true, false, 1));
        CHECK(!peft_config_targets(&c, "model.layers.0.self_attn.v_proj", true, false, 0));
        CHECK(!peft_config_targets(&c, "model.layers.0.self_attn.xq_proj", true, false, 0)); /* "." boundary */
        peft_config_module(&c, Q0, &r, &alpha, &scale);
        CHECK(r == 16 && alpha == 32 && scale == 2.0);
        peft_config_free(&c);
    }
    if (load("{\"r\": 4, \"lora_alpha\": 8, \"use_rslora\": true, \"target_modules\": \"all-linear\","
             " \"exclude_modules\": [\"down_proj\"], \"layers_to_transform\": [1]}", &c)) {
        CHECK(peft_config_targets(&c, Q1, true, false, 1));
        CHECK(!peft_config_targets(&c, Q0, true, false, 0));                                 /* layer 0 not listed */
        CHECK(!peft_config_targets(&c, "model.layers.1.mlp.down_proj", true, false, 1));     /* excluded */
        CHECK(!peft_config_targets(&c, "lm_head", true, true, -1));                          /* all-linear skips the head */
        CHECK(!peft_config_targets(&c, "model.layers.1.input_layernorm", false, false, 1)); /* not linear */
        peft_config_module(&c, Q1, &r, &alpha, &scale);
        CHECK(r == 4 && scale == 4.0); /* 8 / sqrt(4) */
        peft_config_free(&c);
    }
    if (load("{\"r\": 8, \"lora_alpha\": 8, \"target_modules\": \".*\\\\.(q|v)_proj\","
             " \"rank_pattern\": {\"^model\\\\.layers\\\\.0\\\\..*\": 2, \"v_proj\": 4},"
             " \"alpha_pattern\": {\"self_attn.v_proj\": 3, \"model.layers.1.self_attn.q_proj\": 5}}", &c)) {
        CHECK(peft_config_targets(&c, Q0, true, false, 0) && peft_config_targets(&c, V1, true, false, 1));
        CHECK(!peft_config_targets(&c, D0, true, false, 0));
        CHECK(!peft_config_targets(&c, "q_proj.extra", true, false, -1)); /* the regex must match the whole name */
        peft_config_module(&c, Q0, &r, &alpha, &scale);
        CHECK(r == 2 && alpha == 8);           /* the regex key, first in order */
        peft_config_module(&c, V1, &r, &alpha, &scale);
        CHECK(r == 4 && alpha == 3 && fabs(scale - 0.75) < 1e-12);
        peft_config_module(&c, Q1, &r, &alpha, &scale);
        CHECK(r == 8 && alpha == 5);           /* the full name matches too */
        peft_config_free(&c);
    }
    /* No target_modules: PEFT's default for llama/qwen2 (q_proj, v_proj). */
    if (load("{\"r\": 8}", &c)) {
        CHECK(peft_config_targets(&c, Q0, true, false, 0) && !peft_config_targets(&c, D0, true, false, 0));
        peft_config_module(&c, Q0, &r, &alpha, &scale);
        CHECK(r == 8 && alpha == 8 && scale == 1.0);
        peft_config_free(&c);
    }
    if (load("{\"target_modules\": [\"q_proj\"], \"modules_to_save\": [\"lm_head\", \"embed_tokens\"]}", &c)) {
        CHECK(peft_config_saves(&c, "lm_head") && peft_config_saves(&c, "model.embed_tokens"));
        CHECK(!peft_config_saves(&c, "model.norm"));
        peft_config_free(&c);
    }
}

int main(void) {
    names();
    selection();
    return test_finish("test_adapter_names");
}
