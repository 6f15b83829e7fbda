/* test_registry_lru.c — eviction order, with eight small synthetic
 * adapters of one size (tools/synth_lora.c) on stories260K and a budget
 * that holds three: the least recently used entry that is neither pinned
 * nor referenced goes first, a used entry moves to the back, a pinned one
 * stays, an evicted one is reloaded on its next use (loads counts it), and
 * the resident bytes never pass the budget. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "synth_adapter.h"
#include "tensor/types.h"
#include "testutil.h"

#define N 8

static lorc_entry_info info(lorc_registry *reg, int i) {
    char name[16];
    snprintf(name, sizeof name, "a%d", i);
    lorc_entry_info in;
    lorc_error err = {0};
    CHECK_MSG(lorc_registry_info(reg, name, &in, &err) == LORC_OK, "%s", err.message);
    return in;
}

static lorc_status use(lorc_sequence *seq, lorc_registry *reg, int i, lorc_error *err) {
    char name[16];
    snprintf(name, sizeof name, "a%d", i);
    lorc_adapter_use u = {name, 1.0f};
    return lorc_sequence_use(seq, reg, &u, 1, NULL, err);
}

/* Which of a0..a7 are READY, as a bit mask. */
static unsigned ready(lorc_registry *reg) {
    unsigned m = 0;
    for (int i = 0; i < N; i++) m |= (unsigned)(info(reg, i).state == LORC_ENTRY_READY) << i;
    return m;
}

int main(void) {
    lorc_model *m = NULL;
    lorc_error err = {0};
    CHECK_MSG(lorc_model_load(test_shared("models/stories260K.gguf"), &m, &err) == LORC_OK, "%s", err.message);
    if (!m) return test_finish("test_registry_lru");
    const synth_params p = synth_params_of_model(m);
    char paths[N][1024];
    for (int i = 0; i < N; i++) {
        char file[32];
        snprintf(file, sizeof file, "registry_lru_%d.gguf", i);
        snprintf(paths[i], sizeof paths[i], "%s", test_tmp(file));
        CHECK_MSG(synth_write_small_adapter(paths[i], &p, (uint64_t)i + 1, &err) == LORC_OK, "%s", err.message);
    }
    lorc_context_params cp = lorc_context_default_params();
    cp.n_threads = 1;
    lorc_context *ctx = NULL;
    lorc_sequence *seq = NULL;
    CHECK(lorc_context_new(m, &cp, &ctx, &err) == LORC_OK && lorc_sequence_new(ctx, &seq, &err) == LORC_OK);

    /* One entry's size, then a budget for three and a half. */
    lorc_registry *reg = NULL;
    CHECK(lorc_registry_new(m, 0, &reg, &err) == LORC_OK);
    CHECK(lorc_registry_add(reg, "a0", paths[0], LORC_ENTRY_AUTO, &err) == LORC_OK);
    CHECK(use(seq, reg, 0, &err) == LORC_OK);
    size_t one = info(reg, 0).bytes;
    CHECK(lorc_sequence_use(seq, reg, NULL, 0, NULL, &err) == LORC_OK);
    lorc_registry_free(reg);
    size_t budget = 3 * one + one / 2;
    CHECK(lorc_registry_new(m, budget, &reg, &err) == LORC_OK);
    for (int i = 0; i < N; i++) {
        char name[16];
        snprintf(name, sizeof name, "a%d", i);
        CHECK(lorc_registry_add(reg, name, paths[i], LORC_ENTRY_AUTO, &err) == LORC_OK);
    }
    size_t max_resident = 0;
    int uses = 0;
#define STEP(i)                                                                           \
    do {                                                                                  \
        uses++;                                                                           \
        CHECK_MSG(use(seq, reg, (i), &err) == LORC_OK, "a%d: %s", (i), err.message);      \
        size_t r_ = lorc_registry_resident_bytes(reg);                                    \
        if (r_ > max_resident) max_resident = r_;                                         \
    } while (0)
    STEP(0);
    STEP(1);
    STEP(2);
    CHECK(ready(reg) == 0x07);
    STEP(0); /* a0 becomes the most recent: LRU order a1, a2, a0 */
    CHECK(info(reg, 0).loads == 1 && info(reg, 0).last_use > info(reg, 2).last_use);
    STEP(3); /* evicts a1 */
    CHECK_MSG(ready(reg) == 0x0d, "ready mask %#x, expected a0 a2 a3", ready(reg));
    CHECK(info(reg, 1).state == LORC_ENTRY_COLD && info(reg, 1).bytes == 0);
    CHECK(lorc_registry_pin(reg, "a2", true, &err) == LORC_OK);
    STEP(4); /* LRU order a2 (pinned), a0, a3 (in use): evicts a0 */
    CHECK_MSG(ready(reg) == 0x1c, "ready mask %#x, expected a2 a3 a4", ready(reg));
    STEP(5); /* a2 pinned, a3 unused now, a4 in use: evicts a3 */
    CHECK_MSG(ready(reg) == 0x34, "ready mask %#x, expected a2 a4 a5", ready(reg));
    STEP(1); /* reloaded: evicts a4 */
    CHECK_MSG(ready(reg) == 0x26, "ready mask %#x, expected a1 a2 a5", ready(reg));
    CHECK(info(reg, 1).loads == 2 && info(reg, 0).loads == 1 && info(reg, 2).loads == 1);
    CHECK(lorc_registry_pin(reg, "a2", false, &err) == LORC_OK);
    STEP(6); /* a2 is now the least recent unpinned: evicted */
    CHECK_MSG(ready(reg) == 0x62, "ready mask %#x, expected a1 a5 a6", ready(reg));
    /* A full cycle: LRU order a5, a1, a6, so a0 evicts a5 and a1 is still
     * resident when its turn comes; the other seven load. */
    for (int i = 0; i < N; i++) STEP(i);
    int loads = 0;
    for (int i = 0; i < N; i++) loads += info(reg, i).loads;
    printf("%d loads over %d uses of %d entries, budget %zu (%zu each), max resident %zu\n", loads, uses, N, budget, one,
           max_resident);
    CHECK(max_resident <= budget && max_resident >= 3 * one);
    CHECK_MSG(loads == 8 + 7, "%d loads", loads);
    CHECK(info(reg, 1).loads == 2);
    lorc_sequence_free(seq);
    lorc_registry_free(reg);
    lorc_context_free(ctx);
    lorc_model_free(m);
    return test_finish("test_registry_lru");
}
