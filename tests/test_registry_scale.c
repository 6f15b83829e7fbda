/* test_registry_scale.c — what registering and churning cost:
 *  - 1000 registered entries cost only their records (name, path, a few
 *    fields; no file is opened: the paths do not even exist), measured by
 *    the registry's own count and, outside ASan, by the heap;
 *  - 1000 load/evict cycles (a budget that holds one adapter, two entries
 *    used in turn) keep the process's RSS and its mappings flat.
 * The figures are printed for the report. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapter/registry.h"
#include "testutil.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

#define N_ENTRIES 1000
#define N_CYCLES 1000

static long rss_kib(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &rss) != 2) rss = 0;
        fclose(f);
    }
    return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static int n_mappings(void) {
    FILE *f = fopen("/proc/self/maps", "r");
    int n = 0, c;
    if (!f) return -1;
    while ((c = fgetc(f)) != EOF) n += c == '\n';
    fclose(f);
    return n;
}

static lorc_entry_info info(lorc_registry *reg, const char *name) {
    lorc_entry_info in;
    lorc_error err = {0};
    CHECK_MSG(lorc_registry_info(reg, name, &in, &err) == LORC_OK, "%s", err.message);
    return in;
}

static void many_entries(lorc_model *m, lorc_context *ctx) {
    lorc_error err = {0};
    lorc_registry *reg = NULL;
    CHECK(lorc_registry_new(m, 0, &reg, &err) == LORC_OK);
    if (!reg) return;
    size_t empty = lorc_registry_table_bytes(reg), text = 0;
    struct mallinfo2 before = mallinfo2();
    for (int i = 0; i < N_ENTRIES; i++) {
        char name[32], path[96];
        snprintf(name, sizeof name, "adapter-%04d", i);
        if (i == 500)
            snprintf(path, sizeof path, "%s", test_shared("adapters/moon-qv/moon-qv.gguf"));
        else
            snprintf(path, sizeof path, "/nonexistent/lorc-registry-test/adapter-%04d.gguf", i);
        text += strlen(name) + strlen(path) + 2;
        CHECK(lorc_registry_add(reg, name, path, LORC_ENTRY_AUTO, &err) == LORC_OK);
    }
    struct mallinfo2 after = mallinfo2();
    size_t table = lorc_registry_table_bytes(reg) - empty;
    double per = (double)table / N_ENTRIES, text_per = (double)text / N_ENTRIES;
    long heap = (long)after.uordblks - (long)before.uordblks;
    printf("%d registered entries: %zu bytes of registry records (%.1f per entry, of which %.1f name + path)", N_ENTRIES,
           table, per, text_per);
    if (!UNDER_ASAN) printf("; heap grew %ld bytes (%.1f per entry)", heap, (double)heap / N_ENTRIES);
    printf("; resident adapter bytes %zu\n", lorc_registry_resident_bytes(reg));
    /* a record of a few pointers and counters, plus the text, plus its bucket */
    CHECK_MSG(per <= text_per + 176.0, "%.1f bytes per entry", per);
    if (!UNDER_ASAN) CHECK_MSG(heap > 0 && (double)heap / N_ENTRIES <= text_per + 240.0, "heap grew %ld", heap);
    CHECK(lorc_registry_count(reg) == N_ENTRIES && lorc_registry_resident_bytes(reg) == 0);
    /* nothing was opened: every entry is COLD, even those whose path does not exist */
    int cold = 0;
    for (int i = 0; i < N_ENTRIES; i++) {
        char name[32];
        snprintf(name, sizeof name, "adapter-%04d", i);
        lorc_entry_info in = info(reg, name);
        cold += in.state == LORC_ENTRY_COLD && in.bytes == 0 && in.loads == 0;
    }
    CHECK(cold == N_ENTRIES);
    /* Using one loads that one only. */
    lorc_sequence *seq = NULL;
    CHECK(lorc_sequence_new(ctx, &seq, &err) == LORC_OK);
    lorc_adapter_use u = {"adapter-0500", 1.0f};
    CHECK_MSG(lorc_sequence_use(seq, reg, &u, 1, NULL, &err) == LORC_OK, "%s", err.message);
    CHECK(lorc_registry_resident_bytes(reg) == info(reg, "adapter-0500").bytes);
    CHECK(info(reg, "adapter-0499").state == LORC_ENTRY_COLD && info(reg, "adapter-0501").state == LORC_ENTRY_COLD);
    u.name = "adapter-0007";
    CHECK(lorc_sequence_use(seq, reg, &u, 1, NULL, &err) == LORC_ERR_IO && strstr(err.message, "adapter-0007.gguf"));
    lorc_sequence_free(seq);
    lorc_registry_free(reg);
}

