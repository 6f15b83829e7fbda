/* test_gguf.c — GGUF writer -> reader round trips (every value type, arrays,
 * tensors of several types, alignment, copy_kv, atomic failure) and reading
 * the real files in shared/. The corruption suite is test_gguf_corrupt.c. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format/gguf.h"
#include "tensor/types.h"
#include "testutil.h"

static bool file_exists(const char *path) { return access(path, F_OK) == 0; }

/* True when some "<name>.tmp.*" leftover of an atomic write exists in the tmp dir. */
static bool temp_leftover(const char *name) {
    const char *dir = test_tmp("");
    DIR *d = opendir(dir);
    if (!d) return false;
    char prefix[256];
    snprintf(prefix, sizeof prefix, "%s.tmp.", name);
    bool found = false;
    struct dirent *e;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, prefix, strlen(prefix))) found = true;
    closedir(d);
    return found;
}

/* ------------------------------------------------------- round trip */

static uint8_t u8s[] = {0, 1, 255};
static int8_t i8s[] = {-128, 0, 127};
static uint16_t u16s[] = {0, 65535, 1234};
static int16_t i16s[] = {-32768, 32767, -1};
static uint32_t u32s[] = {0, 4294967295u, 7};
static int32_t i32s[] = {-2147483647 - 1, 2147483647, -5};
static float f32s[] = {1.5f, -0.25f, 1e30f};
static uint8_t bools[] = {1, 0, 1, 1};
static uint64_t u64s[] = {0, UINT64_MAX, 1ull << 40};
static int64_t i64s[] = {INT64_MIN, INT64_MAX, -3};
static double f64s[] = {3.141592653589793, -1e300, 0.0};
static const char *const strs[] = {"hello", "", "ünïcödé ▁tok", "a\"b\\c"};

#define TEST_ROWS 4
typedef struct lazy_src {
    const uint8_t *bytes;
    uint64_t n;
    int calls;
} lazy_src;

static lorc_status lazy_fill(void *user, void *dst, uint64_t nbytes, lorc_error *err) {
    lazy_src *s = user;
    s->calls++;
    if (nbytes != s->n) return LORC_ERR_INVALID;
    (void)err;
    memcpy(dst, s->bytes, (size_t)nbytes);
    return LORC_OK;
}

static lorc_status failing_fill(void *user, void *dst, uint64_t nbytes, lorc_error *err) {
    (void)user;
    memset(dst, 0, (size_t)nbytes);
    snprintf(err->message, sizeof err->message, "fill failed on purpose");
    err->status = LORC_ERR_IO;
    return LORC_ERR_IO;
}

typedef struct progress_log {
    int calls;
    uint64_t last_done, last_total;
    bool monotonic;
} progress_log;

static void progress_cb(void *user, uint64_t done, uint64_t total) {
    progress_log *p = user;
    if (p->calls && done < p->last_done) p->monotonic = false;
    p->calls++;
    p->last_done = done;
    p->last_total = total;
}

static void fill_pattern(uint8_t *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(i * 31u + seed * 7u + (i >> 8));
}

/* Tensors of several types and ranks; their payload is arbitrary bytes (the
 * reader does not decode data), sized by the type table. */
typedef struct test_tensor {
    const char *name;
    uint32_t type;
    uint32_t n_dims;
    int64_t ne[4];
    uint8_t *bytes;
    uint64_t nbytes;
} test_tensor;

static test_tensor tensors[] = {
    {"token_embd.weight", LORC_TYPE_F32, 2, {8, 3, 1, 1}, NULL, 0},
    {"blk.0.attn_norm.weight", LORC_TYPE_F32, 1, {8, 1, 1, 1}, NULL, 0},
    {"half", LORC_TYPE_F16, 1, {5, 1, 1, 1}, NULL, 0},
    {"q8.weight", LORC_TYPE_Q8_0, 3, {64, 2, 3, 1}, NULL, 0},
    {"q4k.weight", LORC_TYPE_Q4_K, 2, {256, 2, 1, 1}, NULL, 0},
    {"q40", LORC_TYPE_Q4_0, 2, {32, 3, 1, 1}, NULL, 0},
    {"bf.4d", LORC_TYPE_BF16, 4, {2, 3, 2, 2}, NULL, 0},
};
#define N_TENSORS (sizeof tensors / sizeof tensors[0])

static void make_tensors(void) {
    for (size_t i = 0; i < N_TENSORS; i++) {
        test_tensor *t = &tensors[i];
        uint64_t rows = 1;
        for (int d = 1; d < 4; d++) rows *= (uint64_t)t->ne[d];
        t->nbytes = lorc_row_bytes(t->type, t->ne[0]) * rows;
        t->bytes = malloc((size_t)t->nbytes);
        fill_pattern(t->bytes, (size_t)t->nbytes, (unsigned)i);
    }
}

