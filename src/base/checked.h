/* checked.h — overflow-checked size arithmetic for numbers read from files.
 * Every product or sum of untrusted counts goes through these. */
#ifndef LORC_BASE_CHECKED_H
#define LORC_BASE_CHECKED_H

#include <stdbool.h>
#include <stdint.h>

/* Each returns false (and leaves *out unspecified) on overflow. */
static inline bool lorc_mul_u64(uint64_t a, uint64_t b, uint64_t *out) { return !__builtin_mul_overflow(a, b, out); }
static inline bool lorc_add_u64(uint64_t a, uint64_t b, uint64_t *out) { return !__builtin_add_overflow(a, b, out); }

#endif
