/* prefix_cache.h — keys of full KV pages by what computed them, publishing
 * a sequence's full pages, and attaching cached pages to a new sequence.
 *
 * A page's key is hash(identity, key of the page before, the page's tokens)
 * where identity = hash(base, overlay identity, each attached adapter's
 * identity and scale bits, in stack order). The key thus fixes every token
 * before and in the page and every weight they went through, so two pages
 * with one key hold the same K/V — up to a 64-bit hash collision. */
#ifndef LORC_ENGINE_PREFIX_CACHE_H
#define LORC_ENGINE_PREFIX_CACHE_H

#include "context.h"

/* Identity of the model as in use: its fingerprint, plus the tensors that
 * globally applied overlays put in place (slot and address: these are
 * in-process keys). */
uint64_t lorc_prefix_base_identity(const lorc_model *model);
/* What the sequence computes with now, on top of `base`. */
uint64_t lorc_prefix_identity(const lorc_sequence *seq, uint64_t base);
/* Publishes the sequence's full pages not yet keyed (when the cache is on
 * and its identity has not changed since its first token). */
void lorc_prefix_publish(lorc_sequence *seq);

#endif