static gguf_writer *make_writer(lazy_src *lazy) {
    gguf_writer *w = gguf_writer_new();
    gguf_writer_allow_nonfinite(w); /* pattern bytes: Q8_0 scales may decode to Inf */
    CHECK(w != NULL);
    CHECK(gguf_writer_set_str(w, "general.architecture", "llama") == LORC_OK);
    CHECK(gguf_writer_set_u8(w, "t.u8", 200) == LORC_OK);
    CHECK(gguf_writer_set_i8(w, "t.i8", -100) == LORC_OK);
    CHECK(gguf_writer_set_u16(w, "t.u16", 60000) == LORC_OK);
    CHECK(gguf_writer_set_i16(w, "t.i16", -30000) == LORC_OK);
    CHECK(gguf_writer_set_u32(w, "t.u32", 4000000000u) == LORC_OK);
    CHECK(gguf_writer_set_i32(w, "t.i32", -2000000000) == LORC_OK);
    CHECK(gguf_writer_set_f32(w, "t.f32", 0.125f) == LORC_OK);
    CHECK(gguf_writer_set_bool(w, "t.bool", true) == LORC_OK);
    CHECK(gguf_writer_set_str(w, "t.str", "a string") == LORC_OK);
    CHECK(gguf_writer_set_strn(w, "t.strn", "x\0y", 3) == LORC_OK);
    CHECK(gguf_writer_set_str(w, "t.empty", "") == LORC_OK);
    CHECK(gguf_writer_set_u64(w, "t.u64", UINT64_MAX - 1) == LORC_OK);
    CHECK(gguf_writer_set_i64(w, "t.i64", INT64_MIN + 1) == LORC_OK);
    CHECK(gguf_writer_set_f64(w, "t.f64", -2.5e-300) == LORC_OK);
    CHECK(gguf_writer_set_arr(w, "a.u8", GGUF_TYPE_UINT8, u8s, 3) == LORC_OK);
    CHECK(gguf_writer_set_arr(w, "a.i8", GGUF_TYPE_INT8, i8s, 3) == LORC_OK);
    CHECK(gguf_writer_set_arr(w, "a.u16", GGUF_TYPE_UINT16, u16s, 3) == LORC_OK);
    CHECK(gguf_writer_set_arr(w, "a.i16", GGUF_TYPE_INT16, i16s, 3) == LORC_OK);
    CHECK(gguf_writer_set_arr(w, "a.u32", GGUF_TYPE_UINT32, u32s, 3) == LORC_OK);
    CHECK(gguf_writer_set_arr(w, "a.i32", GGUF_TYPE_INT32, i32s, 3) == LORC_OK);
    CHECK(gguf_writer_set_arr(w, "a.f32", GGUF_TYPE_FLOAT32, f32s, 3) == LORC_OK);
    CHECK(gguf_writer_set_arr(w, "a.bool", GGUF_TYPE_BOOL, bools, 4) == LORC_OK);
    CHECK(gguf_writer_set_arr(w, "a.u64", GGUF_TYPE_UINT64, u64s, 3) == LORC_OK);
    CHECK(gguf_writer_set_arr(w, "a.i64", GGUF_TYPE_INT64, i64s, 3) == LORC_OK);
    CHECK(gguf_writer_set_arr(w, "a.f64", GGUF_TYPE_FLOAT64, f64s, 3) == LORC_OK);
    CHECK(gguf_writer_set_arr(w, "a.empty", GGUF_TYPE_INT32, NULL, 0) == LORC_OK);
    CHECK(gguf_writer_set_arr_str(w, "a.str", strs, 4) == LORC_OK);
    CHECK(gguf_writer_set_arr_str(w, "a.str_empty", NULL, 0) == LORC_OK);
    /* replacing keeps the first position; removing drops it */
    CHECK(gguf_writer_set_u32(w, "t.replaced", 1) == LORC_OK);
    CHECK(gguf_writer_set_str(w, "t.removed", "gone") == LORC_OK);
    CHECK(gguf_writer_set_u32(w, "t.replaced", 2) == LORC_OK);
    gguf_writer_remove_kv(w, "t.removed");
    gguf_writer_remove_kv(w, "t.never.there");
    for (size_t i = 0; i < N_TENSORS; i++) {
        test_tensor *t = &tensors[i];
        if (t->type == LORC_TYPE_Q4_K) {
            lazy->bytes = t->bytes;
            lazy->n = t->nbytes;
            CHECK(gguf_writer_add_tensor_lazy(w, t->name, t->type, t->n_dims, t->ne, lazy_fill, lazy) == LORC_OK);
        } else {
            CHECK(gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->bytes) == LORC_OK);
        }
    }
    return w;
}

