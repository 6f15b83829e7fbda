/* test_smoke.c — the CLI binary exists and the test harness works. */
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

int main(void) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s --help > /dev/null", getenv("LORC_BIN") ? getenv("LORC_BIN") : "lorc");
    CHECK(system(cmd) == 0);
    return test_finish("test_smoke");
}
