/* atomic_file.c — temp-file-then-rename output (POSIX). */
#define _XOPEN_SOURCE 700 /* realpath, lstat */
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

/* The path the output will be renamed to. rename() replaces whatever the name
 * holds, so anything but a regular file (a device node such as /dev/null, a
 * FIFO, a socket, a directory) is refused rather than silently replaced by a
 * regular file. A symlink to a regular file is followed: its target is
 * replaced atomically (temporary file next to the target) and the link stays;
 * a dangling symlink or one to anything else is refused. A name that does
 * not exist yet is a new file. (The check and the rename are not atomic
 * together; this guards against mistakes, not against a concurrent attacker
 * who controls the directory.) */
static lorc_status resolve_output(const char *path, char **out, lorc_error *err) {
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno != ENOENT) return lorc_fail(err, LORC_ERR_IO, "%s: %s", path, strerror(errno));
        *out = strdup(path);
    } else if (S_ISREG(st.st_mode)) {
        *out = strdup(path);
    } else if (S_ISLNK(st.st_mode) && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
        *out = realpath(path, NULL);
        if (!*out && errno != ENOMEM) return lorc_fail(err, LORC_ERR_IO, "%s: %s", path, strerror(errno));
    } else {
        return lorc_fail(err, LORC_ERR_INVALID, "refusing to replace %s: not a regular file", path);
    }
    if (!*out) return lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory", path);
    return LORC_OK;
}

lorc_status lorc_atomic_file_open(lorc_atomic_file *af, const char *path, lorc_error *err) {
    memset(af, 0, sizeof *af);
    lorc_status st = resolve_output(path, &af->final_path, err);
    if (st != LORC_OK) return st;
    size_t n = strlen(af->final_path);
    af->temp_path = malloc(n + 16);
    if (!af->temp_path) {
        atomic_file_release(af);
        return lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory", path);
    }
    /* mkstemp keeps concurrent writers of the same output apart */
    snprintf(af->temp_path, n + 16, "%s.tmp.XXXXXX", af->final_path);
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