static void check_arr_fixed(const gguf_file *f, const char *key, gguf_value_type et, const void *data, uint64_t n) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    CHECK_MSG(kv != NULL, "%s", key);
    if (!kv) return;
    CHECK(kv->type == GGUF_TYPE_ARRAY);
    CHECK(kv->arr_type == et);
    CHECK(kv->arr_len == n);
    if (n) CHECK_MSG(kv->arr_data && !memcmp(kv->arr_data, data, n * gguf_value_type_size(et)), "%s", key);
}

static void check_roundtrip_file(const gguf_file *f, uint64_t alignment) {
    CHECK(f->version == 3);
    CHECK(f->alignment == alignment);
    CHECK(f->data_offset % alignment == 0);
    CHECK(f->n_tensors == N_TENSORS);
    CHECK(gguf_str_eq(f, "general.architecture", "llama"));
    const gguf_kv *kv;
    CHECK((kv = gguf_find_kv(f, "t.u8")) && kv->type == GGUF_TYPE_UINT8 && kv->v.u64 == 200);
    CHECK((kv = gguf_find_kv(f, "t.i8")) && kv->type == GGUF_TYPE_INT8 && kv->v.i64 == -100);
    CHECK((kv = gguf_find_kv(f, "t.u16")) && kv->type == GGUF_TYPE_UINT16 && kv->v.u64 == 60000);
    CHECK((kv = gguf_find_kv(f, "t.i16")) && kv->type == GGUF_TYPE_INT16 && kv->v.i64 == -30000);
    CHECK((kv = gguf_find_kv(f, "t.u32")) && kv->type == GGUF_TYPE_UINT32 && kv->v.u64 == 4000000000u);
    CHECK((kv = gguf_find_kv(f, "t.i32")) && kv->type == GGUF_TYPE_INT32 && kv->v.i64 == -2000000000);
    CHECK((kv = gguf_find_kv(f, "t.f32")) && kv->type == GGUF_TYPE_FLOAT32 && kv->v.f64 == 0.125);
    CHECK((kv = gguf_find_kv(f, "t.bool")) && kv->type == GGUF_TYPE_BOOL && kv->v.b);
    CHECK((kv = gguf_find_kv(f, "t.u64")) && kv->type == GGUF_TYPE_UINT64 && kv->v.u64 == UINT64_MAX - 1);
    CHECK((kv = gguf_find_kv(f, "t.i64")) && kv->type == GGUF_TYPE_INT64 && kv->v.i64 == INT64_MIN + 1);
    CHECK((kv = gguf_find_kv(f, "t.f64")) && kv->type == GGUF_TYPE_FLOAT64 && kv->v.f64 == -2.5e-300);
    CHECK((kv = gguf_find_kv(f, "t.strn")) && kv->type == GGUF_TYPE_STRING && kv->str.len == 3 &&
          !memcmp(kv->str.ptr, "x\0y", 3));
    CHECK(gguf_str_eq(f, "t.str", "a string"));
    CHECK(gguf_str_eq(f, "t.empty", ""));
    CHECK(!gguf_str_eq(f, "t.str", "a strin"));
    CHECK(!gguf_str_eq(f, "t.u8", "200"));
    CHECK(gguf_get_u32_or(f, "t.replaced", 0) == 2);
    CHECK(gguf_find_kv(f, "t.removed") == NULL);
    /* replaced key kept its place: right after t.empty... i.e. before t.removed was */
    uint64_t pos_replaced = UINT64_MAX, pos_f64 = UINT64_MAX;
    for (uint64_t i = 0; i < f->n_kv; i++) {
        if (!strcmp(f->kv[i].key, "t.replaced")) pos_replaced = i;
        if (!strcmp(f->kv[i].key, "a.str_empty")) pos_f64 = i;
    }
    CHECK(pos_replaced == pos_f64 + 1);

    check_arr_fixed(f, "a.u8", GGUF_TYPE_UINT8, u8s, 3);
    check_arr_fixed(f, "a.i8", GGUF_TYPE_INT8, i8s, 3);
    check_arr_fixed(f, "a.u16", GGUF_TYPE_UINT16, u16s, 3);
    check_arr_fixed(f, "a.i16", GGUF_TYPE_INT16, i16s, 3);
    check_arr_fixed(f, "a.u32", GGUF_TYPE_UINT32, u32s, 3);
    check_arr_fixed(f, "a.i32", GGUF_TYPE_INT32, i32s, 3);
    check_arr_fixed(f, "a.f32", GGUF_TYPE_FLOAT32, f32s, 3);
    check_arr_fixed(f, "a.bool", GGUF_TYPE_BOOL, bools, 4);
    check_arr_fixed(f, "a.u64", GGUF_TYPE_UINT64, u64s, 3);
    check_arr_fixed(f, "a.i64", GGUF_TYPE_INT64, i64s, 3);
    check_arr_fixed(f, "a.f64", GGUF_TYPE_FLOAT64, f64s, 3);
    check_arr_fixed(f, "a.empty", GGUF_TYPE_INT32, NULL, 0);
    /* element getters widen every numeric type */
    CHECK(gguf_arr_get_i64(gguf_find_kv(f, "a.i8"), 0) == -128);
    CHECK(gguf_arr_get_i64(gguf_find_kv(f, "a.u16"), 1) == 65535);
    CHECK(gguf_arr_get_i64(gguf_find_kv(f, "a.i16"), 2) == -1);
    CHECK(gguf_arr_get_i64(gguf_find_kv(f, "a.u32"), 1) == 4294967295ll);
    CHECK(gguf_arr_get_i64(gguf_find_kv(f, "a.i32"), 0) == -2147483647ll - 1);
    CHECK(gguf_arr_get_i64(gguf_find_kv(f, "a.i64"), 0) == INT64_MIN);
    CHECK(gguf_arr_get_i64(gguf_find_kv(f, "a.f32"), 0) == 1);
    CHECK(gguf_arr_get_i64(gguf_find_kv(f, "a.f32"), 2) == INT64_MAX); /* 1e30 saturates */
    CHECK(gguf_arr_get_f64(gguf_find_kv(f, "a.f32"), 1) == -0.25);
    CHECK(gguf_arr_get_f64(gguf_find_kv(f, "a.f64"), 0) == 3.141592653589793);
    CHECK(gguf_arr_get_f64(gguf_find_kv(f, "a.i8"), 2) == 127.0);
    CHECK(gguf_arr_get_f64(gguf_find_kv(f, "a.u64"), 2) == 1099511627776.0);
    CHECK(gguf_arr_get_i64(gguf_find_kv(f, "a.u8"), 99) == 0); /* out of range: 0, no read */
    kv = gguf_find_kv(f, "a.str");
    CHECK(kv && kv->arr_type == GGUF_TYPE_STRING && kv->arr_len == 4 && kv->arr_strs);
    if (kv && kv->arr_strs && kv->arr_len == 4)
        for (int i = 0; i < 4; i++)
            CHECK_MSG(kv->arr_strs[i].len == strlen(strs[i]) && !memcmp(kv->arr_strs[i].ptr, strs[i], strlen(strs[i])),
                      "a.str[%d]", i);
    kv = gguf_find_kv(f, "a.str_empty");
    CHECK(kv && kv->type == GGUF_TYPE_ARRAY && kv->arr_type == GGUF_TYPE_STRING && kv->arr_len == 0);

    for (size_t i = 0; i < N_TENSORS; i++) {
        const test_tensor *t = &tensors[i];
        const gguf_tensor_info *ti = gguf_find_tensor(f, t->name);
        CHECK_MSG(ti != NULL, "tensor %s", t->name);
        if (!ti) continue;
        CHECK(ti == &f->tensors[i]); /* file order kept */
        CHECK(ti->type == t->type);
        CHECK(ti->n_dims == t->n_dims);
        for (int d = 0; d < 4; d++) CHECK(ti->ne[d] == t->ne[d]);
        CHECK_MSG(ti->nbytes == t->nbytes, "%s: %llu vs %llu", t->name, (unsigned long long)ti->nbytes,
                  (unsigned long long)t->nbytes);
        CHECK(ti->offset % alignment == 0);
        CHECK(((const uint8_t *)ti->data - f->map.data) % (ptrdiff_t)alignment == 0);
        CHECK_MSG(!memcmp(ti->data, t->bytes, (size_t)t->nbytes), "data of %s", t->name);
    }
    CHECK(gguf_find_tensor(f, "nope") == NULL);
    CHECK(gguf_find_kv(f, "nope") == NULL);
}

