/* fingerprint.h — xxhash64 fingerprints that tie an overlay to its base:
 * one of a GGUF's tensor table (names, types, shapes in file order) and one
 * of a tensor's bytes. Both are written as 16 lower-case hex digits. */
#ifndef LORC_ADAPTER_FINGERPRINT_H
#define LORC_ADAPTER_FINGERPRINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf.h"

#define LORC_FINGERPRINT_HEX_LEN 16

/* xxhash64 (seed 0) of the tensor table: for each tensor in file order, its
 * name bytes and a NUL, then type, n_dims and each of the n_dims dims as
 * little-endian u32, u32, i64. Data offsets and metadata are not included,
 * so re-writing a file with other metadata keeps the fingerprint. */
uint64_t lorc_fingerprint_table(const gguf_file *f);

/* xxhash64 (seed 0) of n bytes. */
uint64_t lorc_fingerprint_bytes(const void *data, size_t n);

/* Writes 16 lower-case hex digits and a NUL into buf (17 bytes). */
void lorc_fingerprint_to_hex(uint64_t fp, char buf[LORC_FINGERPRINT_HEX_LEN + 1]);
/* Parses exactly 16 hex digits (either case); false otherwise. */
bool lorc_fingerprint_from_hex(const char *s, size_t len, uint64_t *out);

#endif
