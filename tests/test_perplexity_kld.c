/* test_perplexity_kld.c — kld_compare (the KL machinery the merge/extract
 * tools reuse) on stories260K: a model against itself gives KL 0 and full
 * top-token agreement; against itself with the moon-qv adapter it gives a
 * positive KL and a lower perplexity on moon text. The CLI helpers are
 * compiled in directly: they are not part of liblorc. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "kld.h"
#include "kld_stats.h"
#include "perplexity_chunk.h"
#include "testutil.h"

enum { N_CTX = 128, N_TOKENS = 4 * N_CTX + 17 };

int main(void) {
    lorc_error err = {0};
    lorc_model *model = NULL;
    lorc_context *ctx = NULL;
    lorc_sequence *s1 = NULL, *s2 = NULL;
    lorc_adapter *moon = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0, len = 0;
    char *text = test_read_file(test_shared("adapters/heldout_moon.txt"), &len);
    CHECK(text != NULL);
    if (!text || lorc_model_load(test_shared("models/stories260K.gguf"), &model, &err) != LORC_OK) {
        fprintf(stderr, "setup: %s\n", err.message);
        return test_finish("test_perplexity_kld");
    }
    const lorc_vocab *vocab = lorc_model_vocab(model);
    CHECK(ppl_vocab_adds_bos(vocab));
    CHECK(lorc_tokenize(vocab, text, len, LORC_TOKENIZE_ADD_BOS, &ids, &n_ids, &err) == LORC_OK);
    CHECK(n_ids > N_TOKENS);

    lorc_context_params cp = lorc_context_default_params();
    cp.n_ctx = N_CTX;
    cp.n_threads = 2;
    CHECK(lorc_context_new(model, &cp, &ctx, &err) == LORC_OK);
    CHECK(lorc_sequence_new(ctx, &s1, &err) == LORC_OK);
    CHECK(lorc_sequence_new(ctx, &s2, &err) == LORC_OK);
    const int32_t bos = lorc_vocab_bos(vocab);
    kld_setup a = {model, ctx, s1}, b = {model, ctx, s2};

    /* Itself: identical logits, so KL is 0 up to rounding. */
    kld_stats self = {0};
    CHECK_MSG(kld_compare(&a, &b, ids, N_TOKENS, N_CTX, bos, &self, &err) == LORC_OK, "%s", err.message);
    kld_summary s;
    kld_summarize(&self, &s);
    CHECK(s.count == 4 * (size_t)ppl_chunk_scored(N_CTX)); /* the 17 leftover tokens make no chunk */
    CHECK_MSG(fabs(s.kld) < 1e-6 && s.same_top == 1.0, "self: kld %g same top %g", s.kld, s.same_top);
    CHECK(fabs(s.ppl - s.ppl_base) < 1e-9 * s.ppl && s.ppl > 1.5 && s.ppl < 10);

    /* The moon adapter on the test side: the text is moon text, so its PPL drops. */
    if (lorc_adapter_load(model, test_shared("adapters/moon-qv/moon-qv.gguf"), &moon, &err) == LORC_OK) {
        float scale = 1.0f;
        CHECK(lorc_sequence_set_adapters(s2, &moon, &scale, 1, &err) == LORC_OK);
        kld_stats d = {0};
        CHECK(kld_compare(&a, &b, ids, N_TOKENS, N_CTX, bos, &d, &err) == LORC_OK);
        kld_summarize(&d, &s);
        CHECK_MSG(s.kld > 1e-3 && s.same_top < 1.0 && s.ppl < s.ppl_base,
                  "adapter: kld %g same top %g ppl %g base %g", s.kld, s.same_top, s.ppl, s.ppl_base);
        CHECK(fabs(s.ppl_base - exp(self.sum_nll_base / (double)self.count)) < 1e-6 * s.ppl_base);
    } else {
        CHECK_MSG(0, "loading moon-qv: %s", err.message);
    }

    /* Too few tokens for one chunk are refused. */
    kld_stats z = {0};
    CHECK(kld_compare(&a, &b, ids, N_CTX - 1, N_CTX, bos, &z, &err) == LORC_ERR_INVALID);
    CHECK(z.count == 0);

    lorc_sequence_free(s1);
    lorc_sequence_free(s2);
    lorc_adapter_free(moon);
    lorc_context_free(ctx);
    lorc_model_free(model);
    free(ids);
    free(text);
    return test_finish("test_perplexity_kld");
}