static void test_getters(const gguf_file *f) {
    lorc_error err = {0};
    uint32_t u = 0;
    CHECK(gguf_get_u32(f, "t.u8", &u, &err) == LORC_OK && u == 200);
    CHECK(gguf_get_u32(f, "t.u16", &u, &err) == LORC_OK && u == 60000);
    CHECK(gguf_get_u32(f, "t.u32", &u, &err) == LORC_OK && u == 4000000000u);
    CHECK(gguf_get_u32(f, "t.i8", &u, &err) == LORC_ERR_FORMAT && strstr(err.message, "t.i8"));
    CHECK(gguf_get_u32(f, "t.u64", &u, &err) == LORC_ERR_FORMAT && strstr(err.message, "t.u64"));
    CHECK(gguf_get_u32(f, "t.str", &u, &err) == LORC_ERR_FORMAT && strstr(err.message, "str"));
    CHECK(gguf_get_u32(f, "missing.key", &u, &err) == LORC_ERR_FORMAT &&
          strstr(err.message, "missing key 'missing.key'") && strstr(err.message, f->path) == err.message);
    CHECK(gguf_get_u32_or(f, "missing.key", 77) == 77);
    CHECK(gguf_get_u32_or(f, "t.i32", 77) == 77);
    CHECK(gguf_get_u32_or(f, "t.u16", 77) == 60000);
    float x = 0;
    CHECK(gguf_get_f32(f, "t.f32", &x, &err) == LORC_OK && x == 0.125f);
    CHECK(gguf_get_f32(f, "t.f64", &x, &err) == LORC_OK);
    CHECK(gguf_get_f32(f, "t.u32", &x, &err) == LORC_ERR_FORMAT);
    CHECK(gguf_get_f32(f, "missing.key", &x, &err) == LORC_ERR_FORMAT && strstr(err.message, "missing key"));
    CHECK(gguf_get_f32_or(f, "missing.key", 1.5f) == 1.5f);
    CHECK(gguf_get_f32_or(f, "t.f32", 1.5f) == 0.125f);
    CHECK(gguf_get_bool_or(f, "t.bool", false) == true);
    CHECK(gguf_get_bool_or(f, "t.u8", false) == false);
    CHECK(gguf_get_bool_or(f, "missing.key", true) == true);
    char *s = gguf_get_str_dup(f, "t.str");
    CHECK(s && !strcmp(s, "a string"));
    free(s);
    CHECK(gguf_get_str_dup(f, "t.u8") == NULL);
    CHECK(gguf_get_str_dup(f, "missing.key") == NULL);
    s = gguf_get_str_dup(f, "t.empty");
    CHECK(s && !strcmp(s, ""));
    free(s);
    CHECK(!strcmp(gguf_value_type_name(GGUF_TYPE_FLOAT32), "f32"));
    CHECK(!strcmp(gguf_value_type_name((gguf_value_type)99), "invalid"));
}

