/* matmul_scratch.c — the matmul scratch: one reusable block that a product
 * carves its buffers from, plus spill blocks when the block is too small.
 * Spills are merged into one larger block at the start of the next product,
 * so a steady stream of products allocates nothing. */
#include <stdlib.h>

#include "../base/huge_pages.h"
#include "matmul.h"
#include "matmul_internal.h"

struct lorc_scratch_spill {
    lorc_scratch_spill *next;
};

/* Carvings are 64-byte aligned (a cache line; the widest vector loads). */
#define SCRATCH_ALIGN 64

static size_t round_up(size_t n) { return (n + SCRATCH_ALIGN - 1) & ~(size_t)(SCRATCH_ALIGN - 1); }

static void free_spills(lorc_matmul_scratch *s) {
    for (lorc_scratch_spill *p = s->spill, *next; p; p = next) {
        next = p->next;
        free(p);
    }
    s->spill = NULL;
    s->spill_bytes = 0;
}

void lorc_matmul_scratch_free(lorc_matmul_scratch *s) {
    if (!s) return;
    free_spills(s);
    free(s->buf);
    s->buf = NULL;
    s->size = 0;
    s->used = 0;
}

/* Replaces buf by one of at least `size` bytes; false when out of memory
 * (buf is then unchanged). */
static bool grow(lorc_matmul_scratch *s, size_t size) {
    /* Geometric growth: a run of slightly larger requests reallocates rarely. */
    size_t want = round_up(size + size / 2 + SCRATCH_ALIGN);
    void *p = aligned_alloc(SCRATCH_ALIGN, want);
    if (!p) return false;
    /* Every prompt's tiles stream the packed activations and weights
     * through it. In 2 MB pages, with the context's activations too
     * (context.c), pp512 ran 2.6-4.7% faster on F16 and 1-2% on Q4_K_M
     * (TinyLlama shapes, Zen 5, 2 threads, sets of 4-6 alternating pairs).
     * A block that is touched only here and there costs whole 2 MB pages:
     * a few tens of MB per context at most. */
    lorc_advise_huge_pages(p, want);
    free(s->buf);
    s->buf = p;
    s->size = want;
    return true;
}

void mm_scratch_begin(lorc_matmul_scratch *s) {
    if (s->spill_bytes) {
        size_t total = s->size + s->spill_bytes;
        free_spills(s);
        /* On failure the old block stays; this product spills again. */
        (void)grow(s, total);
    }
    s->used = 0;
}

void *mm_scratch_alloc(lorc_matmul_scratch *s, size_t n) {
    n = round_up(n ? n : 1);
    if (s->buf && n <= s->size - s->used) {
        void *p = (uint8_t *)s->buf + s->used;
        s->used += n;
        return p;
    }
    size_t head = round_up(sizeof(lorc_scratch_spill));
    lorc_scratch_spill *sp = aligned_alloc(SCRATCH_ALIGN, head + n);
    if (!sp) return NULL;
    sp->next = s->spill;
    s->spill = sp;
    s->spill_bytes += n;
    return (uint8_t *)sp + head;
}

void *lorc_matmul_scratch_get(lorc_matmul_scratch *s, size_t size) {
    mm_scratch_begin(s);
    if (size > s->size && !grow(s, size)) return NULL;
    return s->buf;
}
