/* vocab_special.h — special token ids (BOS/EOS/EOT/EOM/UNK/PAD), the
 * add_bos/add_eos rules, end-of-generation detection and the list of tokens
 * matched verbatim in text, all read from tokenizer.ggml.* keys. */
#ifndef LORC_TEXT_VOCAB_SPECIAL_H
#define LORC_TEXT_VOCAB_SPECIAL_H

#include "../format/gguf.h"
#include "vocab_internal.h"

/* Runs after the tokens are loaded (kind defaults already set). */
lorc_status vocab_load_special(lorc_vocab *v, const gguf_file *f, lorc_error *err);

#endif
