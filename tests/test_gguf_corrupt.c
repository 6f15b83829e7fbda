/* test_gguf_corrupt.c — the GGUF reader against broken files: every
 * truncation, absurd values in every header field, bad offsets, duplicate
 * names, overflowing dims, random byte flips. Each must fail with one line
 * naming the file (and never read out of bounds: run under ASan). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "tensor/types.h"
#include "testutil.h"

#define NAME "bad.gguf"

/* ------------------------------------------------- the valid sample */

static uint8_t *sample;
static size_t sample_len;
static size_t sample_min_len; /* shortest prefix still valid (end of the last tensor's data) */

static void make_sample(void) {
    gguf_writer *w = gguf_writer_new();
    float a[16], c[4];
    uint16_t b[32];
    for (int i = 0; i < 16; i++) a[i] = (float)i;
    for (int i = 0; i < 32; i++) b[i] = (uint16_t)(0x3c00 + i);
    for (int i = 0; i < 4; i++) c[i] = -1.0f;
    uint32_t arr[3] = {1, 2, 3};
    const char *strs[2] = {"ab", "cd"};
    gguf_writer_set_str(w, "general.architecture", "llama");
    gguf_writer_set_u32(w, "general.alignment", 32);
    gguf_writer_set_arr(w, "a.u32", GGUF_TYPE_UINT32, arr, 3);
    gguf_writer_set_arr_str(w, "a.str", strs, 2);
    gguf_writer_set_f32(w, "t.f32", 0.5f);
    gguf_writer_set_bool(w, "t.bool", true);
    gguf_writer_set_u32(w, "k.one", 1);
    gguf_writer_set_u32(w, "k.two", 2);
    int64_t ne_a[2] = {8, 2}, ne_b[1] = {32}, ne_c[1] = {4};
    gguf_writer_add_tensor(w, "a.weight", LORC_TYPE_F32, 2, ne_a, a);
    gguf_writer_add_tensor(w, "b.weight", LORC_TYPE_F16, 1, ne_b, b);
    gguf_writer_add_tensor(w, "c.weight", LORC_TYPE_F32, 1, ne_c, c);
    lorc_error err = {0};
    const char *path = test_tmp("gguf_corrupt_sample.gguf");
    CHECK_MSG(gguf_writer_write(w, path, NULL, NULL, &err) == LORC_OK, "%s", err.message);
    gguf_writer_free(w);
    sample = (uint8_t *)test_read_file(path, &sample_len);
    CHECK(sample != NULL);
    gguf_file *f = NULL;
    CHECK_MSG(gguf_open_memory(sample, sample_len, NAME, &f, &err) == LORC_OK, "%s", err.message);
    sample_min_len = 0;
    for (uint64_t i = 0; f && i < f->n_tensors; i++) {
        uint64_t end = f->data_offset + f->tensors[i].offset + f->tensors[i].nbytes;
        if (end > sample_min_len) sample_min_len = (size_t)end;
    }
    CHECK(sample_min_len > 0 && sample_min_len <= sample_len);
    gguf_close(f);
}

/* ------------------------------------------------- field map of the sample */

typedef enum field_kind {
    F_MAGIC, F_VERSION, F_N_TENSORS, F_N_KV, F_KEY_LEN, F_VALUE_TYPE, F_ARR_TYPE, F_ARR_LEN, F_STR_LEN,
    F_BOOL, F_ALIGNMENT, F_NAME_LEN, F_N_DIMS, F_DIM, F_TYPE_ID, F_OFFSET, F_KIND_COUNT
} field_kind;

static const char *const kind_names[F_KIND_COUNT] = {
    "magic", "version", "n_tensors", "n_kv", "key length", "value type", "array type", "array length",
    "string length", "bool", "alignment", "tensor name length", "n_dims", "dim", "tensor type", "offset"};

typedef struct field {
    field_kind kind;
    size_t off;
    int size; /* 1, 4 or 8 bytes */
} field;

