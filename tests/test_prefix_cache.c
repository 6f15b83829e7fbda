/* test_prefix_cache.c — the prefix cache keyed by adapter identity, on
 * stories260K with the real moon-qv and ocean-all adapters:
 *  - a hit under the same adapter set (an adapter loaded again from the same
 *    bytes included): reused > 0, and the logits after reuse are
 *    bit-identical to a full recompute;
 *  - a miss (reused == 0) under another adapter, another scale, a stack,
 *    an overlay, the base vs an adapter, another file under the same path,
 *    and after the sequence's adapters changed mid-way; the logits of those
 *    setups differ, so a hit there would have been wrong;
 *  - copy-on-write: a sequence that rewrites positions of a shared page
 *    gets its own copy; the cached page and its other holders are intact;
 *  - idle cached pages are evicted under budget pressure (chain tails
 *    first) before LORC_ERR_KV_FULL; the cache off reuses nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/context.h"
#include "engine/kv_pages.h"
#include "lorc.h"
#include "overlay_fixtures.h"
#include "synth_adapter.h"
#include "testutil.h"

static const char *PROMPT = "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
                            "sun with her dog. One day, she saw a big red ball in the park.";
static const char *OTHER = "The little dog ran to the park and found a stick. He was very happy and wanted to play "
                           "with his friend the cat all day long. When the sun went down, they went home and ate a big "
                           "dinner with mom and dad.";

static lorc_model *M;
static int NV;

static lorc_context *new_ctx(size_t budget, bool prefix) {
    lorc_context_params cp = lorc_context_default_params();
    cp.n_threads = 2;
    cp.n_ctx = 256;
    cp.kv_budget_bytes = budget;
    cp.prefix_cache = prefix;
    lorc_context *ctx = NULL;
    lorc_error err = {0};
    CHECK_MSG(lorc_context_new(M, &cp, &ctx, &err) == LORC_OK, "%s", err.message);
    return ctx;
}

static lorc_sequence *new_seq(lorc_context *ctx, lorc_adapter *const *ads, const float *scales, int n) {
    lorc_sequence *s = NULL;
    lorc_error err = {0};
    CHECK(lorc_sequence_new(ctx, &s, &err) == LORC_OK);
    if (n) CHECK_MSG(lorc_sequence_set_adapters(s, ads, scales, n, &err) == LORC_OK, "%s", err.message);
    return s;
}

/* Logits of every token of t[0..n) computed from scratch (no cache). */
static float *ref(lorc_adapter *const *ads, const float *scales, int n_ads, const int32_t *t, int n) {
    lorc_context *ctx = new_ctx(0, false);
    lorc_sequence *s = new_seq(ctx, ads, scales, n_ads);
    float *l = malloc((size_t)n * (size_t)NV * sizeof *l);
    lorc_error err = {0};
    CHECK_MSG(lorc_decode(ctx, s, t, n, true, l, &err) == LORC_OK, "%s", err.message);
    lorc_sequence_free(s);
    lorc_context_free(ctx);
    return l;
}

/* Decodes t[from..n) on s (all logits) and compares rows from..n with r. */
static bool continues_as(lorc_context *ctx, lorc_sequence *s, const int32_t *t, int from, int n, const float *r) {
    float *l = malloc((size_t)(n - from) * (size_t)NV * sizeof *l);
    lorc_error err = {0};
    bool ok = lorc_decode(ctx, s, t + from, n - from, true, l, &err) == LORC_OK;
    CHECK_MSG(ok, "%s", err.message);
    ok = ok && !memcmp(l, r + (size_t)from * (size_t)NV, (size_t)(n - from) * (size_t)NV * sizeof *l);
    free(l);
    return ok;
}

static void copy_file(const char *from, const char *to) {
    size_t len = 0;
    char *data = test_read_file(from, &len);
    FILE *f = fopen(to, "wb");
    CHECK(data && f && fwrite(data, 1, len, f) == len);
    if (f) fclose(f);
    free(data);
}

