/* atomic_file.c — temp-file-then-rename output (POSIX). */
#define _POSIX_C_SOURCE 200809L
#include "atomic_file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

static void atomic_file_release(lorc_atomic_file *af) {
    free(af->final_path);
    free(af->temp_path);
    af->fp = NULL;
    af->final_path = NULL;
    af->temp_path = NULL;
}

lorc_status lorc_atomic_file_open(lorc_atomic_file *af, const char *path, lorc_error *err) {
    memset(af, 0, sizeof *af);
    size_t n = strlen(path);
    af->final_path = strdup(path);
    af->temp_path = malloc(n + 16);
    if (!af->final_path || !af->temp_path) {
        atomic_file_release(af);
        return lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory", path);
    }
    /* mkstemp keeps concurrent writers of the same output apart */
    snprintf(af->temp_path, n + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(af->temp_path);
    if (fd < 0) {
        int e = errno;
        atomic_file_release(af);
        return lorc_fail(err, LORC_ERR_IO, "%s: cannot create temporary file: %s", path, strerror(e));
    }
    /* mkstemp creates 0600; outputs are ordinary files others may read */
    fchmod(fd, 0644);
    af->fp = fdopen(fd, "wb");
    if (!af->fp) {
        int e = errno;
        close(fd);
        unlink(af->temp_path);
        atomic_file_release(af);
        return lorc_fail(err, LORC_ERR_IO, "%s: %s", path, strerror(e));
    }
    return LORC_OK;
}

lorc_status lorc_atomic_file_commit(lorc_atomic_file *af, lorc_error *err) {
    int bad = ferror(af->fp) || fflush(af->fp) != 0 || fsync(fileno(af->fp)) != 0;
    int e = errno;
    if (fclose(af->fp) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    af->fp = NULL;
    if (!bad && rename(af->temp_path, af->final_path) != 0) {
        bad = 1;
        e = errno;
    }
    if (bad) {
        unlink(af->temp_path);
        lorc_status st = lorc_fail(err, LORC_ERR_IO, "%s: write failed: %s", af->final_path, strerror(e));
        atomic_file_release(af);
        return st;
    }
    atomic_file_release(af);
    return LORC_OK;
}

void lorc_atomic_file_abort(lorc_atomic_file *af) {
    if (!af) return;
    if (af->fp) fclose(af->fp);
    if (af->temp_path) unlink(af->temp_path);
    atomic_file_release(af);
}
