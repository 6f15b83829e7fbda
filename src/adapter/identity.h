/* identity.h — content identities of adapters and overlays: a 64-bit hash
 * of what they compute with (tensor bytes, per-slot scales and flags), so
 * that the prefix cache can tell "the same weights" from "the same name".
 * Computed once at load; an adapter evicted and loaded again gets the same
 * identity, a different file under the same name a different one. */
#ifndef LORC_ADAPTER_IDENTITY_H
#define LORC_ADAPTER_IDENTITY_H

#include <stdint.h>

#include "adapter.h"
#include "overlay.h"

/* Hash of every slot the adapter touches: slot index, the LoRA pair, the
 * replacement and DoRA magnitude tensors (shape, type, bytes), the slot's own
 * scale and its DoRA flag. */
uint64_t lorc_adapter_identity_compute(const lorc_adapter *ad);
/* Hash of the overlay's replacement tensors (slot, shape, type, bytes). */
uint64_t lorc_overlay_identity_compute(const lorc_overlay *ov);

#endif