static void churn(lorc_model *m, lorc_context *ctx) {
    lorc_error err = {0};
    const char *moon = test_shared("adapters/moon-qv/moon-qv.gguf");
    /* The adapter's size as counted, then a budget that holds exactly one. */
    lorc_registry *reg = NULL;
    CHECK(lorc_registry_new(m, 0, &reg, &err) == LORC_OK);
    CHECK(lorc_registry_add(reg, "a", moon, LORC_ENTRY_LORA, &err) == LORC_OK);
    lorc_sequence *seq = NULL;
    CHECK(lorc_sequence_new(ctx, &seq, &err) == LORC_OK);
    lorc_adapter_use a = {"a", 1.0f}, b = {"b", 1.0f};
    CHECK(lorc_sequence_use(seq, reg, &a, 1, NULL, &err) == LORC_OK);
    size_t one = info(reg, "a").bytes;
    CHECK(lorc_sequence_use(seq, reg, NULL, 0, NULL, &err) == LORC_OK);
    lorc_registry_free(reg);
    CHECK(lorc_registry_new(m, one + one / 2, &reg, &err) == LORC_OK);
    CHECK(lorc_registry_add(reg, "a", moon, LORC_ENTRY_LORA, &err) == LORC_OK);
    CHECK(lorc_registry_add(reg, "b", moon, LORC_ENTRY_LORA, &err) == LORC_OK);

    float *logits = malloc((size_t)lorc_model_n_vocab(m) * sizeof *logits);
    int32_t tok = 1;
    long rss0 = 0, maps0 = 0;
    int failures = 0;
    size_t max_resident = 0;
    const int warmup = 50;
    for (int c = 0; c < warmup + N_CYCLES; c++) {
        if (c == warmup) {
            rss0 = rss_kib();
            maps0 = n_mappings();
        }
        lorc_adapter_use *u = c % 2 ? &b : &a;
        failures += lorc_sequence_use(seq, reg, u, 1, NULL, &err) != LORC_OK;
        lorc_sequence_reset(seq);
        failures += lorc_decode(ctx, seq, &tok, 1, false, logits, &err) != LORC_OK;
        if (lorc_registry_resident_bytes(reg) > max_resident) max_resident = lorc_registry_resident_bytes(reg);
        failures += lorc_sequence_use(seq, reg, NULL, 0, NULL, &err) != LORC_OK;
    }
    long rss1 = rss_kib(), maps1 = n_mappings();
    int loads = info(reg, "a").loads + info(reg, "b").loads;
    printf("%d load/evict cycles (after %d warm-up): RSS %ld KiB -> %ld KiB (%+ld KiB), mappings %ld -> %ld, "
           "%d loads, max resident %zu of budget %zu%s\n",
           N_CYCLES, warmup, rss0, rss1, rss1 - rss0, maps0, maps1, loads, max_resident, lorc_registry_budget(reg),
           UNDER_ASAN ? " (ASan: freed memory is quarantined, RSS not checked)" : "");
    CHECK_MSG(failures == 0, "%d failed calls; last: %s", failures, err.message);
    CHECK_MSG(loads == warmup + N_CYCLES, "%d loads", loads);
    CHECK(max_resident <= lorc_registry_budget(reg));
    CHECK_MSG(maps1 - maps0 <= 2, "mappings grew from %ld to %ld", maps0, maps1);
    if (!UNDER_ASAN) CHECK_MSG(rss1 - rss0 <= 1024, "RSS grew by %ld KiB", rss1 - rss0);
    free(logits);
    lorc_sequence_free(seq);
    lorc_registry_free(reg);
}

int main(void) {
    lorc_model *m = NULL;
    lorc_context *ctx = NULL;
    lorc_error err = {0};
    lorc_context_params cp = lorc_context_default_params();
    cp.n_threads = 1;
    CHECK_MSG(lorc_model_load(test_shared("models/stories260K.gguf"), &m, &err) == LORC_OK, "%s", err.message);
    if (m && lorc_context_new(m, &cp, &ctx, &err) == LORC_OK) {
        many_entries(m, ctx);
        churn(m, ctx);
    }
    lorc_context_free(ctx);
    lorc_model_free(m);
    return test_finish("test_registry_scale");
}
