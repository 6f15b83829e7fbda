/* testutil.h — tiny assertion helpers shared by the C tests.
 * A test binary returns test_finish(): non-zero when any check failed. */
#ifndef LORC_TESTS_TESTUTIL_H
#define LORC_TESTS_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>

extern int test_checks;
extern int test_failures;

#define CHECK(cond)                                                                 \
    do {                                                                            \
        test_checks++;                                                              \
        if (!(cond)) {                                                              \
            test_failures++;                                                        \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                           \
    } while (0)

#define CHECK_MSG(cond, ...)                                                        \
    do {                                                                            \
        test_checks++;                                                              \
        if (!(cond)) {                                                              \
            test_failures++;                                                        \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                           \
            fprintf(stderr, "\n");                                                  \
        }                                                                           \
    } while (0)

/* Path under the shared/ folder (LORC_SHARED env), in a static buffer per call slot. */
const char *test_shared(const char *rel);
/* Path under the per-build scratch folder (LORC_TEST_TMP env). */
const char *test_tmp(const char *rel);
/* Reads a whole file into a malloc'd NUL-terminated buffer; NULL on failure. */
char *test_read_file(const char *path, size_t *len);
/* Prints the "N passed, N failed" summary and returns the exit code:
 * non-zero when a check failed or when no check ran at all. */
int test_finish(const char *name);

#endif
