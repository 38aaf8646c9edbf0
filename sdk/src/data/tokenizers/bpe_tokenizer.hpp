#pragma once

// The BPE tokenizer behind Hugging Face tokenizer.json files and tiktoken
// rank files (internal). Byte-level models (GPT-2, Llama 3, Qwen, tiktoken)
// start a word from its bytes; SentencePiece-style models (Llama 2, Mistral
// as tokenizer.json) from its characters, with byte fallback. A word is
// merged pair by pair, lowest rank first and leftmost among equals, as the
// references do.

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "fairseq2/data/tokenizers/tokenizer.hpp"
#include "regex_splitter.hpp"

namespace fairseq2::tokenizers::detail {

// Lets string-keyed maps be searched with a string_view, without a copy.
struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

// A token matched in the raw text before any other step (Hugging Face's
// added tokens, tiktoken's special tokens).
struct AddedToken {
    std::string content;
    std::int32_t id = 0;
    bool special = false;
    bool lstrip = false;
    bool rstrip = false;
    bool single_word = false;
};

// Finds added tokens in text: the leftmost match, the longest at a position.
class AddedTokenMatcher {
public:
    void add(AddedToken token);
    bool empty() const noexcept { return tokens_.empty(); }
    // The first match at or after `from`: [begin, end) with lstrip/rstrip
    // whitespace included, and the token. False when none.
    bool find(std::string_view text, std::size_t from, std::size_t& begin, std::size_t& end, const AddedToken*& token) const;
    const AddedToken* lookup(std::string_view content) const;
    const std::vector<AddedToken>& tokens() const noexcept { return tokens_; }

private:
    std::vector<AddedToken> tokens_;
    std::array<std::vector<std::uint32_t>, 256> by_first_byte_{};  // longest first
    std::unordered_map<std::string, std::uint32_t, StringHash, std::equal_to<>> by_content_;
};

// A normaliser step of tokenizer.json.
struct NormalizerStep {
    enum class Kind { nfc, replace, prepend } kind;
    std::string pattern;  // replace: the literal replaced
    std::string content;  // replace: its replacement; prepend: what is prepended
};

// Metaspace pre-tokenizer (SentencePiece-style tokenizer.json): spaces become
// `replacement`, which is prepended to the text (always, or only to the
// text's first segment) and, with `split`, starts each word.
struct Metaspace {
    bool enabled = false;
    std::string replacement = "\xE2\x96\x81";  // U+2581
    enum class Prepend { always, first, never } prepend = Prepend::always;
    bool split = false;
};

// A decoder step of a SentencePiece-style tokenizer.json, applied to the
// list of token strings in order.
struct DecoderStep {
    enum class Kind { replace, byte_fallback, fuse, strip, metaspace } kind;
    std::string pattern;
    std::string content;
    std::size_t start = 0;
    std::size_t stop = 0;
    Metaspace::Prepend prepend = Metaspace::Prepend::always;
};

using StringIdMap = std::unordered_map<std::string, std::int32_t, StringHash, std::equal_to<>>;

class BpeTokenizer final : public Tokenizer {
public:
    struct Merge {
        std::int32_t rank;
        std::int32_t id;
    };

    // Filled by the loaders, then finish() is called.
    std::string implementation_name;
    std::string file;
    std::vector<std::string> token_bytes;  // by id; an added token's content
    StringIdMap bytes_to_id;  // the BPE vocabulary
    std::unordered_map<std::uint64_t, Merge> merges;            // (left id, right id) -> merge
    std::vector<std::unique_ptr<RegexSplitter>> splitters;      // applied in order
    AddedTokenMatcher added;
    std::vector<NormalizerStep> normalizers;
    bool ignore_merges = false;
    bool add_prefix_space = false;
    bool byte_level_names = true;  // id_to_token()/token_to_id() use GPT-2's byte-to-unicode names

    // SentencePiece-style models: words start from characters.
    bool characters = false;
    bool byte_fallback = false;  // a character outside the vocabulary becomes its <0xXX> byte tokens
    bool fuse_unk = false;       // consecutive unknown characters become one <unk>
    std::int32_t unk_id = -1;
    Metaspace metaspace;
    std::vector<DecoderStep> decoders;  // empty: the token bytes concatenated

    static std::uint64_t pair_key(std::int32_t a, std::int32_t b) noexcept
    {
        return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) | static_cast<std::uint32_t>(b);
    }

    // Checks that every byte has a token and sizes the id tables. Throws
    // TokenizerError naming `source` when the ids are so sparse that the
    // tables would hold far more empty slots than tokens (a hostile id).
    void finish(std::string_view source);

    std::string decode(std::span<const std::int64_t> ids, bool skip_special) const override;
    std::optional<std::int64_t> token_to_id(std::string_view token) const override;
    std::optional<std::string> id_to_token(std::int64_t id) const override;
    std::int64_t vocab_size() const override { return static_cast<std::int64_t>(token_bytes.size()); }
    std::string_view implementation() const override { return implementation_name; }

protected:
    std::vector<std::int64_t> encode_text(std::string_view text) const override;

private:
    void encode_segment(std::string_view segment, bool first, std::vector<std::int64_t>& out) const;
    void encode_word(std::string_view word, std::vector<std::int64_t>& out) const;
    void merge_word(std::string_view word, std::vector<std::int32_t>& out) const;
    // The initial symbols of a word of characters; false when one is unknown
    // and the model has no unknown token.
    void character_symbols(std::string_view word, std::vector<std::int32_t>& symbols) const;
    void merge_symbols(std::vector<std::int32_t>& symbols) const;
    std::string run_decoders(std::vector<std::string> tokens) const;

    std::array<std::int32_t, 256> byte_ids_{};  // byte-level: the token of each byte; characters: its <0xXX> token or -1
    std::vector<bool> special_;

    // Words seen before and their ids; bounded, shared by threads.
    mutable std::shared_mutex cache_mutex_;
    mutable std::unordered_map<std::string, std::vector<std::int32_t>, StringHash, std::equal_to<>> cache_;
};

// GPT-2's byte-level alphabet: the code point that stands for each byte.
const std::array<std::uint32_t, 256>& byte_to_unicode();

// A vocabulary name in GPT-2's alphabet as raw bytes; false when it has a
// code point outside the alphabet.
bool byte_level_to_bytes(std::string_view name, std::string& bytes);
std::string bytes_to_byte_level(std::string_view bytes);

// `text` in Unicode normalisation form C (ICU).
std::string nfc(std::string_view text);

}  // namespace fairseq2::tokenizers::detail
