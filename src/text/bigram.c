/* bigram.c — binary min-heap of merge candidates and the symbol chain. */
#include "bigram.h"

#include <stdlib.h>

#include "unicode.h"

static bool before(const bigram *a, const bigram *b) {
    return a->key < b->key || (a->key == b->key && a->left < b->left);
}

bool bigram_push(bigram_queue *q, bigram b) {
    if (q->n == q->cap) {
        size_t ncap = q->cap ? q->cap * 2 : 64;
        bigram *ni = realloc(q->items, ncap * sizeof *ni);
        if (!ni) return false;
        q->items = ni;
        q->cap = ncap;
    }
    size_t i = q->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(&b, &q->items[parent])) break;
        q->items[i] = q->items[parent];
        i = parent;
    }
    q->items[i] = b;
    return true;
}

bool bigram_pop(bigram_queue *q, bigram *out) {
    if (q->n == 0) return false;
    *out = q->items[0];
    bigram last = q->items[--q->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= q->n) break;
        if (c + 1 < q->n && before(&q->items[c + 1], &q->items[c])) c++;
        if (!before(&q->items[c], &last)) break;
        q->items[i] = q->items[c];
        i = c;
    }
    if (q->n) q->items[i] = last;
    return true;
}

void bigram_queue_free(bigram_queue *q) {
    free(q->items);
    q->items = NULL;
    q->n = q->cap = 0;
}

size_t sym_split(const char *word, size_t len, sym **out) {
    *out = NULL;
    if (len == 0) return 0;
    sym *s = malloc(len * sizeof *s);
    if (!s) return 0;
    size_t n = 0, off = 0;
    while (off < len) {
        size_t cl = uni_seq_len((uint8_t)word[off]);
        if (cl > len - off) cl = len - off;
        s[n].start = (uint32_t)off;
        s[n].n = (uint32_t)cl;
        s[n].prev = (int32_t)n - 1;
        off += cl;
        s[n].next = off == len ? -1 : (int32_t)n + 1;
        n++;
    }
    *out = s;
    return n;
}

void sym_merge(sym *syms, int32_t left, int32_t right) {
    syms[left].n += syms[right].n;
    syms[right].n = 0;
    syms[left].next = syms[right].next;
    if (syms[right].next >= 0) syms[syms[right].next].prev = left;
}
