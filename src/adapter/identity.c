/* identity.c — content identities (identity.h). xxh3 streams over the
 * tensors' bytes: an adapter of a few MiB hashes in well under a
 * millisecond, and only at load. */
#include "identity.h"

#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack: no allocation, no failure path */
#include <xxhash.h>

/* Shape, type and bytes of one tensor (absent tensors add a marker, so a
 * slot with only A never hashes like a slot with only B). */
static void hash_tensor(XXH3_state_t *h, const lorc_tensor *t, bool present) {
    const uint8_t mark = present ? 1 : 0;
    XXH3_64bits_update(h, &mark, 1);
    if (!present) return;
    XXH3_64bits_update(h, &t->type, sizeof t->type);
    XXH3_64bits_update(h, t->ne, sizeof t->ne);
    if (t->data && t->nbytes) XXH3_64bits_update(h, t->data, t->nbytes);
}

uint64_t lorc_adapter_identity_compute(const lorc_adapter *ad) {
    XXH3_state_t h;
    XXH3_64bits_reset_withSeed(&h, 0x6c6f72632d6c6f72ull); /* "lorc-lor" */
    for (int i = 0; i < ad->n_slots; i++) {
        const lorc_adapter_weight *w = &ad->slots[i];
        if (!w->has_lora && !w->has_replace && !w->dora) continue;
        XXH3_64bits_update(&h, &i, sizeof i);
        const uint8_t flags = (uint8_t)((w->has_lora ? 1 : 0) | (w->has_replace ? 2 : 0) | (w->dora ? 4 : 0));
        XXH3_64bits_update(&h, &flags, 1);
        uint32_t scale_bits;
        memcpy(&scale_bits, &w->scale, sizeof scale_bits);
        XXH3_64bits_update(&h, &scale_bits, sizeof scale_bits);
        hash_tensor(&h, &w->a, w->has_lora || w->dora);
        hash_tensor(&h, &w->b, w->has_lora || w->dora);
        hash_tensor(&h, &w->replace, w->has_replace);
        hash_tensor(&h, &w->magnitude, w->dora);
    }
    return XXH3_64bits_digest(&h);
}

uint64_t lorc_overlay_identity_compute(const lorc_overlay *ov) {
    XXH3_state_t h;
    XXH3_64bits_reset_withSeed(&h, 0x6c6f72632d6f766cull); /* "lorc-ovl" */
    for (int i = 0; i < ov->n_swaps; i++) {
        XXH3_64bits_update(&h, &ov->swaps[i].slot, sizeof ov->swaps[i].slot);
        hash_tensor(&h, ov->swaps[i].tensor, true);
    }
    return XXH3_64bits_digest(&h);
}