/* Copies every kv and tensor of `src` into a new file, reads it back and
 * compares kv by kv. */
static void test_copy(const gguf_file *src, const char *path, uint32_t alignment) {
    gguf_writer *w = gguf_writer_new();
    gguf_writer_allow_nonfinite(w); /* copies the pattern files above */
    for (uint64_t i = 0; i < src->n_kv; i++) CHECK(gguf_writer_copy_kv(w, &src->kv[i]) == LORC_OK);
    if (alignment) CHECK(gguf_writer_set_u32(w, "general.alignment", alignment) == LORC_OK);
    for (uint64_t i = 0; i < src->n_tensors; i++) {
        const gguf_tensor_info *t = &src->tensors[i];
        CHECK(gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data) == LORC_OK);
    }
    lorc_error err = {0};
    CHECK_MSG(gguf_writer_write(w, path, NULL, NULL, &err) == LORC_OK, "%s", err.message);
    gguf_writer_free(w);
    gguf_file *f = NULL;
    if (alignment == 1) {
        /* valid GGUF, but F32 data would sit on odd addresses: refused by name */
        CHECK(gguf_open(path, &f, &err) == LORC_ERR_UNSUPPORTED && strstr(err.message, "not 4-byte aligned") &&
              strstr(err.message, "token_embd.weight"));
        return;
    }
    CHECK_MSG(gguf_open(path, &f, &err) == LORC_OK, "%s", err.message);
    if (!f) return;
    CHECK(f->n_kv == src->n_kv + (alignment && !gguf_find_kv(src, "general.alignment") ? 1 : 0));
    for (uint64_t i = 0; i < src->n_kv; i++) {
        const gguf_kv *a = &src->kv[i], *b = gguf_find_kv(f, a->key);
        CHECK_MSG(b != NULL, "copied key %s", a->key);
        if (!b) continue;
        CHECK(a->type == b->type);
        if (!strcmp(a->key, "general.alignment")) continue;
        if (a->type == GGUF_TYPE_STRING) {
            CHECK(a->str.len == b->str.len && !memcmp(a->str.ptr, b->str.ptr, a->str.len));
        } else if (a->type == GGUF_TYPE_ARRAY) {
            CHECK(a->arr_type == b->arr_type && a->arr_len == b->arr_len);
            if (a->arr_type == GGUF_TYPE_STRING) {
                for (uint64_t j = 0; j < a->arr_len && j < b->arr_len; j++)
                    CHECK(a->arr_strs[j].len == b->arr_strs[j].len &&
                          !memcmp(a->arr_strs[j].ptr, b->arr_strs[j].ptr, a->arr_strs[j].len));
            } else if (a->arr_len) {
                CHECK(!memcmp(a->arr_data, b->arr_data, a->arr_len * gguf_value_type_size(a->arr_type)));
            }
        } else {
            CHECK_MSG(!memcmp(&a->v, &b->v, sizeof a->v), "value of %s", a->key);
        }
    }
    if (alignment) {
        CHECK(f->alignment == alignment);
        CHECK(f->data_offset % alignment == 0);
        for (uint64_t i = 0; i < f->n_tensors; i++) CHECK(f->tensors[i].offset % alignment == 0);
    }
    for (uint64_t i = 0; i < src->n_tensors && i < f->n_tensors; i++)
        CHECK(src->tensors[i].nbytes == f->tensors[i].nbytes &&
              !memcmp(src->tensors[i].data, f->tensors[i].data, (size_t)src->tensors[i].nbytes));
    gguf_close(f);
}

