/* test_forward_load.c — binding a model: hparams, slot names, tied output,
 * weights left in the mmap, the fingerprint, and one-line refusals for an
 * unsupported architecture, wrong shapes, missing/unexpected tensors, an
 * uncomputable type, missing keys and unsupported rope scaling. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/fingerprint.h"
#include "format/gguf.h"
#include "model/model.h"
#include "synth.h"
#include "tensor/types.h"
#include "testutil.h"

/* Loads `path`, expecting failure with `status` and every needle in the message. */
static void expect_fail(const char *path, lorc_status status, const char *n1, const char *n2) {
    lorc_model *m = NULL;
    lorc_error err = {0};
    lorc_status st = lorc_model_load(path, &m, &err);
    CHECK_MSG(st == status, "%s: status %d, want %d (%s)", path, st, status, err.message);
    CHECK_MSG(m == NULL, "%s: model returned on failure", path);
    CHECK_MSG(strstr(err.message, n1) && (!n2 || strstr(err.message, n2)), "%s: message '%s' lacks '%s' / '%s'",
              path, err.message, n1, n2 ? n2 : "");
    CHECK_MSG(strchr(err.message, '\n') == NULL, "multi-line message: %s", err.message);
    lorc_model_free(m);
}

/* Edits for synth_copy_gguf. */
typedef struct edit {
    const char *drop;
    const char *retype; /* becomes IQ2_XXS with zero data */
    void *zeros;
} edit;

static bool apply_edit(void *user, const char *name, uint32_t *type, uint32_t *n_dims, int64_t ne[4],
                       const void **data) {
    edit *e = user;
    (void)n_dims;
    if (e->drop && strcmp(name, e->drop) == 0) return false;
    if (e->retype && strcmp(name, e->retype) == 0) {
        *type = LORC_TYPE_IQ2_XXS;
        e->zeros = calloc(lorc_row_bytes(LORC_TYPE_IQ2_XXS, ne[0]) * (size_t)ne[1] + 1, 1);
        *data = e->zeros;
    }
    return true;
}

/* Copies `src` to `dst` with the edit, optionally setting a u32 key,
 * removing a key and adding a 1-D F32 tensor. */
static void copy_with(const char *src, const char *dst, edit *e, const char *key, uint32_t val, const char *remove,
                      const char *add_tensor) {
    gguf_writer *w = NULL;
    gguf_file *f = NULL;
    lorc_error err = {0};
    if (synth_copy_gguf(src, apply_edit, e, &w, &f, &err) != LORC_OK) {
        CHECK_MSG(false, "%s", err.message);
        return;
    }
    static const float ones[32] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                                   1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    if (key) CHECK(gguf_writer_set_u32(w, key, val) == LORC_OK);
    if (remove) gguf_writer_remove_kv(w, remove);
    int64_t ne[1] = {32};
    if (add_tensor) CHECK(gguf_writer_add_tensor(w, add_tensor, LORC_TYPE_F32, 1, ne, ones) == LORC_OK);
    CHECK_MSG(gguf_writer_write(w, dst, NULL, NULL, &err) == LORC_OK, "%s", err.message);
    gguf_writer_free(w);
    gguf_close(f);
    free(e->zeros);
    e->zeros = NULL;
}

