/* cli.c — number parsing, error printing and the progress bar of the CLI. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

bool cli_parse_int(const char *cmd, const char *opt, const char *s, long min, long max, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        fprintf(stderr, "lorc %s: invalid value '%s' for %s (expected an integer in %ld..%ld)\n", cmd, s, opt, min, max);
        return false;
    }
    *out = v;
    return true;
}

bool cli_parse_float(const char *cmd, const char *opt, const char *s, float *out) {
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || end == s || *end || !isfinite(v)) {
        fprintf(stderr, "lorc %s: invalid value '%s' for %s (expected a number)\n", cmd, s, opt);
        return false;
    }
    *out = v;
    return true;
}

bool cli_parse_float_in(const char *cmd, const char *opt, const char *s, float lo, float hi, bool lo_open, float *out) {
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    bool in = lo_open ? v > lo : v >= lo;
    if (errno || end == s || *end || !isfinite(v) || !in || !(v <= hi)) {
        fprintf(stderr, "lorc %s: invalid value '%s' for %s (expected a number in %c%g, %g])\n", cmd, s, opt,
                lo_open ? '(' : '[', (double)lo, (double)hi);
        return false;
    }
    *out = v;
    return true;
}

bool cli_parse_u64(const char *cmd, const char *opt, const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || *s == '-') {
        fprintf(stderr, "lorc %s: invalid value '%s' for %s (expected a non-negative integer)\n", cmd, s, opt);
        return false;
    }
    *out = (uint64_t)v;
    return true;
}

bool cli_opt(int argc, char **argv, int *i, const char *opt, const char **val, bool *missing) {
    if (strcmp(argv[*i], opt) != 0) return false;
    if (*i + 1 >= argc) {
        cli_usage_error(argv[0], "option %s needs a value", opt); /* argv[0]: the subcommand */
        *missing = true;
        *val = NULL;
        return true;
    }
    *val = argv[++*i];
    return true;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "lorc %s: %s (see 'lorc %s --help')\n", cmd, msg, cmd);
    return 1;
}

int cli_fail(const char *cmd, const lorc_error *err) {
    fprintf(stderr, "lorc %s: %s\n", cmd, err->message);
    return 1;
}

static bool same_file(const struct stat *o, const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && st.st_dev == o->st_dev && st.st_ino == o->st_ino;
}

bool cli_output_is_new(const char *cmd, const char *out, const char *const *inputs, int n_inputs) {
    struct stat o;
    if (!out || stat(out, &o) != 0) return true; /* a new file cannot be an input */
    for (int i = 0; i < n_inputs; i++) {
        const char *in = inputs[i];
        struct stat st;
        if (!in || stat(in, &st) != 0) continue;
        bool hit = st.st_dev == o.st_dev && st.st_ino == o.st_ino;
        if (!hit && S_ISDIR(st.st_mode)) {
            static const char *const peft_files[] = {"adapter_model.safetensors", "adapter_config.json"};
            for (int k = 0; k < 2 && !hit; k++) {
                char p[4096];
                if ((size_t)snprintf(p, sizeof p, "%s/%s", in, peft_files[k]) < sizeof p) hit = same_file(&o, p);
            }
        }
        if (hit) {
            fprintf(stderr, "lorc %s: %s: is the input file %s; write the output to another path\n", cmd, out, in);
            return false;
        }
    }
    return true;
}

void cli_progress(void *user, uint64_t done, uint64_t total) {
    if (!isatty(STDOUT_FILENO) || total == 0) return;
    const char *label = user ? (const char *)user : "";
    int width = 40;
    int filled = (int)((double)done / (double)total * width);
    if (filled > width) filled = width;
    printf("\r%s [", label);
    for (int i = 0; i < width; i++) putchar(i < filled ? '#' : ' ');
    printf("] %3d%%", (int)(100.0 * (double)done / (double)total));
    if (done >= total) putchar('\n');
    fflush(stdout);
}

bool cli_parse_bytes(const char *cmd, const char *opt, const char *s, size_t *out) {
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10), mul = 1;
    if (end != s && *end && !end[1]) {
        switch (*end) {
        case 'K': case 'k': mul = 1ull << 10; end++; break;
        case 'M': case 'm': mul = 1ull << 20; end++; break;
        case 'G': case 'g': mul = 1ull << 30; end++; break;
        default: break;
        }
    }
    if (end == s || *end || s[0] == '-' || v > SIZE_MAX / mul) {
        cli_usage_error(cmd, "invalid value '%s' for %s (bytes, with an optional K/M/G suffix)", s, opt);
        return false;
    }
    *out = (size_t)(v * mul);
    return true;
}

double cli_now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