static void test_roundtrip(void) {
    make_tensors();
    lazy_src lazy = {0};
    gguf_writer *w = make_writer(&lazy);
    const char *path = test_tmp("gguf_roundtrip.gguf");
    progress_log prog = {0, 0, 0, true};
    lorc_error err = {0};
    CHECK_MSG(gguf_writer_write(w, path, progress_cb, &prog, &err) == LORC_OK, "%s", err.message);
    CHECK(lazy.calls == 1);
    CHECK(prog.calls == (int)N_TENSORS && prog.monotonic && prog.last_done == prog.last_total && prog.last_total > 0);
    CHECK(!temp_leftover("gguf_roundtrip.gguf"));
    /* the writer can write again (the same bytes) */
    CHECK(gguf_writer_write(w, test_tmp("gguf_roundtrip2.gguf"), NULL, NULL, &err) == LORC_OK);
    gguf_writer_free(w);
    size_t n1 = 0, n2 = 0;
    char *b1 = test_read_file(path, &n1), *b2 = test_read_file(test_tmp("gguf_roundtrip2.gguf"), &n2);
    CHECK(b1 && b2 && n1 == n2 && !memcmp(b1, b2, n1));
    free(b2);

    gguf_file *f = NULL;
    CHECK_MSG(gguf_open(path, &f, &err) == LORC_OK, "%s", err.message);
    if (f) {
        CHECK(!strcmp(f->path, path));
        check_roundtrip_file(f, GGUF_DEFAULT_ALIGNMENT);
        test_getters(f);
        test_copy(f, test_tmp("gguf_copy.gguf"), 0);
        test_copy(f, test_tmp("gguf_copy64.gguf"), 64);
        test_copy(f, test_tmp("gguf_copy1.gguf"), 1);
        test_copy(f, test_tmp("gguf_copy4.gguf"), 4);
        gguf_close(f);
    }
    /* the same bytes through gguf_open_memory */
    if (b1) {
        CHECK_MSG(gguf_open_memory((const uint8_t *)b1, n1, "mem.gguf", &f, &err) == LORC_OK, "%s", err.message);
        if (f) {
            CHECK(!strcmp(f->path, "mem.gguf"));
            check_roundtrip_file(f, GGUF_DEFAULT_ALIGNMENT);
            gguf_close(f);
        }
    }
    free(b1);
    /* a copy with alignment 64 keeps every tensor on 64 bytes */
    CHECK(gguf_open(test_tmp("gguf_copy64.gguf"), &f, &err) == LORC_OK);
    if (f) {
        check_roundtrip_file(f, 64);
        gguf_close(f);
    }
    for (size_t i = 0; i < N_TENSORS; i++) free(tensors[i].bytes);
}

/* Writer misuse is reported by the call and again by the write; a failed
 * write leaves nothing at the destination. */
