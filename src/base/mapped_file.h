/* mapped_file.h — a whole file mapped read-only into memory.
 * Model weights are used in place from this mapping; nothing is copied. */
#ifndef LORC_BASE_MAPPED_FILE_H
#define LORC_BASE_MAPPED_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "lorc.h"

typedef struct lorc_mapped_file {
    const uint8_t *data; /* owned mapping (NULL for an empty file) */
    size_t size;
} lorc_mapped_file;

lorc_status lorc_mapped_file_open(lorc_mapped_file *mf, const char *path, lorc_error *err);
void lorc_mapped_file_close(lorc_mapped_file *mf);

#endif
