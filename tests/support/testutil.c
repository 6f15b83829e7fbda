/* testutil.c — shared helpers for the C tests. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>

int test_checks;
int test_failures;

static const char *env_or(const char *name, const char *def) {
    const char *v = getenv(name);
    return v && *v ? v : def;
}

const char *test_shared(const char *rel) {
    static char bufs[8][1024];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", env_or("LORC_SHARED", "../shared"), rel);
    return b;
}

const char *test_tmp(const char *rel) {
    static char bufs[8][1024];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", env_or("LORC_TEST_TMP", "/tmp"), rel);
    return b;
}

char *test_read_file(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    if (buf) {
        buf[n] = 0;
        if (len) *len = (size_t)n;
    }
    return buf;
}

int test_finish(const char *name) {
    printf("%s: %d passed, %d failed\n", name, test_checks - test_failures, test_failures);
    /* A test that checked nothing (a loop over an empty list, a skipped
     * set-up) would otherwise pass while proving nothing. */
    if (test_checks == 0) {
        printf("%s: FAILED: no check ran\n", name);
        return 1;
    }
    return test_failures ? 1 : 0;
}