int main(void) {
    lorc_error err = {0};
    synth_params p = synth_default_params();
    p.tied_output = true;
    const char *base = test_tmp("load_base.gguf");
    CHECK_MSG(synth_write_model(base, &p, &err) == LORC_OK, "%s", err.message);

    /* A good model: hparams, slots, tied output, mmap'd weights, fingerprint. */
    lorc_model *m = NULL;
    CHECK_MSG(lorc_model_load(base, &m, &err) == LORC_OK, "%s", err.message);
    if (m) {
        CHECK(m->hp.arch == LORC_ARCH_LLAMA && !m->hp.rope_neox);
        CHECK(m->hp.n_vocab == 64 && m->hp.n_embd == 32 && m->hp.n_layer == 2 && m->hp.n_head == 4);
        CHECK(m->hp.head_dim == 8 && m->hp.rope_dim == 8 && m->hp.n_ff == 48);
        CHECK(m->n_slots == GW_COUNT + 2 * LW_COUNT);
        CHECK(m->base[GW_OUTPUT] == NULL && m->w[GW_OUTPUT] == NULL);
        CHECK(lorc_model_output(m) == m->w[GW_TOKEN_EMBD]);
        CHECK(m->w[GW_ROPE_FREQS] == NULL && m->rope_freq_factors == NULL);
        CHECK(lorc_model_slot_of_name(m, "output.weight") == lorc_slot_global(GW_OUTPUT));
        CHECK(lorc_model_slot_of_name(m, "blk.1.ffn_down.weight") == lorc_slot_layer(1, LW_FFN_DOWN));
        CHECK(lorc_model_slot_of_name(m, "blk.2.ffn_down.weight") == -1);
        CHECK(lorc_model_slot_of_name(m, "blk.01.ffn_down.weight") == -1);
        CHECK(lorc_model_slot_of_name(m, "blk.0.ffn_down") == -1);
        CHECK(lorc_model_slot_of_name(m, "blk..attn_q.weight") == -1);
        char name[96];
        for (int s = 0; s < m->n_slots; s++)
            CHECK_MSG(lorc_model_slot_of_name(m, lorc_model_slot_name(m, s, name, sizeof name)) == s, "slot %d", s);
        const uint8_t *lo = m->file->map.data, *hi = lo + m->file->map.size;
        for (int s = 0; s < m->n_slots; s++)
            if (m->w[s])
                CHECK_MSG((const uint8_t *)m->w[s]->data >= lo && (const uint8_t *)m->w[s]->data < hi,
                          "slot %d is not in the mapping", s);
        CHECK(m->fingerprint != 0 && m->fingerprint == lorc_fingerprint_table(m->file));
        lorc_model *m2 = NULL;
        CHECK(lorc_model_load(base, &m2, &err) == LORC_OK);
        if (m2) CHECK(m2->fingerprint == m->fingerprint);
        lorc_model_free(m2);
    }

    /* Another weight type (and n_ff, for Q8_0 blocks): a different fingerprint. */
    synth_params pq = p;
    pq.weight_type = LORC_TYPE_Q8_0;
    pq.n_ff = 64;
    const char *qpath = test_tmp("load_q8.gguf");
    CHECK_MSG(synth_write_model(qpath, &pq, &err) == LORC_OK, "%s", err.message);
    lorc_model *mq = NULL;
    CHECK_MSG(lorc_model_load(qpath, &mq, &err) == LORC_OK, "%s", err.message);
    if (m && mq) CHECK(mq->fingerprint != m->fingerprint);
    lorc_model_free(mq);

    /* Unsupported architecture, refused by name. */
    synth_params pg = p;
    pg.arch = "gemma";
    const char *gpath = test_tmp("load_gemma.gguf");
    CHECK(synth_write_model(gpath, &pg, &err) == LORC_OK);
    char want[1200];
    snprintf(want, sizeof want, "%s: architecture 'gemma' is not supported (lorc runs llama, qwen2)", gpath);
    {
        lorc_model *g = NULL;
        CHECK(lorc_model_load(gpath, &g, &err) == LORC_ERR_UNSUPPORTED);
        CHECK_MSG(strcmp(err.message, want) == 0, "message: %s", err.message);
    }

    const char *bad = test_tmp("load_bad.gguf");
    edit e = {0};
    /* Wrong shape, found through a changed hyper-parameter. */
    copy_with(base, bad, &e, "llama.feed_forward_length", 50, NULL, NULL);
    expect_fail(bad, LORC_ERR_FORMAT, "tensor 'blk.0.ffn_gate.weight' has shape [32, 48], expected [32, 50]", NULL);
    /* A missing tensor. */
    e.drop = "blk.1.ffn_up.weight";
    copy_with(base, bad, &e, NULL, 0, NULL, NULL);
    expect_fail(bad, LORC_ERR_FORMAT, "missing tensor 'blk.1.ffn_up.weight'", NULL);
    e.drop = NULL;
    /* An unexpected tensor (an architecture lorc does not implement). */
    copy_with(base, bad, &e, NULL, 0, NULL, "blk.0.attn_q_norm.weight");
    expect_fail(bad, LORC_ERR_FORMAT, "unexpected tensor 'blk.0.attn_q_norm.weight'", NULL);
    /* A missing key. */
    copy_with(base, bad, &e, NULL, 0, "llama.block_count", NULL);
    expect_fail(bad, LORC_ERR_FORMAT, "missing key 'llama.block_count'", NULL);
    /* Heads that do not divide. */
    copy_with(base, bad, &e, "llama.attention.head_count_kv", 3, NULL, NULL);
    expect_fail(bad, LORC_ERR_FORMAT, "head_count_kv 3", NULL);

    /* An uncomputable type (IQ2_XXS), named in the message: needs 256-wide rows. */
    synth_params pw = p;
    pw.n_embd = 256;
    pw.n_ff = 256;
    const char *wide = test_tmp("load_wide.gguf");
    CHECK(synth_write_model(wide, &pw, &err) == LORC_OK);
    e.retype = "blk.0.attn_k.weight";
    copy_with(wide, bad, &e, NULL, 0, NULL, NULL);
    expect_fail(bad, LORC_ERR_UNSUPPORTED, "IQ2_XXS", NULL);
    e.retype = NULL;

    /* Unsupported rope scaling. */
    {
        gguf_writer *w = NULL;
        gguf_file *f = NULL;
        CHECK(synth_copy_gguf(base, NULL, NULL, &w, &f, &err) == LORC_OK);
        if (w) {
            CHECK(gguf_writer_set_str(w, "llama.rope.scaling.type", "yarn") == LORC_OK);
            CHECK(gguf_writer_write(w, bad, NULL, NULL, &err) == LORC_OK);
        }
        gguf_writer_free(w);
        gguf_close(f);
        expect_fail(bad, LORC_ERR_UNSUPPORTED, "llama.rope.scaling.type 'yarn' is not supported", NULL);
    }
    /* Linear rope scaling is read. */
    {
        gguf_writer *w = NULL;
        gguf_file *f = NULL;
        CHECK(synth_copy_gguf(base, NULL, NULL, &w, &f, &err) == LORC_OK);
        if (w) {
            CHECK(gguf_writer_set_str(w, "llama.rope.scaling.type", "linear") == LORC_OK);
            CHECK(gguf_writer_set_f32(w, "llama.rope.scaling.factor", 4.0f) == LORC_OK);
            CHECK(gguf_writer_write(w, bad, NULL, NULL, &err) == LORC_OK);
        }
        gguf_writer_free(w);
        gguf_close(f);
        lorc_model *ml = NULL;
        CHECK_MSG(lorc_model_load(bad, &ml, &err) == LORC_OK, "%s", err.message);
        if (ml) CHECK(ml->hp.rope_scale == 4.0f);
        lorc_model_free(ml);
    }

    /* Not a file at all. */
    expect_fail(test_tmp("does-not-exist.gguf"), LORC_ERR_IO, "does-not-exist.gguf", NULL);

    lorc_model_free(m);
    return test_finish("test_forward_load");
}
