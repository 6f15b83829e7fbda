/* test_error.c — lorc_error messages stay one line whatever text they quote. */
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "testutil.h"

int main(void) {
    lorc_error err = {0};
    CHECK(lorc_fail(&err, LORC_ERR_FORMAT, "%s: tensor '%s' is bad", "f.gguf", "a\nb\tc\x7f") == LORC_ERR_FORMAT);
    CHECK(err.status == LORC_ERR_FORMAT);
    CHECK(!strcmp(err.message, "f.gguf: tensor 'a?b?c?' is bad"));
    lorc_error_prefix(&err, "loading %s", "x\ry");
    CHECK(!strcmp(err.message, "loading x?y: f.gguf: tensor 'a?b?c?' is bad"));
    /* UTF-8 text is kept as it is */
    lorc_fail(&err, LORC_ERR_FORMAT, "name '%s'", "\xe2\x96\x81hi");
    CHECK(!strcmp(err.message, "name '\xe2\x96\x81hi'"));
    CHECK(lorc_fail(NULL, LORC_ERR_IO, "ignored") == LORC_ERR_IO);
    return test_finish("test_error");
}
