/* test_model.c — see test_model.h. */
#include "test_model.h"

#include <stdio.h>

#include "testutil.h"

bool test_open_stories(const lorc_context_params *cp, lorc_model **m, lorc_context **ctx) {
    lorc_error err = {0};
    *m = NULL;
    *ctx = NULL;
    const char *path = test_shared("models/stories260K.gguf");
    if (lorc_model_load(path, m, &err) != LORC_OK) {
        fprintf(stderr, "%s\n", err.message);
        return false;
    }
    lorc_context_params defaults = lorc_context_default_params();
    if (lorc_context_new(*m, cp ? cp : &defaults, ctx, &err) != LORC_OK) {
        fprintf(stderr, "context over %s: %s\n", path, err.message);
        lorc_model_free(*m);
        *m = NULL;
        return false;
    }
    return true;
}

void test_close_stories(lorc_model *m, lorc_context *ctx) {
    lorc_context_free(ctx);
    lorc_model_free(m);
}
