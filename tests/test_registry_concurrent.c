/* test_registry_concurrent.c — the registry with threads:
 *  1. a cold adapter loads on the registry's thread while another thread
 *     keeps decoding: a test hook holds the load open (the entry stays
 *     LOADING) until the decoding thread has made progress, so no timing is
 *     assumed; meanwhile info, prefetch and a use of a resident entry all
 *     return; the waiting lorc_sequence_use completes once the load does;
 *  2. churn: two threads, each with its own context and sequence, switch
 *     among six real adapters (GGUF, PEFT, DoRA, modules_to_save) under a
 *     budget that holds about three, so entries are evicted and reloaded
 *     while the other thread decodes; every decode equals the adapter's
 *     reference logits and the main thread sees resident bytes <= budget
 *     at every poll (run under ASan in CI: no use-after-free). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "adapter/registry.h"
#include "testutil.h"

static const int32_t toks[] = {1, 403, 407, 261, 378, 300, 270, 290};
#define N_TOK ((int)(sizeof toks / sizeof toks[0]))
#define WAIT_LIMIT_MS 60000 /* a hang fails the test instead of blocking CTest */

static lorc_model *model;
static int n_vocab;

static bool decode_last(lorc_context *ctx, lorc_sequence *seq, float *out) {
    lorc_error err = {0};
    lorc_sequence_reset(seq);
    lorc_status st = lorc_decode(ctx, seq, toks, N_TOK, false, out, &err);
    CHECK_MSG(st == LORC_OK, "%s", err.message);
    return st == LORC_OK;
}

static lorc_context *new_ctx(void) {
    lorc_context_params cp = lorc_context_default_params();
    cp.n_threads = 1;
    cp.n_ctx = 64;
    lorc_context *ctx = NULL;
    lorc_error err = {0};
    CHECK_MSG(lorc_context_new(model, &cp, &ctx, &err) == LORC_OK, "%s", err.message);
    return ctx;
}

static lorc_entry_info info(lorc_registry *reg, const char *name) {
    lorc_entry_info in;
    lorc_error err = {0};
    CHECK_MSG(lorc_registry_info(reg, name, &in, &err) == LORC_OK, "%s", err.message);
    return in;
}

