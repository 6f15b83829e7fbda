/* kv_pages.h — a sequence's page table over the context's KV pool: pages
 * taken as the sequence grows, copy-on-write of a shared page before a
 * write into it, release on reset/free, and the per-step reservation that
 * makes a step fail BEFORE anything is computed when pages run out. */
#ifndef LORC_ENGINE_KV_PAGES_H
#define LORC_ENGINE_KV_PAGES_H

#include "context.h"

/* Makes the sequence hold pages for positions [0, n_pos), copying the page
 * that position n_past falls in when someone else holds it too. Fails with
 * LORC_ERR_KV_FULL ("KV page pool exhausted: ...") or LORC_ERR_NOMEM,
 * holding no more pages than before. */
lorc_status lorc_kv_seq_reserve(lorc_sequence *seq, int n_pos, lorc_error *err);
/* Room in the page table (and token record) for n pages; false when out
 * of memory. */
bool lorc_kv_seq_table(lorc_sequence *seq, int n);
/* Releases the pages past the one holding position n_past - 1 (after a
 * failed or rolled-back step). */
void lorc_kv_seq_trim(lorc_sequence *seq);
/* Releases every page. */
void lorc_kv_seq_clear(lorc_sequence *seq);

/* Reserves, for every sequence of the batch, the pages its rows write, all
 * or nothing; records the rows' tokens and each sequence's identity state.
 * Called by lorc_forward after the batch checks, before any compute. */
lorc_status lorc_kv_prepare(lorc_context *ctx, const lorc_batch *b, lorc_error *err);
/* Writes the ctx->k / ctx->v rows [i0, i1) of `layer` into those batch
 * rows' pages, converted to the cache's element types (rows of different
 * positions write different bytes: threads can take disjoint ranges). */
void lorc_kv_store(lorc_context *ctx, const lorc_batch *b, int layer, int i0, int i1);
/* The error of a step that needs `need` more pages than can be had. */
lorc_status lorc_kv_full(const lorc_context *ctx, int64_t need, lorc_error *err);

#endif
