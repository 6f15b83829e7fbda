/* vocab.h — tokenizer vocabulary built from GGUF tokenizer.ggml.* metadata:
 * SentencePiece-style (model "llama") and byte-level BPE (model "gpt2") with
 * pre-tokenizers chosen by tokenizer.ggml.pre. The public tokenize/detokenize
 * functions of lorc.h are implemented on this. */
#ifndef LORC_TEXT_VOCAB_H
#define LORC_TEXT_VOCAB_H

#include "../format/gguf.h"
#include "lorc.h"

/* Builds the vocab from an open GGUF (copies what it needs: the file may be
 * closed afterwards). Errors name the file and the tokenizer field. */
lorc_status lorc_vocab_from_gguf(const gguf_file *f, lorc_vocab **out, lorc_error *err);

#endif
