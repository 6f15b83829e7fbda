/* bigram.h — the symbol chain and the priority queue of candidate merges
 * shared by the SentencePiece and BPE tokenizers. A word is split into
 * symbols (UTF-8 characters) linked as a list; merging joins a symbol into
 * its left neighbour. The queue pops the lowest key first, ties going to the
 * leftmost pair (llama.cpp's order). */
#ifndef LORC_TEXT_BIGRAM_H
#define LORC_TEXT_BIGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sym {
    int32_t prev, next; /* neighbours in the chain, -1 at the ends */
    uint32_t start, n;  /* byte range in the word; n = 0 once merged away */
} sym;

typedef struct bigram {
    double key;          /* SPM: -score; BPE: merge rank */
    int32_t left, right; /* symbol indexes */
    uint32_t size;       /* bytes of left + right when queued: stale entries differ */
} bigram;

typedef struct bigram_queue {
    bigram *items;
    size_t n, cap;
} bigram_queue;

bool bigram_push(bigram_queue *q, bigram b);
/* Removes the first item into *out; false when empty. */
bool bigram_pop(bigram_queue *q, bigram *out);
void bigram_queue_free(bigram_queue *q);

/* Splits word[0..len) into symbols by UTF-8 lead bytes (a truncated last
 * character keeps what is left). Returns the count, or 0 on OOM/empty;
 * *out is malloc'd. */
size_t sym_split(const char *word, size_t len, sym **out);

/* Joins symbol `right` into `left` (its neighbour). */
void sym_merge(sym *syms, int32_t left, int32_t right);

#endif
