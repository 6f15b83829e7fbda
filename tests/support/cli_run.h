/* cli_run.h — runs the lorc CLI ($LORC_BIN) from a C test with its stdout
 * and stderr captured to files, so a test can check the exit code, the
 * one-line error and what the command left on disk. */
#ifndef LORC_TESTS_CLI_RUN_H
#define LORC_TESTS_CLI_RUN_H

#include <stdbool.h>

#include "base/error.h" /* LORC_PRINTF */

/* Runs "$LORC_BIN <args>" (args formatted like printf; arguments are not
 * quoted, so test paths must not hold spaces) with stdout and stderr going
 * to <tag>.out / <tag>.err under LORC_TEST_TMP. Returns the exit code, or -1
 * when the process did not exit normally. */
int cli_run(const char *tag, const char *fmt, ...) LORC_PRINTF(2, 3);
/* The captured output of the last cli_run with this tag (malloc'd; "" when
 * missing). */
char *cli_run_stdout(const char *tag);
char *cli_run_stderr(const char *tag);
/* True when `path` exists (any kind of node, including a dangling link). */
bool cli_path_exists(const char *path);
/* Number of "*.tmp.*" temporaries (the atomic writer's) in `dir`. */
int cli_temporaries_in(const char *dir);

#endif
