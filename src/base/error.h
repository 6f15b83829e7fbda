/* error.h — filling a lorc_error: one formatted line plus a status code.
 * Library code reports failures only through this; it never prints. */
#ifndef LORC_BASE_ERROR_H
#define LORC_BASE_ERROR_H

#include "lorc.h"

#if defined(__GNUC__)
#define LORC_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define LORC_PRINTF(a, b)
#endif

/* Writes the message (when err is not NULL; control bytes quoted from files
 * become '?' so it stays one line) and returns `status`, so a
 * failure path reads `return lorc_fail(err, LORC_ERR_FORMAT, "%s: ...", path);` */
lorc_status lorc_fail(lorc_error *err, lorc_status status, const char *fmt, ...) LORC_PRINTF(3, 4);

/* Prepends "prefix: " to an existing message (adds context on the way up). */
void lorc_error_prefix(lorc_error *err, const char *fmt, ...) LORC_PRINTF(2, 3);

#endif
