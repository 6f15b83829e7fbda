/* text_file.h — reading a whole text file (prompts, evaluation texts). */
#ifndef LORC_TOOLS_TEXT_FILE_H
#define LORC_TOOLS_TEXT_FILE_H

#include <stddef.h>

#include "lorc.h"

/* Returns the malloc'd contents (NUL-terminated; *len excludes the NUL), or
 * NULL with a one-line error naming the file. */
char *text_file_read(const char *path, size_t *len, lorc_error *err);

#endif