int main(void) {
    lorc_error err = {0};
    if (lorc_model_load(test_shared("models/stories260K.gguf"), &M, &err) != LORC_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    NV = lorc_model_n_vocab(M);
    const char *moon_path = test_shared("adapters/moon-qv/moon-qv.gguf");
    char ocean_path[1024];
    snprintf(ocean_path, sizeof ocean_path, "%s", test_shared("adapters/ocean-all/ocean-all.gguf"));
    lorc_adapter *moon = NULL, *moon2 = NULL, *ocean = NULL;
    CHECK_MSG(lorc_adapter_load(M, moon_path, &moon, &err) == LORC_OK, "%s", err.message);
    CHECK_MSG(lorc_adapter_load(M, moon_path, &moon2, &err) == LORC_OK, "%s", err.message);
    CHECK_MSG(lorc_adapter_load(M, ocean_path, &ocean, &err) == LORC_OK, "%s", err.message);
    int32_t *t = NULL, *u = NULL;
    size_t n_t = 0, n_u = 0;
    CHECK(lorc_tokenize(lorc_model_vocab(M), PROMPT, strlen(PROMPT), LORC_TOKENIZE_ADD_BOS, &t, &n_t, &err) == LORC_OK);
    CHECK(lorc_tokenize(lorc_model_vocab(M), OTHER, strlen(OTHER), LORC_TOKENIZE_ADD_BOS, &u, &n_u, &err) == LORC_OK);
    const int n = 50; /* 3 full pages of 16 + 2 */
    CHECK(n_t >= (size_t)n && n_u >= 64);
    const float one = 1.0f, half = 0.5f;
    float *r_moon = ref(&moon, &one, 1, t, n), *r_base = ref(NULL, NULL, 0, t, n);
    float *r_ocean = ref(&ocean, &one, 1, t, n), *r_half = ref(&moon, &half, 1, t, n);
    /* The setups really compute different KV: a hit across them would be wrong. */
    const size_t rows = (size_t)n * (size_t)NV * sizeof(float);
    CHECK(memcmp(r_moon, r_base, rows) && memcmp(r_moon, r_ocean, rows) && memcmp(r_moon, r_half, rows));

    /* ---- hit: the same adapter (and the same bytes loaded again) */
    lorc_context *ctx = new_ctx(0, true);
    lorc_sequence *a = new_seq(ctx, &moon, &one, 1);
    CHECK(lorc_sequence_reuse_prefix(a, t, n) == 0); /* nothing cached yet */
    CHECK(continues_as(ctx, a, t, 0, n, r_moon));
    const size_t page = lorc_sequence_kv_bytes(a) / 4;
    lorc_sequence *b = new_seq(ctx, &moon2, &one, 1);
    CHECK_MSG(lorc_sequence_reuse_prefix(b, t, n) == 48, "reused %d", lorc_sequence_n_past(b));
    CHECK(lorc_sequence_n_past(b) == 48 && lorc_sequence_kv_bytes(b) == 3 * page);
    CHECK(lorc_context_kv_bytes(ctx) == 4 * page); /* shared, not copied */
    CHECK_MSG(continues_as(ctx, b, t, 48, n, r_moon), "logits after reuse differ from a full recompute");
    lorc_sequence *c = new_seq(ctx, &moon, &one, 1);
    CHECK(lorc_sequence_reuse_prefix(c, t, 48) == 32); /* at most n - 1 tokens, whole pages */
    CHECK(lorc_sequence_reuse_prefix(c, t, 48) == 0);  /* not empty any more */
    lorc_sequence_free(c);

    /* Another file under the same path: identity is content, not name. */
    char same[1024];
    snprintf(same, sizeof same, "%s", test_tmp("prefix_cache_same_name.gguf"));
    copy_file(moon_path, same);
    lorc_adapter *x = NULL;
    CHECK(lorc_adapter_load(M, same, &x, &err) == LORC_OK);
    lorc_sequence *s_x = new_seq(ctx, &x, &one, 1);
    CHECK(lorc_sequence_reuse_prefix(s_x, t, n) == 48); /* moon's bytes: a hit */
    lorc_sequence_free(s_x);
    lorc_adapter_free(x);
    copy_file(ocean_path, same);
    CHECK(lorc_adapter_load(M, same, &x, &err) == LORC_OK);
    lorc_adapter *ocean_list[1] = {x};
    lorc_sequence *s_y = new_seq(ctx, ocean_list, &one, 1);
    CHECK(lorc_sequence_reuse_prefix(s_y, t, n) == 0); /* ocean's bytes: a miss */
    lorc_sequence_free(s_y);
    lorc_adapter_free(x);

    /* ---- misses */
    lorc_sequence *m_base = new_seq(ctx, NULL, NULL, 0);
    lorc_sequence *m_ocean = new_seq(ctx, &ocean, &one, 1);
    lorc_sequence *m_half = new_seq(ctx, &moon, &half, 1);
    lorc_adapter *stack[2] = {moon, ocean};
    const float ones[2] = {1.0f, 1.0f};
    lorc_sequence *m_stack = new_seq(ctx, stack, ones, 2);
    CHECK(lorc_sequence_reuse_prefix(m_base, t, n) == 0);
    CHECK(lorc_sequence_reuse_prefix(m_ocean, t, n) == 0);
    CHECK(lorc_sequence_reuse_prefix(m_half, t, n) == 0);
    CHECK(lorc_sequence_reuse_prefix(m_stack, t, n) == 0);
    /* Computed from scratch they give their own logits, and publish their
     * own pages: the base now hits under the base only. */
    CHECK(continues_as(ctx, m_base, t, 0, n, r_base));
    CHECK(continues_as(ctx, m_ocean, t, 0, n, r_ocean));
    CHECK(continues_as(ctx, m_half, t, 0, n, r_half));
    lorc_sequence *h_base = new_seq(ctx, NULL, NULL, 0);
    CHECK(lorc_sequence_reuse_prefix(h_base, t, n) == 48);
    CHECK(continues_as(ctx, h_base, t, 48, n, r_base));
    lorc_sequence *h_half = new_seq(ctx, &moon, &half, 1);
    CHECK(lorc_sequence_reuse_prefix(h_half, t, n) == 48);
    CHECK(continues_as(ctx, h_half, t, 48, n, r_half));

    /* An overlay on top of moon: another identity. */
    char base_copy[1024], ov_path[1024];
    snprintf(base_copy, sizeof base_copy, "%s", test_shared("models/stories260K.gguf"));
    snprintf(ov_path, sizeof ov_path, "%s", test_tmp("prefix_cache_overlay.gguf"));
    int64_t nq = 0;
    float *q0 = synth_read_tensor_f32(base_copy, "blk.0.attn_q.weight", &nq);
    CHECK(q0 != NULL);
    lorc_overlay *ov = NULL;
    if (q0) {
        for (int64_t i = 0; i < nq; i++) q0[i] *= 1.25f;
        const char *names[1] = {"blk.0.attn_q.weight"};
        CHECK_MSG(fx_write_overlay_f32(base_copy, ov_path, names, &q0, 1, &err) == LORC_OK, "%s", err.message);
        CHECK_MSG(lorc_overlay_load(M, ov_path, false, &ov, &err) == LORC_OK, "%s", err.message);
    }
    if (ov) {
        /* Reference: moon on the overlay, from scratch; it differs from moon alone. */
        lorc_context *rctx = new_ctx(0, false);
        lorc_sequence *rs = new_seq(rctx, &moon, &one, 1);
        float *r_ov = malloc(rows);
        CHECK(lorc_sequence_set_overlay(rs, ov, &err) == LORC_OK);
        CHECK_MSG(lorc_decode(rctx, rs, t, n, true, r_ov, &err) == LORC_OK, "%s", err.message);
        CHECK(memcmp(r_ov, r_moon, rows) != 0);
        lorc_sequence_free(rs);
        lorc_context_free(rctx);
        /* moon's pages are cached, but not under moon + overlay: a miss, and
         * computing it publishes the overlay's own pages. */
        lorc_sequence *m_ov = new_seq(ctx, &moon, &one, 1);
        CHECK_MSG(lorc_sequence_set_overlay(m_ov, ov, &err) == LORC_OK, "%s", err.message);
        CHECK(lorc_sequence_reuse_prefix(m_ov, t, n) == 0);
        CHECK_MSG(continues_as(ctx, m_ov, t, 0, n, r_ov), "moon on the overlay differs from its reference");
        lorc_sequence *h_ov = new_seq(ctx, &moon, &one, 1);
        CHECK(lorc_sequence_set_overlay(h_ov, ov, &err) == LORC_OK);
        CHECK(lorc_sequence_reuse_prefix(h_ov, t, n) == 48);
        CHECK_MSG(continues_as(ctx, h_ov, t, 48, n, r_ov), "overlay logits after reuse differ");
        /* without the overlay, moon's own pages again */
        lorc_sequence *h_moon = new_seq(ctx, &moon, &one, 1);
        CHECK(lorc_sequence_reuse_prefix(h_moon, t, n) == 48);
        CHECK(continues_as(ctx, h_moon, t, 48, n, r_moon));
        lorc_sequence_free(h_moon);
        lorc_sequence_free(h_ov);
        lorc_sequence_free(m_ov);
        free(r_ov);
    }
    free(q0);

    /* Adapters changed after the first token: nothing of it is published. */
    lorc_sequence *mix = new_seq(ctx, NULL, NULL, 0);
    float *lg = malloc((size_t)NV * sizeof *lg);
    CHECK(lorc_decode(ctx, mix, u, 8, false, lg, &err) == LORC_OK);
    CHECK(lorc_sequence_set_adapters(mix, &moon, &one, 1, &err) == LORC_OK);
    CHECK(lorc_decode(ctx, mix, u + 8, 40, false, lg, &err) == LORC_OK);
    lorc_sequence *p_moon = new_seq(ctx, &moon, &one, 1), *p_base = new_seq(ctx, NULL, NULL, 0);
    CHECK(lorc_sequence_reuse_prefix(p_moon, u, 48) == 0);
    CHECK(lorc_sequence_reuse_prefix(p_base, u, 48) == 0);
    lorc_sequence_free(p_moon);
    lorc_sequence_free(p_base);
    lorc_sequence_free(mix);

    /* ---- copy-on-write: b2 shares moon's pages, then rewrites positions
     * 40.. (inside the shared third page) with other tokens, as a rolled
     * back step would. */
    lorc_sequence *b2 = new_seq(ctx, &moon, &one, 1);
    CHECK(lorc_sequence_reuse_prefix(b2, t, n) == 48);
    const size_t before = lorc_context_kv_bytes(ctx);
    b2->n_past = 40;
    lorc_kv_seq_trim(b2);
    int32_t alt[50];
    memcpy(alt, t, 40 * sizeof *alt);
    memcpy(alt + 40, u + 1, 10 * sizeof *alt);
    float *r_alt = ref(&moon, &one, 1, alt, 50);
    CHECK_MSG(continues_as(ctx, b2, alt, 40, 50, r_alt), "the copy-on-write sequence computed wrong logits");
    CHECK(lorc_context_kv_bytes(ctx) == before + 2 * page); /* the shared page copied, and one new */
    lorc_sequence *b3 = new_seq(ctx, &moon, &one, 1);
    CHECK(lorc_sequence_reuse_prefix(b3, t, n) == 48);
    CHECK_MSG(continues_as(ctx, b3, t, 48, n, r_moon), "the shared page changed under a copy-on-write");
    free(r_alt);
    lorc_sequence_free(b2);
    lorc_sequence_free(b3);

    lorc_sequence_free(a);
    lorc_sequence_free(b);
    lorc_sequence_free(m_base);
    lorc_sequence_free(m_ocean);
    lorc_sequence_free(m_half);
    lorc_sequence_free(m_stack);
    lorc_sequence_free(h_base);
    lorc_sequence_free(h_half);
    /* Only cached pages remain; they are still usable. */
    CHECK(lorc_context_kv_bytes(ctx) > 0);
    lorc_sequence *again = new_seq(ctx, &moon, &one, 1);
    CHECK(lorc_sequence_reuse_prefix(again, t, n) == 48);
    lorc_sequence_free(again);
    lorc_context_free(ctx);

    /* ---- eviction under pressure: budget of 5 pages */
    ctx = new_ctx(5 * page + page / 2, true);
    a = new_seq(ctx, &moon, &one, 1);
    CHECK(continues_as(ctx, a, t, 0, n, r_moon)); /* 4 pages, 3 published */
    lorc_sequence_free(a);
    CHECK(lorc_context_kv_bytes(ctx) == 3 * page); /* the published ones stay */
    float *r_u = ref(NULL, NULL, 0, u, 64);
    lorc_sequence *f = new_seq(ctx, NULL, NULL, 0);
    CHECK_MSG(continues_as(ctx, f, u, 0, 64, r_u), "decoding past the idle cached pages failed"); /* 4 pages: evicts 2 */
    CHECK(lorc_context_kv_bytes(ctx) == 5 * page);
    lorc_sequence *g = new_seq(ctx, &moon, &one, 1);
    CHECK_MSG(lorc_sequence_reuse_prefix(g, t, n) == 16, "the chain's head should survive, got %d",
              lorc_sequence_n_past(g));
    /* 1 page held by g, 4 by f: nothing idle, nothing free. */
    lorc_sequence *h = new_seq(ctx, NULL, NULL, 0);
    CHECK(lorc_decode(ctx, h, u, 2, false, lg, &err) == LORC_ERR_KV_FULL);
    CHECK(lorc_sequence_n_past(h) == 0 && lorc_sequence_n_past(g) == 16 && lorc_sequence_n_past(f) == 64);
    lorc_sequence_free(f);
    CHECK(continues_as(ctx, g, t, 16, n, r_moon));
    lorc_sequence_free(g);
    lorc_sequence_free(h);
    lorc_context_free(ctx);

    /* ---- cache off */
    ctx = new_ctx(0, false);
    a = new_seq(ctx, &moon, &one, 1);
    CHECK(continues_as(ctx, a, t, 0, n, r_moon));
    b = new_seq(ctx, &moon, &one, 1);
    CHECK(lorc_sequence_reuse_prefix(b, t, n) == 0);
    lorc_sequence_free(a);
    lorc_sequence_free(b);
    CHECK(lorc_context_kv_bytes(ctx) == 0);
    lorc_context_free(ctx);

    free(lg);
    free(r_u);
    free(r_moon);
    free(r_base);
    free(r_ocean);
    free(r_half);
    free(t);
    free(u);
    lorc_overlay_free(ov);
    lorc_adapter_free(moon);
    lorc_adapter_free(moon2);
    lorc_adapter_free(ocean);
    lorc_model_free(M);
    return test_finish("test_prefix_cache");
}