static void sleep_ms(int ms) {
    struct timespec ts = {0, (long)ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* ------------------------------------------------ 1. load while decoding */

typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool entered, open;
} gate;

static void hold_slow_load(void *user, const char *name) {
    gate *g = user;
    if (strcmp(name, "slow")) return;
    pthread_mutex_lock(&g->mu);
    g->entered = true;
    pthread_cond_broadcast(&g->cv);
    while (!g->open) pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

typedef struct decoder {
    lorc_context *ctx;
    lorc_sequence *seq;
    const float *ref;
    atomic_int steps;
    atomic_int mismatches;
    atomic_bool stop;
} decoder;

static void *decode_loop(void *arg) {
    decoder *d = arg;
    float *l = malloc((size_t)n_vocab * sizeof *l);
    while (!atomic_load(&d->stop)) {
        if (!decode_last(d->ctx, d->seq, l) || memcmp(l, d->ref, (size_t)n_vocab * sizeof *l))
            atomic_fetch_add(&d->mismatches, 1);
        atomic_fetch_add(&d->steps, 1);
    }
    free(l);
    return NULL;
}

typedef struct user_call {
    lorc_registry *reg;
    lorc_sequence *seq;
    lorc_status status;
    lorc_error err;
    atomic_bool done;
} user_call;

static void *use_slow(void *arg) {
    user_call *u = arg;
    lorc_adapter_use a = {"slow", 1.0f};
    u->status = lorc_sequence_use(u->seq, u->reg, &a, 1, NULL, &u->err);
    atomic_store(&u->done, true);
    return NULL;
}

static void load_while_decoding(void) {
    lorc_error err = {0};
    lorc_registry *reg = NULL;
    CHECK(lorc_registry_new(model, 0, &reg, &err) == LORC_OK);
    if (!reg) return;
    gate g = {.entered = false, .open = false};
    pthread_mutex_init(&g.mu, NULL);
    pthread_cond_init(&g.cv, NULL);
    lorc_registry_set_load_hook(reg, hold_slow_load, &g);
    CHECK(lorc_registry_add(reg, "moon", test_shared("adapters/moon-qv/moon-qv.gguf"), LORC_ENTRY_AUTO, &err) == 0);
    CHECK(lorc_registry_add(reg, "slow", test_shared("adapters/ocean-all/peft"), LORC_ENTRY_AUTO, &err) == 0);
    CHECK(lorc_registry_add(reg, "later", test_shared("adapters/ocean-all/ocean-all.gguf"), LORC_ENTRY_AUTO, &err) == 0);

    lorc_context *c1 = new_ctx(), *c2 = new_ctx();
    lorc_sequence *a = NULL, *b = NULL, *c = NULL;
    CHECK(lorc_sequence_new(c1, &a, &err) == LORC_OK && lorc_sequence_new(c2, &b, &err) == LORC_OK &&
          lorc_sequence_new(c2, &c, &err) == LORC_OK);
    lorc_adapter_use moon = {"moon", 1.0f};
    CHECK_MSG(lorc_sequence_use(a, reg, &moon, 1, NULL, &err) == LORC_OK, "%s", err.message);
    float *ref = malloc((size_t)n_vocab * sizeof *ref);
    decode_last(c1, a, ref);

    decoder d = {.ctx = c1, .seq = a, .ref = ref};
    user_call u = {.reg = reg, .seq = b};
    pthread_t td, tu;
    pthread_create(&td, NULL, decode_loop, &d);
    pthread_create(&tu, NULL, use_slow, &u);

    /* The load of "slow" has started and is held open. */
    pthread_mutex_lock(&g.mu);
    for (int ms = 0; !g.entered && ms < WAIT_LIMIT_MS; ms += 10) {
        pthread_mutex_unlock(&g.mu);
        sleep_ms(10);
        pthread_mutex_lock(&g.mu);
    }
    bool entered = g.entered;
    pthread_mutex_unlock(&g.mu);
    CHECK_MSG(entered, "the load of 'slow' never started");
    CHECK(info(reg, "slow").state == LORC_ENTRY_LOADING);
    int s0 = atomic_load(&d.steps);
    /* While it is held: the decoder advances, the caller of use waits, and
     * other registry calls return (a resident entry can be used, another
     * cold one queued). */
    for (int ms = 0; atomic_load(&d.steps) < s0 + 20 && ms < WAIT_LIMIT_MS; ms += 5) sleep_ms(5);
    int s1 = atomic_load(&d.steps);
    CHECK_MSG(s1 >= s0 + 20, "the decoder made %d steps while the load was held", s1 - s0);
    CHECK(!atomic_load(&u.done));
    CHECK(info(reg, "slow").state == LORC_ENTRY_LOADING && info(reg, "slow").loads == 0);
    CHECK_MSG(lorc_sequence_use(c, reg, &moon, 1, NULL, &err) == LORC_OK, "%s", err.message);
    CHECK(info(reg, "moon").refs == 2);
    CHECK(lorc_registry_prefetch(reg, "later", &err) == LORC_OK);
    CHECK(info(reg, "later").state == LORC_ENTRY_LOADING);
    CHECK(lorc_registry_remove(reg, "slow", &err) == LORC_ERR_BUSY);
    printf("decoder: %d steps while the load of 'slow' was held open\n", s1 - s0);

    pthread_mutex_lock(&g.mu);
    g.open = true;
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.mu);
    pthread_join(tu, NULL);
    CHECK_MSG(u.status == LORC_OK, "%s", u.err.message);
    lorc_entry_info in = info(reg, "slow");
    CHECK(in.state == LORC_ENTRY_READY && in.refs == 1 && in.loads == 1);
    for (int ms = 0; info(reg, "later").state == LORC_ENTRY_LOADING && ms < WAIT_LIMIT_MS; ms += 5) sleep_ms(5);
    CHECK(info(reg, "later").state == LORC_ENTRY_READY);
    atomic_store(&d.stop, true);
    pthread_join(td, NULL);
    CHECK_MSG(atomic_load(&d.mismatches) == 0, "%d decodes differed from the reference", atomic_load(&d.mismatches));

    free(ref);
    lorc_sequence_free(a);
    lorc_sequence_free(b);
    lorc_sequence_free(c);
    lorc_context_free(c1);
    lorc_context_free(c2);
    lorc_registry_free(reg);
    pthread_cond_destroy(&g.cv);
    pthread_mutex_destroy(&g.mu);
}

/* ------------------------------------------------------------- 2. churn */

#define N_ADAPTERS 6
static const char *const adapter_paths[N_ADAPTERS] = {
    "adapters/moon-qv/moon-qv.gguf", "adapters/ocean-all/ocean-all.gguf", "adapters/moon-qv/peft",
    "adapters/ocean-all/peft",       "adapters/ocean-dora/peft",          "adapters/moon-head/peft",
};
static const char *const adapter_names[N_ADAPTERS] = {"moon", "ocean", "moon-peft", "ocean-peft", "dora", "head"};
#define ITERS 30

typedef struct worker {
    lorc_registry *reg;
    float *const *refs;
    int id;
    int ok, refused, mismatches, other_errors;
    char last_error[512];
} worker;

static void *churn_loop(void *arg) {
    worker *w = arg;
    lorc_context *ctx = new_ctx();
    lorc_sequence *seq = NULL;
    lorc_error err = {0};
    lorc_sequence_new(ctx, &seq, &err);
    float *l = malloc((size_t)n_vocab * sizeof *l);
    for (int it = 0; it < ITERS && seq; it++) {
        int k = (it * 5 + w->id * 3) % N_ADAPTERS;
        lorc_adapter_use u = {adapter_names[k], 1.0f};
        lorc_status st = lorc_sequence_use(seq, w->reg, &u, 1, NULL, &err);
        if (st == LORC_ERR_NOMEM) { /* everything resident was in use at that moment */
            w->refused++;
            continue;
        }
        if (st != LORC_OK) {
            w->other_errors++;
            snprintf(w->last_error, sizeof w->last_error, "%s", err.message);
            continue;
        }
        if (!decode_last(ctx, seq, l) || memcmp(l, w->refs[k], (size_t)n_vocab * sizeof *l))
            w->mismatches++;
        else
            w->ok++;
        /* every other step back to the base, so the other thread finds room */
        if (it % 2) lorc_sequence_use(seq, w->reg, NULL, 0, NULL, &err);
    }
    free(l);
    lorc_sequence_free(seq);
    lorc_context_free(ctx);
    return NULL;
}

static void churn(void) {
    lorc_error err = {0};
    /* References, and each entry's size as the registry counts it. */
    lorc_registry *probe = NULL;
    CHECK(lorc_registry_new(model, 0, &probe, &err) == LORC_OK);
    lorc_context *ctx = new_ctx();
    lorc_sequence *seq = NULL;
    CHECK(lorc_sequence_new(ctx, &seq, &err) == LORC_OK);
    float *refs[N_ADAPTERS];
    size_t sizes[N_ADAPTERS];
    for (int k = 0; k < N_ADAPTERS; k++) {
        CHECK(lorc_registry_add(probe, adapter_names[k], test_shared(adapter_paths[k]), LORC_ENTRY_AUTO, &err) == 0);
        lorc_adapter_use u = {adapter_names[k], 1.0f};
        CHECK_MSG(lorc_sequence_use(seq, probe, &u, 1, NULL, &err) == LORC_OK, "%s", err.message);
        refs[k] = malloc((size_t)n_vocab * sizeof *refs[k]);
        decode_last(ctx, seq, refs[k]);
        sizes[k] = info(probe, adapter_names[k]).bytes;
    }
    lorc_sequence_free(seq);
    lorc_context_free(ctx);
    lorc_registry_free(probe);
    size_t largest[3] = {0};
    size_t total = 0;
    for (int k = 0; k < N_ADAPTERS; k++) {
        total += sizes[k];
        size_t v = sizes[k];
        for (int j = 0; j < 3; j++)
            if (v > largest[j]) {
                size_t t = largest[j];
                largest[j] = v;
                v = t;
            }
    }
    size_t budget = largest[0] + largest[1] + largest[2];
    CHECK(budget < total);

    lorc_registry *reg = NULL;
    CHECK(lorc_registry_new(model, budget, &reg, &err) == LORC_OK);
    for (int k = 0; k < N_ADAPTERS; k++)
        CHECK(lorc_registry_add(reg, adapter_names[k], test_shared(adapter_paths[k]), LORC_ENTRY_AUTO, &err) == 0);
    worker w[2] = {{.reg = reg, .refs = refs, .id = 0}, {.reg = reg, .refs = refs, .id = 1}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, churn_loop, &w[i]);
    /* Poll the invariant while they run (the threads end on their own). */
    int polls = 0, over = 0;
    size_t max_seen = 0;
    for (int i = 0; i < 2; i++) {
        while (pthread_tryjoin_np(t[i], NULL) != 0) {
            size_t r = lorc_registry_resident_bytes(reg);
            over += r > budget;
            if (r > max_seen) max_seen = r;
            polls++;
            sleep_ms(1);
        }
    }
    int loads = 0, ok = 0, refused = 0;
    for (int k = 0; k < N_ADAPTERS; k++) loads += info(reg, adapter_names[k]).loads;
    for (int i = 0; i < 2; i++) {
        ok += w[i].ok;
        refused += w[i].refused;
        CHECK_MSG(w[i].mismatches == 0, "thread %d: %d decodes differ from the adapter's reference", i, w[i].mismatches);
        CHECK_MSG(w[i].other_errors == 0, "thread %d: %d errors; last: %s", i, w[i].other_errors, w[i].last_error);
    }
    printf("churn: budget %zu of %zu total, %d uses ok, %d refused (all resident in use), %d loads of %d entries, "
           "max resident seen %zu over %d polls\n",
           budget, total, ok, refused, loads, N_ADAPTERS, max_seen, polls);
    CHECK_MSG(over == 0, "resident bytes above the budget at %d of %d polls", over, polls);
    CHECK(ok >= ITERS); /* most uses succeed */
    CHECK_MSG(loads > N_ADAPTERS, "only %d loads: nothing was evicted and reloaded", loads);
    CHECK(lorc_registry_resident_bytes(reg) <= budget);
    lorc_registry_free(reg);
    for (int k = 0; k < N_ADAPTERS; k++) free(refs[k]);
}

int main(void) {
    lorc_error err = {0};
    CHECK_MSG(lorc_model_load(test_shared("models/stories260K.gguf"), &model, &err) == LORC_OK, "%s", err.message);
    if (model) {
        n_vocab = lorc_model_n_vocab(model);
        load_while_decoding();
        churn();
    }
    lorc_model_free(model);
    return test_finish("test_registry_concurrent");
}
