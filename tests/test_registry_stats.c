/* test_registry_stats.c — lorc_registry_get_stats on stories260K with
 * three small synthetic adapters of one size and a budget that holds only
 * one: every switch evicts the other, so loads and evictions are counted
 * exactly; a missing file counts as a load failure; removing a resident
 * entry is not an eviction; without a budget nothing is ever evicted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "synth_adapter.h"
#include "tensor/types.h"
#include "testutil.h"

#define N 3

static lorc_status use(lorc_sequence *seq, lorc_registry *reg, const char *name, lorc_error *err) {
    lorc_adapter_use u = {name, 1.0f};
    return lorc_sequence_use(seq, reg, &u, name ? 1 : 0, NULL, err);
}

static lorc_registry_stats stats(lorc_registry *reg) {
    lorc_registry_stats st;
    lorc_registry_get_stats(reg, &st);
    return st;
}

/* Registers a0..a2 (and "missing", a path that does not exist). */
static lorc_registry *make(lorc_model *m, size_t budget, char paths[N][1024]) {
    lorc_registry *reg = NULL;
    lorc_error err = {0};
    CHECK_MSG(lorc_registry_new(m, budget, &reg, &err) == LORC_OK, "%s", err.message);
    if (!reg) return NULL;
    for (int i = 0; i < N; i++) {
        char name[8];
        snprintf(name, sizeof name, "a%d", i);
        CHECK(lorc_registry_add(reg, name, paths[i], LORC_ENTRY_AUTO, &err) == LORC_OK);
    }
    CHECK(lorc_registry_add(reg, "missing", test_tmp("registry_stats_missing.gguf"), LORC_ENTRY_AUTO, &err) ==
          LORC_OK);
    return reg;
}

int main(void) {
    lorc_model *m = NULL;
    lorc_error err = {0};
    CHECK_MSG(lorc_model_load(test_shared("models/stories260K.gguf"), &m, &err) == LORC_OK, "%s", err.message);
    if (!m) return test_finish("test_registry_stats");
    const synth_params p = synth_params_of_model(m);
    char paths[N][1024];
    for (int i = 0; i < N; i++) {
        char file[40];
        snprintf(file, sizeof file, "registry_stats_%d.gguf", i);
        snprintf(paths[i], sizeof paths[i], "%s", test_tmp(file));
        CHECK_MSG(synth_write_small_adapter(paths[i], &p, (uint64_t)i + 7, &err) == LORC_OK, "%s", err.message);
    }
    lorc_context_params cp = lorc_context_default_params();
    cp.n_threads = 1;
    lorc_context *ctx = NULL;
    lorc_sequence *seq = NULL;
    CHECK(lorc_context_new(m, &cp, &ctx, &err) == LORC_OK && lorc_sequence_new(ctx, &seq, &err) == LORC_OK);

    /* No budget: three loads, no eviction; the sizes give the budget below. */
    lorc_registry *reg = make(m, 0, paths);
    lorc_registry_stats st = stats(reg);
    CHECK(st.registered == N + 1 && st.resident == 0 && st.loading == 0 && st.loads == 0 && st.evictions == 0 &&
          st.resident_bytes == 0 && st.budget_bytes == 0);
    for (int i = 0; i < N; i++) {
        char name[8];
        snprintf(name, sizeof name, "a%d", i);
        CHECK_MSG(use(seq, reg, name, &err) == LORC_OK, "%s: %s", name, err.message);
    }
    CHECK(use(seq, reg, NULL, &err) == LORC_OK);
    st = stats(reg);
    CHECK_MSG(st.loads == N && st.evictions == 0 && st.resident == N && st.load_failures == 0,
              "loads %llu evictions %llu resident %d", (unsigned long long)st.loads, (unsigned long long)st.evictions,
              st.resident);
    size_t one = st.resident_bytes / N;
    CHECK(one > 0 && st.resident_bytes == lorc_registry_resident_bytes(reg));
    /* Removing a resident entry frees it but evicts nothing. */
    CHECK(lorc_registry_remove(reg, "a2", &err) == LORC_OK);
    st = stats(reg);
    CHECK(st.registered == N && st.resident == N - 1 && st.evictions == 0 && st.resident_bytes == (N - 1) * one);
    lorc_registry_free(reg);

    /* Room for one and a half: a0, a1, a0, a2 is four loads and three
     * evictions (each load pushes out the one before it). */
    size_t budget = one + one / 2;
    reg = make(m, budget, paths);
    const char *order[] = {"a0", "a1", "a0", "a2"};
    for (int k = 0; k < 4; k++) {
        /* The sequence lets go of the last one first: an entry in use is never evicted. */
        CHECK(use(seq, reg, NULL, &err) == LORC_OK);
        CHECK_MSG(use(seq, reg, order[k], &err) == LORC_OK, "%s: %s", order[k], err.message);
        st = stats(reg);
        CHECK_MSG(st.loads == (uint64_t)k + 1 && st.evictions == (uint64_t)k && st.resident == 1,
                  "after %s: loads %llu evictions %llu resident %d", order[k], (unsigned long long)st.loads,
                  (unsigned long long)st.evictions, st.resident);
        CHECK(st.resident_bytes <= budget && st.budget_bytes == budget);
    }
    /* A load that fails counts once (an unreadable file is estimated at 0
     * bytes, so no room is made for it and nothing is evicted). */
    CHECK(use(seq, reg, NULL, &err) == LORC_OK);
    CHECK(use(seq, reg, "missing", &err) != LORC_OK);
    st = stats(reg);
    CHECK_MSG(st.load_failures == 1 && st.loads == 4 && st.evictions == 3 && st.resident == 1, "failures %llu loads %llu evictions %llu",
              (unsigned long long)st.load_failures, (unsigned long long)st.loads, (unsigned long long)st.evictions);
    printf("budget %zu (%zu per adapter): %llu loads, %llu evictions, %llu failures\n", budget, one,
           (unsigned long long)st.loads, (unsigned long long)st.evictions, (unsigned long long)st.load_failures);
    lorc_registry_get_stats(NULL, &st);
    CHECK(st.registered == 0 && st.loads == 0);
    lorc_sequence_free(seq);
    lorc_registry_free(reg);
    lorc_context_free(ctx);
    lorc_model_free(m);
    return test_finish("test_registry_stats");
}
