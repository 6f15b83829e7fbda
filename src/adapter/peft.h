/* peft.h — loading Hugging Face PEFT LoRA directories (adapter_config.json +
 * adapter_model.safetensors) into a lorc_adapter, in GGUF tensor layout. */
#ifndef LORC_ADAPTER_PEFT_H
#define LORC_ADAPTER_PEFT_H

#include "adapter.h"

/* Fills `ad` (fresh from adapter_new) from the PEFT directory at ad->path. */
lorc_status peft_load(lorc_adapter *ad, lorc_error *err);

#endif
