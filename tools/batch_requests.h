/* batch_requests.h — `lorc batch`'s input: one JSON object per line of a
 * JSONL file, checked field by field into a request (docs/batch.md lists
 * the fields), and the result objects written back. */
#ifndef LORC_TOOLS_BATCH_REQUESTS_H
#define LORC_TOOLS_BATCH_REQUESTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "lorc.h"
#include "text_buf.h"

enum { BATCH_MAX_ADAPTERS = 16 };

typedef struct batch_line {
    int line_no;       /* 1-based line of the input file */
    json_t *id;        /* owned reference: the id to echo (JSON null when unknown) */
    char *error;       /* owned; non-NULL: the line is refused with this one-line message */
    char *prompt;      /* owned */
    lorc_adapter_use adapters[BATCH_MAX_ADAPTERS]; /* names owned */
    int n_adapters;
    char *overlay;     /* owned; NULL: none */
    lorc_sampler_params sampling;
    long max_tokens;   /* -1: not given (the command's default applies) */
    /* Filled while the request runs. */
    int32_t prev;      /* the token before the next generated one (for its piece's leading space) */
    text_buf text;     /* the generated text so far */
} batch_line;

/* The sampling every field not given in a line falls back to: greedy
 * (temperature 0), otherwise `lorc run`'s defaults. */
lorc_sampler_params batch_default_sampling(void);

/* Parses one line (not NUL-terminated; `len` bytes). Always fills *out: on
 * a bad line out->error names the line and the problem. Returns false only
 * when out of memory. */
bool batch_line_parse(const char *text, size_t len, int line_no, batch_line *out);
void batch_line_free(batch_line *l);
/* Sets l->error to "line N: <message>" (replacing any earlier one). */
bool batch_line_fail(batch_line *l, const char *message);

/* Writes the result object of a finished request (ev: its DONE event), or
 * of a refused line (ev NULL: {"id", "error"}), as one line to fp. */
bool batch_write_result(FILE *fp, const batch_line *l, const lorc_event *ev);

#endif
