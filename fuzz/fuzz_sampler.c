/* fuzz_sampler.c — libFuzzer target: random sampler parameters (edge values
 * such as NaN, ±Inf, 0, FLT_MAX mixed with raw bit patterns) and random
 * logits, through lorc_sampler_new / accept / sample.
 *
 * It aborts when: lorc_sampler_new's verdict disagrees with the ranges lorc.h
 * documents, a refusal's message is not one line naming the parameter, a
 * sample is out of [0, n_vocab), a NaN logit is picked, or -1 comes back
 * although some logit is a number (or a number comes back for all NaN).
 * Build and run: see fuzz/README.md. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lorc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct reader {
    const uint8_t *p;
    size_t left;
} reader;

static uint32_t take_u32(reader *r) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        v = v << 8 | (r->left ? *r->p : 0);
        if (r->left) {
            r->p++;
            r->left--;
        }
    }
    return v;
}

static uint8_t take_u8(reader *r) {
    if (!r->left) return 0;
    r->left--;
    return *r->p++;
}

static float bits_to_float(uint32_t b) {
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

/* Half of the time a value from the edges of the ranges, else raw bits. */
static float take_float(reader *r) {
    static const float edges[] = {0.0f, -0.0f, 1.0f, 0.5f, 0.95f, 2.0f, -1.0f, 1e-30f, FLT_MIN, FLT_MAX,
                                  -FLT_MAX, 1.0000001f, 0.9999999f, INFINITY, -INFINITY, NAN};
    uint8_t sel = take_u8(r);
    if (sel & 1) return edges[(sel >> 1) % (sizeof edges / sizeof edges[0])];
    return bits_to_float(take_u32(r));
}

static int take_int(reader *r) {
    static const int edges[] = {0, 1, -1, -2, 2, 3, 40, 64, 1000, -1000, INT32_MIN, INT32_MAX};
    uint8_t sel = take_u8(r);
    if (sel & 1) return edges[(sel >> 1) % (sizeof edges / sizeof edges[0])];
    return (int)(int32_t)take_u32(r) % 4096;
}

static int in_range(const lorc_sampler_params *p) {
    return isfinite(p->temp) && p->top_k >= 0 && p->top_p > 0.0f && p->top_p <= 1.0f && p->min_p >= 0.0f &&
           p->min_p <= 1.0f && isfinite(p->repeat_penalty) && p->repeat_penalty > 0.0f && p->repeat_last_n >= -1 &&
           p->repeat_last_n <= LORC_SAMPLER_MAX_LAST_N;
}

static const char *const param_names[] = {"temp", "top_k", "top_p", "min_p", "repeat_penalty", "repeat_last_n"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    reader r = {data, size};
    lorc_sampler_params p;
    p.temp = take_float(&r);
    p.top_k = take_int(&r);
    p.top_p = take_float(&r);
    p.min_p = take_float(&r);
    p.repeat_penalty = take_float(&r);
    p.repeat_last_n = take_int(&r);
    p.seed = take_u32(&r);

    lorc_sampler *s = NULL;
    lorc_error err = {0};
    lorc_status st = lorc_sampler_new(&p, &s, &err);
    if (!in_range(&p)) {
        if (st != LORC_ERR_INVALID || s) abort();
        if (strchr(err.message, '\n')) abort();
        int named = 0;
        for (size_t i = 0; i < sizeof param_names / sizeof param_names[0]; i++)
            named |= strstr(err.message, param_names[i]) != NULL;
        if (!named) abort();
        return 0;
    }
    if (st != LORC_OK || !s) abort();

    /* The rest of the input: tokens to accept, then the logits (at most 512). */
    uint8_t n_accept = take_u8(&r);
    for (int i = 0; i < n_accept; i++) lorc_sampler_accept(s, (int32_t)(int16_t)(take_u8(&r) | take_u8(&r) << 8));
    int n_vocab = (int)(r.left / 4);
    if (n_vocab > 512) n_vocab = 512;
    if (n_vocab == 0) {
        float one = 0.0f;
        if (lorc_sampler_sample(s, &one, 0) != -1) abort();
        lorc_sampler_free(s);
        return 0;
    }
    float orig[512], work[512];
    int any_number = 0;
    for (int i = 0; i < n_vocab; i++) {
        orig[i] = bits_to_float(take_u32(&r));
        any_number |= !isnan(orig[i]);
    }
    /* A few rounds, accepting each pick, so the penalty window wraps. */
    for (int round = 0; round < 3; round++) {
        memcpy(work, orig, (size_t)n_vocab * sizeof *work);
        int32_t t = lorc_sampler_sample(s, work, n_vocab);
        if (!any_number) {
            if (t != -1) abort();
            continue;
        }
        if (t < 0 || t >= n_vocab || isnan(orig[t])) abort();
        lorc_sampler_accept(s, t);
    }
    lorc_sampler_free(s);
    return 0;
}