static void test_writer_errors(void) {
    float data[64] = {0};
    int64_t ne[2] = {8, 2};
    lorc_error err = {0};
    const char *path = test_tmp("gguf_writer_err.gguf");
    unlink(path);

    gguf_writer *w = gguf_writer_new();
    CHECK(gguf_writer_add_tensor(w, "a", LORC_TYPE_F32, 2, ne, data) == LORC_OK);
    CHECK(gguf_writer_add_tensor(w, "a", LORC_TYPE_F32, 2, ne, data) == LORC_ERR_INVALID);
    CHECK(gguf_writer_write(w, path, NULL, NULL, &err) == LORC_ERR_INVALID);
    CHECK(strstr(err.message, "duplicate tensor 'a'") && strstr(err.message, path) == err.message);
    CHECK(!file_exists(path));
    gguf_writer_free(w);

    w = gguf_writer_new();
    int64_t bad_row[2] = {33, 1};
    CHECK(gguf_writer_add_tensor(w, "q", LORC_TYPE_Q8_0, 2, bad_row, data) == LORC_ERR_INVALID);
    CHECK(gguf_writer_write(w, path, NULL, NULL, &err) == LORC_ERR_INVALID && strstr(err.message, "block size"));
    gguf_writer_free(w);

    w = gguf_writer_new();
    int64_t zero[2] = {8, 0};
    CHECK(gguf_writer_add_tensor(w, "z", LORC_TYPE_F32, 2, zero, data) == LORC_ERR_INVALID);
    CHECK(gguf_writer_add_tensor(w, "z", LORC_TYPE_F32, 5, ne, data) == LORC_ERR_INVALID);
    CHECK(gguf_writer_add_tensor(w, "z", 4, 2, ne, data) == LORC_ERR_INVALID);
    CHECK(gguf_writer_add_tensor(w, "", LORC_TYPE_F32, 2, ne, data) == LORC_ERR_INVALID);
    CHECK(gguf_writer_add_tensor(w, "a\nb", LORC_TYPE_F32, 2, ne, data) == LORC_ERR_INVALID);
    CHECK(gguf_writer_set_u32(w, "", 1) == LORC_ERR_INVALID);
    CHECK(gguf_writer_set_u32(w, "tab\tkey", 1) == LORC_ERR_INVALID);
    uint8_t bad_bools[2] = {1, 2};
    CHECK(gguf_writer_set_arr(w, "b", GGUF_TYPE_BOOL, bad_bools, 2) == LORC_ERR_INVALID);
    CHECK(gguf_writer_set_arr(w, "s", GGUF_TYPE_STRING, bad_bools, 2) == LORC_ERR_INVALID);
    gguf_writer_free(w);

    w = gguf_writer_new();
    CHECK(gguf_writer_set_u32(w, "general.alignment", 48) == LORC_OK);
    CHECK(gguf_writer_write(w, path, NULL, NULL, &err) == LORC_ERR_INVALID && strstr(err.message, "alignment"));
    CHECK(!file_exists(path));
    gguf_writer_free(w);

    /* a fill failure aborts the write: no file, no temporary left */
    w = gguf_writer_new();
    CHECK(gguf_writer_set_str(w, "k", "v") == LORC_OK);
    CHECK(gguf_writer_add_tensor(w, "ok", LORC_TYPE_F32, 2, ne, data) == LORC_OK);
    CHECK(gguf_writer_add_tensor_lazy(w, "bad", LORC_TYPE_F32, 2, ne, failing_fill, NULL) == LORC_OK);
    CHECK(gguf_writer_write(w, path, NULL, NULL, &err) == LORC_ERR_IO && strstr(err.message, "on purpose"));
    CHECK(!file_exists(path));
    CHECK(!temp_leftover("gguf_writer_err.gguf"));
    gguf_writer_free(w);

    /* an existing destination survives a failed write untouched */
    FILE *fp = fopen(path, "wb");
    fputs("old", fp);
    fclose(fp);
    w = gguf_writer_new();
    CHECK(gguf_writer_add_tensor_lazy(w, "bad", LORC_TYPE_F32, 2, ne, failing_fill, NULL) == LORC_OK);
    CHECK(gguf_writer_write(w, path, NULL, NULL, &err) != LORC_OK);
    gguf_writer_free(w);
    char *old = test_read_file(path, NULL);
    CHECK(old && !strcmp(old, "old"));
    free(old);
    unlink(path);

    /* unwritable destination: a clean error naming it */
    w = gguf_writer_new();
    CHECK(gguf_writer_write(w, "/nonexistent-dir/x.gguf", NULL, NULL, &err) == LORC_ERR_IO &&
          strstr(err.message, "/nonexistent-dir/x.gguf"));
    gguf_writer_free(w);
    gguf_writer_free(NULL);
    gguf_close(NULL);

    /* an empty writer gives a valid empty file */
    w = gguf_writer_new();
    CHECK(gguf_writer_write(w, path, NULL, NULL, &err) == LORC_OK);
    gguf_writer_free(w);
    gguf_file *f = NULL;
    CHECK(gguf_open(path, &f, &err) == LORC_OK && f && f->n_kv == 0 && f->n_tensors == 0);
    gguf_close(f);
    unlink(path);
}

/* ------------------------------------------------------- real files */