static field fields[256];
static int n_fields;

static uint64_t get_le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void put_le(uint8_t *p, int n, uint64_t v) {
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void add_field(field_kind k, size_t off, int size) {
    if (n_fields < (int)(sizeof fields / sizeof fields[0])) fields[n_fields++] = (field){k, off, size};
}

/* Walks the (trusted, valid) sample and records where each field sits. */
static void map_fields(void) {
    size_t p = 0;
    add_field(F_MAGIC, 0, 4);
    add_field(F_VERSION, 4, 4);
    add_field(F_N_TENSORS, 8, 8);
    add_field(F_N_KV, 16, 8);
    uint64_t n_tensors = get_le(sample + 8, 8), n_kv = get_le(sample + 16, 8);
    p = 24;
    for (uint64_t i = 0; i < n_kv; i++) {
        uint64_t klen = get_le(sample + p, 8);
        add_field(F_KEY_LEN, p, 8);
        bool is_align = klen == 17 && !memcmp(sample + p + 8, "general.alignment", 17);
        p += 8 + klen;
        uint32_t t = (uint32_t)get_le(sample + p, 4);
        add_field(F_VALUE_TYPE, p, 4);
        p += 4;
        if (t == GGUF_TYPE_STRING) {
            add_field(F_STR_LEN, p, 8);
            p += 8 + get_le(sample + p, 8);
        } else if (t == GGUF_TYPE_ARRAY) {
            uint32_t et = (uint32_t)get_le(sample + p, 4);
            add_field(F_ARR_TYPE, p, 4);
            p += 4;
            uint64_t n = get_le(sample + p, 8);
            add_field(F_ARR_LEN, p, 8);
            p += 8;
            for (uint64_t j = 0; j < n; j++) {
                if (et == GGUF_TYPE_STRING) {
                    add_field(F_STR_LEN, p, 8);
                    p += 8 + get_le(sample + p, 8);
                } else {
                    p += gguf_value_type_size((gguf_value_type)et);
                }
            }
        } else {
            if (t == GGUF_TYPE_BOOL) add_field(F_BOOL, p, 1);
            if (is_align) add_field(F_ALIGNMENT, p, 4);
            p += gguf_value_type_size((gguf_value_type)t);
        }
    }
    for (uint64_t i = 0; i < n_tensors; i++) {
        add_field(F_NAME_LEN, p, 8);
        p += 8 + get_le(sample + p, 8);
        uint32_t nd = (uint32_t)get_le(sample + p, 4);
        add_field(F_N_DIMS, p, 4);
        p += 4;
        for (uint32_t d = 0; d < nd; d++) {
            add_field(F_DIM, p, 8);
            p += 8;
        }
        add_field(F_TYPE_ID, p, 4);
        p += 4;
        add_field(F_OFFSET, p, 8);
        p += 8;
    }
}

static const field *find_field(field_kind k, int nth) {
    for (int i = 0; i < n_fields; i++)
        if (fields[i].kind == k && nth-- == 0) return &fields[i];
    return NULL;
}

/* ------------------------------------------------- checking one buffer */

/* Opens `len` bytes from an exact-size heap copy (so ASan sees any
 * over-read) and returns the status; on failure checks the message shape. */
static lorc_status open_copy(const uint8_t *data, size_t len, lorc_error *err, const char *what) {
    uint8_t *copy = malloc(len ? len : 1);
    if (len) memcpy(copy, data, len);
    gguf_file *f = (gguf_file *)(uintptr_t)1;
    memset(err, 0, sizeof *err);
    lorc_status st = gguf_open_memory(len ? copy : NULL, len, NAME, &f, err);
    if (st == LORC_OK) {
        /* touch everything the reader hands out */
        volatile unsigned sum = 0;
        for (uint64_t i = 0; i < f->n_kv; i++) {
            const gguf_kv *kv = &f->kv[i];
            if (kv->type == GGUF_TYPE_STRING)
                for (uint64_t j = 0; j < kv->str.len; j++) sum += (unsigned char)kv->str.ptr[j];
            if (kv->type == GGUF_TYPE_ARRAY && kv->arr_type == GGUF_TYPE_STRING)
                for (uint64_t j = 0; j < kv->arr_len; j++)
                    for (uint64_t c = 0; c < kv->arr_strs[j].len; c++) sum += (unsigned char)kv->arr_strs[j].ptr[c];
            if (kv->type == GGUF_TYPE_ARRAY && kv->arr_type != GGUF_TYPE_STRING)
                for (uint64_t j = 0; j < kv->arr_len; j++) sum += (unsigned)gguf_arr_get_i64(kv, j);
        }
        for (uint64_t i = 0; i < f->n_tensors; i++) {
            const uint8_t *d = f->tensors[i].data;
            sum += d[0] + d[f->tensors[i].nbytes - 1];
        }
        (void)sum;
        gguf_close(f);
    } else {
        CHECK_MSG(f == NULL, "%s: out pointer not cleared", what);
        size_t n = strlen(err->message);
        CHECK_MSG(n > strlen(NAME) + 2 && !strncmp(err->message, NAME ": ", strlen(NAME) + 2),
                  "%s: message does not start with the file name: '%s'", what, err->message);
        CHECK_MSG(!strchr(err->message, '\n'), "%s: message has several lines: '%s'", what, err->message);
        CHECK_MSG(err->status == st, "%s: err->status %d vs %d", what, err->status, st);
    }
    free(copy);
    return st;
}

/* A mutated sample must be refused; `expect` (may be NULL) must appear in the message. */
static void expect_fail(const uint8_t *data, size_t len, const char *what, const char *expect) {
    lorc_error err;
    lorc_status st = open_copy(data, len, &err, what);
    CHECK_MSG(st != LORC_OK, "%s: accepted", what);
    if (st != LORC_OK && expect)
        CHECK_MSG(strstr(err.message, expect) != NULL, "%s: message '%s' lacks '%s'", what, err.message, expect);
}

/* ------------------------------------------------- the cases */

static void test_truncation(void) {
    int refused = 0, accepted = 0;
    for (size_t len = 0; len < sample_len; len++) {
        lorc_error err;
        char what[64];
        snprintf(what, sizeof what, "truncated to %zu bytes", len);
        lorc_status st = open_copy(sample, len, &err, what);
        if (len < sample_min_len) {
            CHECK_MSG(st != LORC_OK, "%s: accepted", what);
            refused++;
        } else {
            /* only the padding after the last tensor is missing: still valid */
            CHECK_MSG(st == LORC_OK, "%s: %s", what, err.message);
            accepted++;
        }
    }
    CHECK(refused > 100);
}

static void test_header_fields(void) {
    const uint64_t huge = UINT64_MAX, big = 1ull << 62, top = 1ull << 63;
    const uint64_t size = sample_len;
    /* absurd values for each kind of field; all must be refused */
    static uint64_t values[F_KIND_COUNT][8];
    static int n_values[F_KIND_COUNT];
#define SETV(k, ...)                                                     \
    do {                                                                 \
        uint64_t v_[] = {__VA_ARGS__};                                   \
        n_values[k] = (int)(sizeof v_ / sizeof v_[0]);                   \
        memcpy(values[k], v_, sizeof v_);                                \
    } while (0)
    SETV(F_MAGIC, 0, 0x46554746u /* "FGUF" */, 0xffffffffu, 0x47475546u);
    SETV(F_VERSION, 0, 1, 4, 0xffffffffu, 0x03000000u);
    SETV(F_N_TENSORS, huge, top, 1ull << 32, size);
    SETV(F_N_KV, huge, top, 1ull << 32, size);
    SETV(F_KEY_LEN, 0, huge, top, size);
    SETV(F_VALUE_TYPE, 13, 1000, 0xffffffffu);
    SETV(F_ARR_TYPE, 9, 13, 0xffffffffu);
    SETV(F_ARR_LEN, huge, big, top, size);
    SETV(F_STR_LEN, huge, top, size);
    SETV(F_BOOL, 2, 255);
    SETV(F_ALIGNMENT, 0, 3, 48, 0xffffffffu, 0x80000000u);
    SETV(F_NAME_LEN, 0, huge, top, size);
    SETV(F_N_DIMS, 0, 5, 0xffffffffu);
    SETV(F_DIM, 0, huge, big, top, 1ull << 32 | 8);
    SETV(F_TYPE_ID, 4, 5, 40, 1000, 0xffffffffu, LORC_TYPE_IQ2_XXS, LORC_TYPE_TQ1_0);
    SETV(F_OFFSET, 1, huge & ~31ull, (size + 31) & ~31ull, 1ull << 40, 16);
#undef SETV
    int seen[F_KIND_COUNT] = {0};
    uint8_t *buf = malloc(sample_len);
    for (int i = 0; i < n_fields; i++) {
        const field *fd = &fields[i];
        seen[fd->kind]++;
        uint64_t orig = get_le(sample + fd->off, fd->size);
        for (int j = 0; j < n_values[fd->kind]; j++) {
            uint64_t v = values[fd->kind][j];
            if (v == orig) continue;
            memcpy(buf, sample, sample_len);
            put_le(buf + fd->off, fd->size, v);
            char what[128];
            snprintf(what, sizeof what, "%s at byte %zu = %llu", kind_names[fd->kind], fd->off, (unsigned long long)v);
            const char *expect = NULL;
            if (fd->kind == F_TYPE_ID && v == LORC_TYPE_IQ2_XXS) expect = "has type IQ2_XXS, which lorc does not support";
            if (fd->kind == F_TYPE_ID && v == LORC_TYPE_TQ1_0) expect = "TQ1_0";
            if (fd->kind == F_TYPE_ID && v == 1000) expect = "unknown type id 1000";
            if (fd->kind == F_VERSION && v == 1) expect = "version 1";
            if (fd->kind == F_MAGIC) expect = "not a GGUF file";
            if (fd->kind == F_ARR_TYPE && v == 9) expect = "array of arrays";
            if (fd->kind == F_ALIGNMENT && v != 0x80000000u) expect = "alignment";
            if (fd->kind == F_N_DIMS) expect = "dimensions";
            expect_fail(buf, sample_len, what, expect);
        }
    }
    for (int k = 0; k < F_KIND_COUNT; k++) CHECK_MSG(seen[k] > 0, "no %s field in the sample", kind_names[k]);
    free(buf);
}

/* Overwrites `len` bytes at the first occurrence of `from` in buf's header. */
static bool patch(uint8_t *buf, size_t limit, const char *from, const char *to) {
    size_t n = strlen(from);
    for (size_t i = 0; i + n <= limit; i++)
        if (!memcmp(buf + i, from, n)) {
            memcpy(buf + i, to, n);
            return true;
        }
    return false;
}

static void test_crafted(void) {
    uint8_t *buf = malloc(sample_len);
    const field *fd;

    /* duplicate tensor names / keys */
    memcpy(buf, sample, sample_len);
    CHECK(patch(buf, sample_len, "b.weight", "a.weight"));
    expect_fail(buf, sample_len, "duplicate tensor", "duplicate tensor name 'a.weight'");
    memcpy(buf, sample, sample_len);
    CHECK(patch(buf, sample_len, "k.two", "k.one"));
    expect_fail(buf, sample_len, "duplicate key", "duplicate key 'k.one'");
    memcpy(buf, sample, sample_len);
    CHECK(patch(buf, sample_len, "k.two", "k\0two"));
    expect_fail(buf, sample_len, "NUL in key", "NUL");

    /* dims whose product overflows, and one that makes the byte size overflow */
    memcpy(buf, sample, sample_len);
    put_le(buf + find_field(F_DIM, 0)->off, 8, 1ull << 32);
    put_le(buf + find_field(F_DIM, 1)->off, 8, 1ull << 32);
    expect_fail(buf, sample_len, "dims product overflow", "overflow");
    memcpy(buf, sample, sample_len);
    put_le(buf + find_field(F_DIM, 0)->off, 8, 1ull << 62);
    expect_fail(buf, sample_len, "byte size overflow", "a.weight");
    memcpy(buf, sample, sample_len);
    put_le(buf + find_field(F_DIM, 0)->off, 8, 1ull << 40);
    expect_fail(buf, sample_len, "data past the end", "beyond the end");

    /* offsets: past the end, misaligned, overflowing with the size */
    fd = find_field(F_OFFSET, 2);
    memcpy(buf, sample, sample_len);
    put_le(buf + fd->off, 8, (sample_len + 31) & ~(size_t)31);
    expect_fail(buf, sample_len, "offset past the end", "'c.weight' data");
    memcpy(buf, sample, sample_len);
    put_le(buf + fd->off, 8, get_le(sample + fd->off, 8) + 4);
    expect_fail(buf, sample_len, "misaligned offset", "not a multiple of the alignment 32");
    memcpy(buf, sample, sample_len);
    put_le(buf + fd->off, 8, UINT64_MAX - 31);
    expect_fail(buf, sample_len, "offset + size overflow", "c.weight");

    /* row length not a multiple of the block: an F32 [8,2] tensor relabelled Q8_0 */
    memcpy(buf, sample, sample_len);
    put_le(buf + find_field(F_TYPE_ID, 0)->off, 4, LORC_TYPE_Q8_0);
    expect_fail(buf, sample_len, "row not a block multiple", "block size");

    /* general.alignment stored with another integer type */
    fd = find_field(F_ALIGNMENT, 0);
    memcpy(buf, sample, sample_len);
    put_le(buf + fd->off - 4, 4, GGUF_TYPE_INT32);
    expect_fail(buf, sample_len, "alignment as i32", "general.alignment' has type i32");

    /* version 2 has the same layout: accepted */
    memcpy(buf, sample, sample_len);
    put_le(buf + 4, 4, 2);
    lorc_error err;
    CHECK_MSG(open_copy(buf, sample_len, &err, "version 2") == LORC_OK, "%s", err.message);

    /* tiny files */
    expect_fail((const uint8_t *)"", 0, "empty", "not a GGUF file");
    expect_fail((const uint8_t *)"GGU", 3, "3 bytes", "not a GGUF file");
    expect_fail((const uint8_t *)"GGUF", 4, "magic only", "truncated");
    expect_fail((const uint8_t *)"GGUF\3\0\0\0", 8, "no counts", "truncated");
    free(buf);
}

/* Random 1..4 byte changes in the header: no crash, well-formed messages. */
static void test_random_flips(void) {
    uint64_t s = 0x9e3779b97f4a7c15ull;
    uint8_t *buf = malloc(sample_len);
    size_t header = fields[n_fields - 1].off + 8;
    int refused = 0;
    for (int iter = 0; iter < 4000; iter++) {
        memcpy(buf, sample, sample_len);
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        int flips = 1 + (int)(s % 4);
        for (int k = 0; k < flips; k++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            size_t at = (size_t)(s % header);
            buf[at] = (uint8_t)(s >> 32);
        }
        lorc_error err;
        if (open_copy(buf, sample_len, &err, "random flips") != LORC_OK) refused++;
    }
    CHECK(refused > 1000);
    free(buf);
}

int main(void) {
    make_sample();
    if (!sample) return test_finish("test_gguf_corrupt");
    map_fields();
    test_truncation();
    test_header_fields();
    test_crafted();
    test_random_flips();
    free(sample);
    return test_finish("test_gguf_corrupt");
}
