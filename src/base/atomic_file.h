/* atomic_file.h — write a file under a temporary name, rename on success.
 * A failed or interrupted write never leaves a half-written output. */
#ifndef LORC_BASE_ATOMIC_FILE_H
#define LORC_BASE_ATOMIC_FILE_H

#include <stdint.h>
#include <stdio.h>

#include "lorc.h"

typedef struct lorc_atomic_file {
    FILE *fp;           /* owned; write through this */
    char *final_path;   /* owned */
    char *temp_path;    /* owned */
} lorc_atomic_file;

lorc_status lorc_atomic_file_open(lorc_atomic_file *af, const char *path, lorc_error *err);
/* Flushes, syncs and renames over the final path; frees af either way. */
lorc_status lorc_atomic_file_commit(lorc_atomic_file *af, lorc_error *err);
/* Closes and deletes the temporary; frees af. Safe on a zeroed af. */
void lorc_atomic_file_abort(lorc_atomic_file *af);

/* Progress reporting from long library operations (the CLI draws the bar). */
typedef void (*lorc_progress_fn)(void *user, uint64_t done, uint64_t total);

#endif
