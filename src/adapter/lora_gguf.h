/* lora_gguf.h — loading llama.cpp GGUF LoRA adapter files into a lorc_adapter. */
#ifndef LORC_ADAPTER_LORA_GGUF_H
#define LORC_ADAPTER_LORA_GGUF_H

#include "adapter.h"

/* Fills `ad` (fresh from adapter_new) from the GGUF adapter at ad->path. */
lorc_status lora_gguf_load(lorc_adapter *ad, lorc_error *err);

#endif
