/* sequence_use.c — lorc_sequence_use: a sequence's adapters and overlay by
 * registry name. The entries are acquired first (a cold one is loaded by
 * the registry's thread while this caller waits), then attached; the
 * references the sequence held before are released only once the new
 * state is in place, so a failure anywhere leaves the sequence as it was
 * and nothing it computes with is ever evicted. */
#include <math.h>
#include <stdlib.h>

#include "../base/error.h"
#include "context.h"

lorc_status lorc_sequence_use(lorc_sequence *seq, lorc_registry *reg, const lorc_adapter_use *adapters, int n,
                              const char *overlay, lorc_error *err) {
    if (!seq) return lorc_fail(err, LORC_ERR_INVALID, "lorc_sequence_use: no sequence");
    if (n < 0 || (n > 0 && !adapters))
        return lorc_fail(err, LORC_ERR_INVALID, "lorc_sequence_use: bad adapter list (n = %d)", n);
    if (!reg && (n > 0 || overlay))
        return lorc_fail(err, LORC_ERR_INVALID, "lorc_sequence_use: adapters or an overlay by name need a registry");
    for (int i = 0; i < n; i++) {
        if (!adapters[i].name)
            return lorc_fail(err, LORC_ERR_INVALID, "lorc_sequence_use: adapter %d has no name", i);
        if (!isfinite(adapters[i].scale))
            return lorc_fail(err, LORC_ERR_INVALID, "adapter '%s': scale %g is not finite", adapters[i].name,
                             (double)adapters[i].scale);
    }
    int n_entries = n + (overlay != NULL);
    lorc_registry_hold held = {0};
    lorc_adapter **ads = calloc(n > 0 ? (size_t)n : 1, sizeof *ads);
    float *scales = calloc(n > 0 ? (size_t)n : 1, sizeof *scales);
    held.entries = calloc(n_entries > 0 ? (size_t)n_entries : 1, sizeof *held.entries);
    lorc_status st = LORC_OK;
    if (!ads || !scales || !held.entries) st = lorc_fail(err, LORC_ERR_NOMEM, "lorc_sequence_use: out of memory");
    for (int i = 0; i < n && st == LORC_OK; i++) {
        st = lorc_registry_acquire(reg, adapters[i].name, LORC_ENTRY_LORA, true, &held.entries[held.n], err);
        if (st != LORC_OK) break;
        ads[i] = lorc_registry_entry_adapter(held.entries[held.n++]);
        scales[i] = adapters[i].scale;
    }
    lorc_overlay *ov = NULL;
    if (st == LORC_OK && overlay) {
        st = lorc_registry_acquire(reg, overlay, LORC_ENTRY_OVERLAY, true, &held.entries[held.n], err);
        if (st == LORC_OK) ov = lorc_registry_entry_overlay(held.entries[held.n++]);
    }
    /* Adapters and overlay change together: the set is built aside and
     * replaces the old one only on success. */
    if (st == LORC_OK) st = lorc_adapter_set_build(&seq->adapters, seq->ctx->model, ov, ads, scales, n, err);
    if (st == LORC_OK) {
        seq->overlay = ov;
        lorc_registry_hold old = seq->held;
        seq->held = held;
        held = old; /* released below, after the new set replaced the old one */
    }
    lorc_registry_hold_release(&held);
    free(ads);
    free(scales);
    return st;
}
