/* test_model.h — the real stories260K model and a context over it, which
 * most C tests start from. */
#ifndef LORC_TESTS_TEST_MODEL_H
#define LORC_TESTS_TEST_MODEL_H

#include <stdbool.h>

#include "lorc.h"

/* Loads ../shared/models/stories260K.gguf and a context with `cp` (NULL:
 * the defaults). False, with the reason printed: the test cannot run. */
bool test_open_stories(const lorc_context_params *cp, lorc_model **m, lorc_context **ctx);
/* Frees what test_open_stories made (either may be NULL). */
void test_close_stories(lorc_model *m, lorc_context *ctx);

#endif
