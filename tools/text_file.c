/* text_file.c — whole-file reads for the CLI's text inputs. */
#include "text_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

char *text_file_read(const char *path, size_t *len, lorc_error *err) {
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        lorc_fail(err, LORC_ERR_IO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    /* Read in growing blocks: works for pipes and files alike. */
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        n += fread(buf + n, 1, cap - n, fp);
        if (n < cap) break;
        char *b = cap > ((size_t)-1) / 4 ? NULL : realloc(buf, 2 * cap + 1);
        if (!b) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = b;
        cap *= 2;
    }
    if (!buf) {
        fclose(fp);
        lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    if (ferror(fp)) {
        int e = errno;
        fclose(fp);
        free(buf);
        lorc_fail(err, LORC_ERR_IO, "%s: read failed: %s", path, strerror(e));
        return NULL;
    }
    fclose(fp);
    buf[n] = 0;
    *len = n;
    return buf;
}
