/* test_safetensors.c — the safetensors reader: a valid file reads back;
 * every kind of bad header, dtype, shape and offset is refused with a
 * one-line message naming the file and the tensor; truncation at every
 * length is refused without reading out of bounds (run under ASan). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/safetensors.h"
#include "synth_adapter.h"
#include "tensor/types.h"
#include "testutil.h"

/* Builds "<len><json><data>" in a malloc'd buffer. */
static uint8_t *build(const char *json, const void *data, size_t dlen, size_t *size) {
    size_t h = strlen(json);
    *size = 8 + h + dlen;
    uint8_t *b = malloc(*size);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)h >> (8 * i));
    memcpy(b + 8, json, h);
    if (dlen) memcpy(b + 8 + h, data, dlen);
    return b;
}

/* Expects refusal; the message must be one line containing `needle`. */
static void expect_fail(const char *json, size_t dlen, const char *needle) {
    float data[64] = {0};
    size_t size;
    uint8_t *b = build(json, data, dlen, &size);
    safetensors_file *f = NULL;
    lorc_error err = {0};
    lorc_status st = safetensors_open_memory(b, size, "mem.safetensors", &f, &err);
    CHECK_MSG(st != LORC_OK, "accepted: %s", json);
    CHECK(f == NULL);
    CHECK_MSG(strstr(err.message, needle) != NULL, "message '%s' lacks '%s'", err.message, needle);
    CHECK_MSG(strstr(err.message, "mem.safetensors") == err.message, "message '%s' does not start with the file",
              err.message);
    CHECK(strchr(err.message, '\n') == NULL);
    safetensors_close(f);
    free(b);
}

static void test_valid(void) {
    uint8_t data[4 * 6 + 2 * 2 + 2];
    float f[6] = {1, -2, 3.5f, 0, 1e-3f, 7};
    memcpy(data, f, sizeof f);
    uint16_t h[2] = {lorc_fp32_to_fp16(1.5f), lorc_fp32_to_fp16(-0.25f)};
    memcpy(data + 24, h, 4);
    uint16_t bf = lorc_fp32_to_bf16(2.0f);
    memcpy(data + 28, &bf, 2);
    const char *json = "{\"__metadata__\":{\"format\":\"pt\"},"
                       "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                       "\"b\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[24,28]},"
                       "\"c\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[28,30]},"
                       "\"z\":{\"dtype\":\"F32\",\"shape\":[0,4],\"data_offsets\":[30,30]}}  ";
    size_t size;
    uint8_t *b = build(json, data, sizeof data, &size);
    safetensors_file *sf = NULL;
    lorc_error err = {0};
    CHECK_MSG(safetensors_open_memory(b, size, "ok.safetensors", &sf, &err) == LORC_OK, "%s", err.message);
    if (sf) {
        CHECK(sf->n_tensors == 4);
        CHECK(sf->n_meta == 1);
        CHECK(safetensors_meta_get(sf, "format") && !strcmp(safetensors_meta_get(sf, "format"), "pt"));
        const safetensors_tensor *a = safetensors_find(sf, "a");
        CHECK(a && a->type == LORC_TYPE_F32 && a->n_dims == 2 && a->shape[0] == 2 && a->shape[1] == 3 &&
              a->n_elements == 6 && a->data == b + 8 + strlen(json));
        float out[6];
        if (a) safetensors_to_f32(a, out);
        CHECK(a && !memcmp(out, f, sizeof f));
        const safetensors_tensor *t = safetensors_find(sf, "b");
        if (t) safetensors_to_f32(t, out);
        CHECK(t && t->type == LORC_TYPE_F16 && out[0] == 1.5f && out[1] == -0.25f);
        t = safetensors_find(sf, "c");
        if (t) safetensors_to_f32(t, out);
        CHECK(t && t->type == LORC_TYPE_BF16 && t->n_dims == 0 && t->n_elements == 1 && out[0] == 2.0f);
        t = safetensors_find(sf, "z");
        CHECK(t && t->n_elements == 0);
        CHECK(safetensors_find(sf, "missing") == NULL);
    }
    safetensors_close(sf);

    /* Every truncation of the valid file is refused cleanly. */
    for (size_t cut = 0; cut < size; cut++) {
        safetensors_file *g = NULL;
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, b, cut);
        lorc_status st = safetensors_open_memory(copy, cut, "cut.safetensors", &g, &err);
        CHECK_MSG(st != LORC_OK, "truncated at %zu accepted", cut);
        CHECK(strchr(err.message, '\n') == NULL);
        safetensors_close(g);
        free(copy);
    }
    free(b);
}

static void test_bad(void) {
    expect_fail("{\"a\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}", 16, "dtype I64");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 24, "'a'");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, "beyond");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[16,0]}}", 16, "begin");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]}}", 16, "shape[0]");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,16]}}", 16,
                "overflows");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[4.0],\"data_offsets\":[0,16]}}", 16, "shape[0]");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0]}}", 16, "data_offsets");
    expect_fail("{\"a\":{\"shape\":[4],\"data_offsets\":[0,16]}}", 16, "dtype");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,16]}}", 16, "shape");
    expect_fail("{\"a\":[1,2]}", 0, "'a'");
    expect_fail("[1,2]", 0, "not an object");
    expect_fail("{\"a\":", 0, "bad JSON");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                8, "bad JSON");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
                16, "overlaps");
    expect_fail("{\"__metadata__\":{\"k\":1}}", 0, "__metadata__");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,2,3,4,5,6,7,8,9],\"data_offsets\":[0,16]}}", 16, "dims");

    /* A header length larger than the file. */
    uint8_t hdr[12] = {0xff, 0xff, 0xff, 0, 0, 0, 0, 0, '{', '}', ' ', ' '};
    safetensors_file *f = NULL;
    lorc_error err = {0};
    CHECK(safetensors_open_memory(hdr, sizeof hdr, "big.safetensors", &f, &err) != LORC_OK);
    CHECK(strstr(err.message, "header length") != NULL);
    /* An empty header object is a valid file with no tensors. */
    hdr[0] = 4;
    hdr[1] = hdr[2] = 0;
    CHECK(safetensors_open_memory(hdr, sizeof hdr, "empty.safetensors", &f, &err) == LORC_OK && f && f->n_tensors == 0);
    safetensors_close(f);
}

/* The test writer and the reader agree, through a real file. */
static void test_file_roundtrip(void) {
    float a[6] = {1, 2, 3, 4, 5, 6};
    synth_st_tensor t[1] = {{"w", "F32", 2, {3, 2}, a, sizeof a}};
    lorc_error err = {0};
    const char *path = test_tmp("st_roundtrip.safetensors");
    CHECK(synth_write_safetensors(path, t, 1, &err) == LORC_OK);
    safetensors_file *f = NULL;
    CHECK_MSG(safetensors_open(path, &f, &err) == LORC_OK, "%s", err.message);
    const safetensors_tensor *w = f ? safetensors_find(f, "w") : NULL;
    CHECK(w && w->shape[0] == 3 && w->shape[1] == 2 && !memcmp(w->data, a, sizeof a));
    CHECK(w && ((uintptr_t)w->data % 8) == 0); /* the writer pads the header to 8 bytes */
    safetensors_close(f);
    CHECK(safetensors_open(test_tmp("no_such_file.safetensors"), &f, &err) == LORC_ERR_IO);
}

int main(void) {
    test_valid();
    test_bad();
    test_file_roundtrip();
    return test_finish("test_safetensors");
}
