#pragma once

// The tokenizer implementations of the SDK and how files are told apart.
// A family's handler picks its defaults (TokenizerDefaults) and calls
// load_tokenizer(); what the files say about special tokens wins over the
// defaults.

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fairseq2/data/tokenizers/tokenizer.hpp"

namespace fairseq2::tokenizers {

enum class TokenizerFormat {
    sentencepiece,   // a SentencePiece model (protobuf)
    tokenizer_json,  // a Hugging Face tokenizer.json (tokenizer_config.json read beside it)
    tiktoken,        // a tiktoken rank file: "<base64 token> <rank>" lines
    char_vocab,      // one symbol (a code point) per line
};

FAIRSEQ2_API std::string_view tokenizer_format_name(TokenizerFormat format);

// What a family assumes where its files say nothing. Tokens are given by
// their text and looked up in the vocabulary; a token the vocabulary does not
// have is an error naming it (except end_of_turn, which base models lack).
struct TokenizerDefaults {
    std::optional<std::string> bos;
    std::optional<std::string> eos;
    std::optional<std::string> pad;
    std::optional<std::string> unk;
    std::optional<std::string> end_of_turn;
    // Whether BOS is added in the default and prompt modes.
    bool add_bos = false;
    ChatFormat chat;

    // tiktoken: the pre-tokenizer's split regex (PCRE2 syntax) and the
    // special tokens, numbered in order after the last rank.
    std::string split_regex;
    std::vector<std::string> special_tokens;

    // Characters: the symbols before the file's (their ids come first).
    std::vector<std::string> char_specials = {"<s>", "<pad>", "</s>", "<unk>"};
};

// The file a path names: `path` itself, or for a directory its
// tokenizer.json, else its tokenizer.model. Throws TokenizerError naming the
// directory and the files looked for when it has neither.
FAIRSEQ2_API std::filesystem::path find_tokenizer_file(const std::filesystem::path& path);

// Whether a directory (a Hugging Face checkpoint) holds a tokenizer file.
FAIRSEQ2_API bool has_tokenizer_file(const std::filesystem::path& directory);

// The format of the file, told by its content alone. Throws TokenizerError
// naming the file and what it found when it is none of them.
FAIRSEQ2_API TokenizerFormat detect_tokenizer_format(const std::filesystem::path& file);

// Loads the tokenizer at `path` (a file, or a directory holding one) in the
// format its content shows. Every problem is one TokenizerError naming the file.
FAIRSEQ2_API std::shared_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& path, const TokenizerDefaults& defaults = {});

FAIRSEQ2_API std::shared_ptr<Tokenizer> load_sentencepiece_tokenizer(const std::filesystem::path& file, const TokenizerDefaults& defaults);
FAIRSEQ2_API std::shared_ptr<Tokenizer> load_hf_tokenizer(const std::filesystem::path& file, const TokenizerDefaults& defaults);
FAIRSEQ2_API std::shared_ptr<Tokenizer> load_tiktoken_tokenizer(const std::filesystem::path& file, const TokenizerDefaults& defaults);
FAIRSEQ2_API std::shared_ptr<Tokenizer> load_char_tokenizer(const std::filesystem::path& file, const TokenizerDefaults& defaults);

// A fairseq (v1) dictionary, dict.txt: <s> 0, <pad> 1, </s> 2, <unk> 3,
// then one "SYMBOL COUNT" line per symbol in file order (split at the last
// space; a trailing "#fairseq:overwrite" lets a symbol repeat, replacing its
// earlier entry), padded with madeupword0000, madeupword0001, ... to a
// multiple of `pad_to_multiple` symbols as fairseq's finalize() does (a
// dictionary fairseq wrote is already padded). Text is symbols separated by
// whitespace; unknown symbols encode as <unk>; the default mode appends
// </s> (fairseq's encode_line), no BOS. Decoding joins symbols with
// spaces. Throws TokenizerError naming the file and line for a malformed
// line or a repeated symbol.
FAIRSEQ2_API std::shared_ptr<Tokenizer> load_fairseq_dictionary(const std::filesystem::path& file, std::int64_t pad_to_multiple = 8);

// A character tokenizer of `symbols` (after defaults.char_specials); code
// points it does not know encode as <unk>.
FAIRSEQ2_API std::shared_ptr<Tokenizer> make_char_tokenizer(const std::vector<std::string>& symbols, const TokenizerDefaults& defaults = {});

}  // namespace fairseq2::tokenizers
