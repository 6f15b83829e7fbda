/* slots.c — the GGUF names of the weight slots ("token_embd.weight",
 * "blk.3.attn_q.weight", ...) in both directions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

static const char *const global_names[GW_COUNT] = {
    [GW_TOKEN_EMBD] = "token_embd.weight",
    [GW_OUTPUT_NORM] = "output_norm.weight",
    [GW_OUTPUT] = "output.weight",
    [GW_ROPE_FREQS] = "rope_freqs.weight",
};

static const char *const layer_names[LW_COUNT] = {
    [LW_ATTN_NORM] = "attn_norm.weight", [LW_ATTN_Q] = "attn_q.weight",
    [LW_ATTN_K] = "attn_k.weight",       [LW_ATTN_V] = "attn_v.weight",
    [LW_ATTN_Q_BIAS] = "attn_q.bias",    [LW_ATTN_K_BIAS] = "attn_k.bias",
    [LW_ATTN_V_BIAS] = "attn_v.bias",    [LW_ATTN_OUT] = "attn_output.weight",
    [LW_FFN_NORM] = "ffn_norm.weight",   [LW_FFN_GATE] = "ffn_gate.weight",
    [LW_FFN_UP] = "ffn_up.weight",       [LW_FFN_DOWN] = "ffn_down.weight",
};

int lorc_model_slot_of_name(const struct lorc_model *m, const char *name) {
    for (int g = 0; g < GW_COUNT; g++)
        if (strcmp(name, global_names[g]) == 0) return lorc_slot_global((lorc_global_weight)g);
    if (strncmp(name, "blk.", 4) != 0) return -1;
    const char *p = name + 4;
    if (*p < '0' || *p > '9') return -1;
    if (*p == '0' && p[1] != '.') return -1; /* no leading zeros: one spelling per slot */
    long layer = 0;
    while (*p >= '0' && *p <= '9') {
        layer = layer * 10 + (*p - '0');
        if (layer >= m->hp.n_layer) return -1;
        p++;
    }
    if (*p != '.') return -1;
    p++;
    for (int w = 0; w < LW_COUNT; w++)
        if (strcmp(p, layer_names[w]) == 0) return lorc_slot_layer((int)layer, (lorc_layer_weight)w);
    return -1;
}

const char *lorc_model_slot_name(const struct lorc_model *m, int slot, char *buf, size_t cap) {
    if (cap == 0) return buf;
    if (slot < 0 || slot >= m->n_slots) {
        snprintf(buf, cap, "slot#%d", slot);
    } else if (slot < GW_COUNT) {
        snprintf(buf, cap, "%s", global_names[slot]);
    } else {
        int s = slot - GW_COUNT;
        snprintf(buf, cap, "blk.%d.%s", s / LW_COUNT, layer_names[s % LW_COUNT]);
    }
    return buf;
}
