/* test_diff_moon.c — the overlay `lorc diff` makes from the real full
 * fine-tune moon-full-qvo reproduces that model bit for bit: the logits of
 * stories260K + overlay equal the full model's on held-out text, and the
 * overlay is refused by the other real base (aidreams260K). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "overlay_fixtures.h"
#include "testutil.h"

int main(void) {
    lorc_error err = {0};
    FX_TMP(ovp, "diff_moon.overlay.gguf");
    char base[1024], full[1024], other[1024], text_path[1024];
    snprintf(base, sizeof base, "%s", test_shared("models/stories260K.gguf"));
    snprintf(full, sizeof full, "%s", test_shared("adapters/moon-full-qvo/stories260K-moon-full-qvo-F32.gguf"));
    snprintf(other, sizeof other, "%s", test_shared("models/aidreams260K.gguf"));
    snprintf(text_path, sizeof text_path, "%s", test_shared("adapters/heldout_moon.txt"));
    char *out = NULL;
    int rc = fx_run_cli(&out, "diff %s %s -o %s", base, full, ovp);
    CHECK_MSG(rc == 0, "diff: %s", out ? out : "");
    free(out);

    lorc_model *mb = NULL, *mf = NULL, *mo = NULL;
    lorc_overlay *ov = NULL;
    size_t len = 0, n_tok = 0;
    int32_t *tok = NULL;
    char *text = test_read_file(text_path, &len);
    if (!text || lorc_model_load(base, &mb, &err) || lorc_model_load(full, &mf, &err) ||
        lorc_overlay_apply(mb, ovp, false, &ov, &err) ||
        lorc_tokenize(lorc_model_vocab(mb), text, len < 4000 ? len : 4000, LORC_TOKENIZE_ADD_BOS, &tok, &n_tok, &err)) {
        CHECK_MSG(0, "setup: %s", err.message);
    } else {
        int n = n_tok < 200 ? (int)n_tok : 200;
        float *lf = fx_logits(mf, tok, n, NULL, NULL, 0), *lo = fx_logits(mb, tok, n, NULL, NULL, 0);
        size_t nl = (size_t)n * (size_t)lorc_model_n_vocab(mb);
        CHECK_MSG(lf && lo && !memcmp(lf, lo, nl * sizeof *lf), "logits differ: rel %.3g",
                  lf && lo ? fx_rel_diff(lo, lf, nl) : -1.0);
        printf("  %d positions x %d logits: stories260K + overlay == moon-full-qvo bit for bit\n", n,
               lorc_model_n_vocab(mb));
        lorc_overlay_remove(mb, ov);
        ov = NULL;
        float *lb = fx_logits(mb, tok, n, NULL, NULL, 0);
        CHECK(lb && lf && memcmp(lb, lf, nl * sizeof *lb) != 0);
        free(lb);
        free(lf);
        free(lo);
    }
    /* another base: refused, one line */
    if (lorc_model_load(other, &mo, &err) == LORC_OK) {
        lorc_overlay *o2 = NULL;
        lorc_status st = lorc_overlay_apply(mo, ovp, false, &o2, &err);
        CHECK(st == LORC_ERR_MISMATCH && o2 == NULL && !strchr(err.message, '\n'));
        printf("  aidreams260K: %s\n", err.message);
    } else {
        CHECK_MSG(0, "%s", err.message);
    }
    lorc_overlay_remove(mb, ov);
    lorc_model_free(mo);
    lorc_model_free(mf);
    lorc_model_free(mb);
    free(tok);
    free(text);
    return test_finish("test_diff_moon");
}
