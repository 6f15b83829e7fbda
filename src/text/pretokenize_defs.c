/* pretokenize_defs.c — the table of byte-level BPE pre-tokenizers lorc knows:
 * for each tokenizer.ggml.pre name, the regexes applied in sequence and the
 * vocab defaults that come with it (the lists are those llama.cpp uses, so
 * token ids agree with it; non-ASCII is written as \x{...} escapes because
 * several characters here have canonical equivalents an editor may swap). */
#include <stddef.h>
#include <string.h>

#include "pretokenize.h"

/* GPT-2's pattern, with the trailing "\s+" that llama.cpp's hand-written
 * matcher for it applies. */
#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

/* Llama 3 (tiktoken cl100k style); the case-insensitive contractions are
 * spelled out as llama.cpp does. */
#define RE_CONTRACTIONS "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
#define RE_LLAMA3                                                                                         \
    RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+" \
                    "|\\s+(?!\\S)|\\s+"
#define RE_QWEN2                                                                                      \
    RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+" \
                    "|\\s+(?!\\S)|\\s+"

/* CJK ideographs, and the 0x800..0x4E00 / Hangul blocks, as DeepSeek splits them. */
#define RE_DEEPSEEK_CJK "[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+"

/* DeepSeek LLM's letter class: the cased letters (Lu/Ll/Lt) of the Unicode
 * version its tokenizer.json was generated from. */
#define RE_DEEPSEEK_LETTERS                                                                                     \
    "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}\\x{1C4}-\\x{293}"         \
    "\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}\\x{37F}\\x{386}\\x{388}-\\x{38A}"         \
    "\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}"                \
    "\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}"             \
    "\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}"             \
    "\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}"     \
    "\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}"    \
    "\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}"              \
    "\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}\\x{212A}-\\x{212D}"               \
    "\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}"               \
    "\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}"             \
    "\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}"             \
    "\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}"           \
    "\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}"   \
    "\\x{1E900}-\\x{1E943}]+"

/* ASCII and full-width punctuation, curly quotes, ideographic space..full stop. */
#define RE_DEEPSEEK_PUNCT "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+"

#define RE_BLOOM " ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{0964}\\x{06D4}\\x{060C})]+"

/* Tekken / GPT-4o: "upper* lower+" words; llama.cpp rewrites \p{Lu}/\p{Ll}
 * as "a letter that is not a-z / A-Z" and lorc keeps that reading. */
#define RE_UPPER_STAR "((?=[\\p{L}])([^a-z]))*"
#define RE_LOWER_PLUS "((?=[\\p{L}])([^A-Z]))+"
#define RE_UPPER_PLUS "((?=[\\p{L}])([^a-z]))+"
#define RE_LOWER_STAR "((?=[\\p{L}])([^A-Z]))*"
#define RE_TEKKEN                                                                                        \
    "[^\\r\\n\\p{L}\\p{N}]?" RE_UPPER_STAR RE_LOWER_PLUS "|[^\\r\\n\\p{L}\\p{N}]?" RE_UPPER_PLUS RE_LOWER_STAR \
    "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_GPT4O                                                                                               \
    "[^\\r\\n\\p{L}\\p{N}]?" RE_UPPER_STAR RE_LOWER_PLUS RE_CONTRACTIONS "?|[^\\r\\n\\p{L}\\p{N}]?" RE_UPPER_PLUS \
    RE_LOWER_STAR RE_CONTRACTIONS "?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

static const char *const re_default[] = {"[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]", NULL};
static const char *const re_gpt2[] = {RE_GPT2, NULL};
static const char *const re_llama3[] = {RE_LLAMA3, NULL};
static const char *const re_qwen2[] = {RE_QWEN2, NULL};
static const char *const re_deepseek_llm[] = {
    "[\r\n]", RE_DEEPSEEK_LETTERS, RE_DEEPSEEK_PUNCT, "\\s+$", RE_DEEPSEEK_CJK, "\\p{N}+", NULL};
static const char *const re_deepseek_coder[] = {
    "[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RE_DEEPSEEK_CJK, "\\p{N}", NULL};
static const char *const re_deepseek3[] = {
    "\\p{N}{1,3}", "[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+",
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+"
    "| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
    NULL};
static const char *const re_falcon[] = {"[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2, "[0-9][0-9][0-9]", NULL};
static const char *const re_starcoder[] = {"\\p{N}", RE_GPT2, NULL};
static const char *const re_bloom[] = {RE_BLOOM, NULL};
static const char *const re_viking[] = {RE_BLOOM, "\\p{N}", NULL};
static const char *const re_tekken[] = {RE_TEKKEN, NULL};
static const char *const re_gpt4o[] = {RE_GPT4O, NULL};

#define NAMES(...) ((const char *const[]){__VA_ARGS__, NULL})

/*                 names                                             regexes            clean  ignore bos */
static const pretok_def defs[] = {
    {NAMES("default"), re_default, true, false, false},
    {NAMES("gpt-2", "gpt2", "phi-2", "mpt", "olmo", "jais", "gigachat", "exaone4"), re_gpt2, true, false, false},
    {NAMES("llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral"), re_llama3, true, true, true},
    {NAMES("dbrx", "smaug-bpe"), re_llama3, true, false, false},
    {NAMES("qwen2", "deepseek-r1-qwen", "hunyuan"), re_qwen2, false, false, false},
    {NAMES("stablelm2", "megrez"), re_qwen2, true, false, false},
    {NAMES("deepseek-llm"), re_deepseek_llm, false, false, false},
    {NAMES("deepseek-coder"), re_deepseek_coder, false, false, false},
    {NAMES("deepseek-v3"), re_deepseek3, false, false, false},
    {NAMES("falcon"), re_falcon, true, false, false},
    {NAMES("starcoder", "refact", "codeshell", "exaone", "minerva-7b"), re_starcoder, true, false, false},
    {NAMES("command-r", "smollm"), re_starcoder, false, false, false},
    {NAMES("bloom", "gpt3-finnish"), re_bloom, true, false, false},
    {NAMES("poro-chat"), re_bloom, false, false, false},
    {NAMES("viking"), re_viking, false, false, false},
    {NAMES("tekken"), re_tekken, false, true, true},
    {NAMES("gpt-4o", "llama4"), re_gpt4o, false, false, false},
};

const pretok_def *pretok_default(void) { return &defs[0]; }

const pretok_def *pretok_find(const char *name) {
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++)
        for (const char *const *n = defs[i].names; *n; n++)
            if (strcmp(*n, name) == 0) return &defs[i];
    return NULL;
}

size_t pretok_all(const pretok_def **out) {
    *out = defs;
    return sizeof defs / sizeof defs[0];
}
