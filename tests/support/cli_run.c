/* cli_run.c — the CLI run from C tests with captured output (cli_run.h). */
#include "cli_run.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "testutil.h"

int cli_run(const char *tag, const char *fmt, ...) {
    char args[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    const char *bin = getenv("LORC_BIN") ? getenv("LORC_BIN") : "lorc";
    char out[1100], errp[1100], cmd[8192];
    snprintf(out, sizeof out, "%s.out", test_tmp(tag));
    snprintf(errp, sizeof errp, "%s.err", test_tmp(tag));
    snprintf(cmd, sizeof cmd, "%s %s > %s 2> %s < /dev/null", bin, args, out, errp);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static char *captured(const char *tag, const char *ext) {
    char path[1100];
    snprintf(path, sizeof path, "%s.%s", test_tmp(tag), ext);
    char *s = test_read_file(path, NULL);
    return s ? s : calloc(1, 1);
}

char *cli_run_stdout(const char *tag) { return captured(tag, "out"); }
char *cli_run_stderr(const char *tag) { return captured(tag, "err"); }

bool cli_path_exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

int cli_temporaries_in(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}