static void test_stories(void) {
    const char *path = test_shared("models/stories260K.gguf");
    gguf_file *f = NULL;
    lorc_error err = {0};
    CHECK_MSG(gguf_open(path, &f, &err) == LORC_OK, "%s", err.message);
    if (!f) return;
    CHECK(f->version == 3);
    CHECK(f->alignment == 32);
    CHECK(gguf_str_eq(f, "general.architecture", "llama"));
    CHECK(gguf_str_eq(f, "tokenizer.ggml.model", "llama"));
    uint32_t v = 0;
    CHECK(gguf_get_u32(f, "llama.context_length", &v, &err) == LORC_OK && v == 512);
    CHECK(gguf_get_u32(f, "llama.embedding_length", &v, &err) == LORC_OK && v == 64);
    CHECK(gguf_get_u32(f, "llama.block_count", &v, &err) == LORC_OK && v == 5);
    CHECK(gguf_get_u32(f, "llama.attention.head_count", &v, &err) == LORC_OK && v == 8);
    CHECK(gguf_get_u32(f, "llama.attention.head_count_kv", &v, &err) == LORC_OK && v == 4);
    CHECK(gguf_get_u32_or(f, "tokenizer.ggml.bos_token_id", 99) == 1);
    float eps = 0;
    CHECK(gguf_get_f32(f, "llama.attention.layer_norm_rms_epsilon", &eps, &err) == LORC_OK && fabsf(eps - 1e-5f) < 1e-9f);
    const gguf_kv *tok = gguf_find_kv(f, "tokenizer.ggml.tokens");
    CHECK(tok && tok->type == GGUF_TYPE_ARRAY && tok->arr_type == GGUF_TYPE_STRING && tok->arr_len == 512);
    if (tok && tok->arr_strs) CHECK(tok->arr_strs[1].len == 3 && !memcmp(tok->arr_strs[1].ptr, "<s>", 3));
    const gguf_kv *scores = gguf_find_kv(f, "tokenizer.ggml.scores");
    CHECK(scores && scores->arr_type == GGUF_TYPE_FLOAT32 && scores->arr_len == 512);
    CHECK(f->n_tensors == 48);
    const gguf_tensor_info *emb = gguf_find_tensor(f, "token_embd.weight");
    CHECK(emb && emb->type == LORC_TYPE_F32 && emb->n_dims == 2 && emb->ne[0] == 64 && emb->ne[1] == 512 &&
          emb->nbytes == 64 * 512 * 4);
    const gguf_tensor_info *norm = gguf_find_tensor(f, "blk.0.attn_norm.weight");
    CHECK(norm && norm->n_dims == 1 && norm->ne[0] == 64 && norm->ne[1] == 1);
    const gguf_tensor_info *down = gguf_find_tensor(f, "blk.4.ffn_down.weight");
    CHECK(down && down->ne[0] == 172 && down->ne[1] == 64);
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor_info *t = &f->tensors[i];
        CHECK((const uint8_t *)t->data >= f->map.data + f->data_offset &&
              (const uint8_t *)t->data + t->nbytes <= f->map.data + f->map.size);
    }
    /* independent check of the data: the llama2.c checkpoint holds the same
     * weights (7 int32 header, then the embedding table, then the layers'
     * attention norms) */
    size_t bin_len = 0;
    char *bin = test_read_file(test_shared("models/stories260K.bin"), &bin_len);
    CHECK(bin && bin_len > 28 + (64 * 512 + 5 * 64) * 4);
    if (bin && emb && norm) {
        CHECK(!memcmp(emb->data, bin + 28, 64 * 512 * 4));
        CHECK(!memcmp(norm->data, bin + 28 + 64 * 512 * 4, 64 * 4));
    }
    free(bin);
    gguf_close(f);
}

static void test_vocab_only(void) {
    const char *names[] = {"tokenizer/ggml-vocab-llama-spm.gguf", "tokenizer/ggml-vocab-gpt-2.gguf",
                           "tokenizer/ggml-vocab-llama-bpe.gguf", "tokenizer/ggml-vocab-deepseek-llm.gguf",
                           "models/aidreams260K.gguf"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        gguf_file *f = NULL;
        lorc_error err = {0};
        CHECK_MSG(gguf_open(test_shared(names[i]), &f, &err) == LORC_OK, "%s", err.message);
        if (!f) continue;
        CHECK(gguf_find_kv(f, "tokenizer.ggml.model") != NULL);
        CHECK(i == 4 ? f->n_tensors > 0 : f->n_tensors == 0);
        gguf_close(f);
    }
    /* missing file: IO error naming it */
    gguf_file *f = NULL;
    lorc_error err = {0};
    CHECK(gguf_open(test_tmp("gguf_does_not_exist.gguf"), &f, &err) == LORC_ERR_IO && f == NULL &&
          strstr(err.message, "gguf_does_not_exist.gguf"));
}

int main(void) {
    test_roundtrip();
    test_writer_errors();
    test_stories();
    test_vocab_only();
    return test_finish("test_gguf");
}
