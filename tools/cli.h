/* cli.h — helpers shared by the CLI subcommands: strict number parsing,
 * one-line errors, and a progress bar drawn only when stdout is a terminal. */
#ifndef LORC_TOOLS_CLI_H
#define LORC_TOOLS_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "lorc.h"

/* Strict parses: the whole string must be a number in range. On failure they
 * print "lorc CMD: invalid value 'S' for OPT" and return false. */
bool cli_parse_int(const char *cmd, const char *opt, const char *s, long min, long max, long *out);
bool cli_parse_float(const char *cmd, const char *opt, const char *s, float *out);
/* cli_parse_float within [lo, hi], or (lo, hi] when lo_open; the message
 * names the interval. */
bool cli_parse_float_in(const char *cmd, const char *opt, const char *s, float lo, float hi, bool lo_open, float *out);
bool cli_parse_u64(const char *cmd, const char *opt, const char *s, uint64_t *out);
/* A byte count with an optional K, M or G suffix (powers of 1024). */
bool cli_parse_bytes(const char *cmd, const char *opt, const char *s, size_t *out);

/* True when argv[*i] is `opt`; then *val is the next argument (a usage error
 * naming the subcommand argv[0], and *missing = true, when there is none).
 * Advances *i past the value. */
bool cli_opt(int argc, char **argv, int *i, const char *opt, const char **val, bool *missing);

/* A usage error: prints the one line "lorc CMD: <message> (see 'lorc CMD
 * --help')" (never the whole usage) and returns 1. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Prints "lorc CMD: <message>" for a failed library call, returns 1. */
int cli_fail(const char *cmd, const lorc_error *err);

/* False (after printing "lorc CMD: OUT: is the input file IN ...") when the
 * output path names the same file as one of the inputs (a PEFT directory
 * input: its adapter_model.safetensors or adapter_config.json). Writing
 * there would replace an input the user still needs; NULL inputs are skipped. */
bool cli_output_is_new(const char *cmd, const char *out, const char *const *inputs, int n_inputs);

/* Progress bar on stdout when it is a terminal; no-op otherwise. Matches
 * lorc_progress_fn; `user` is the label (const char *). */
void cli_progress(void *user, uint64_t done, uint64_t total);

/* Seconds on the monotonic clock (for elapsed times). */
double cli_now_seconds(void);

#endif
