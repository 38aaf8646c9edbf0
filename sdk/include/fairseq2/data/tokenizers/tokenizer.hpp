#pragma once

// Text to token ids and back. A Tokenizer is what a tokenizer family's
// handler loads from its files (see tokenizer_handler.hpp); the SDK carries
// the implementations (SentencePiece, Hugging Face tokenizer.json, tiktoken
// rank files, characters) and a family only configures them.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fairseq2/data/vocabulary_info.hpp"
#include "fairseq2/error.hpp"
#include "fairseq2/version.hpp"

namespace fairseq2::tokenizers {

// Text that is not valid UTF-8, or a tokenizer file that cannot be read.
class FAIRSEQ2_API TokenizerError : public Error {
public:
    using Error::Error;
    ~TokenizerError() override;
};

// What encode() adds around the text, as the reference's modes:
//   default_:        BOS (when the tokenizer adds one), text, EOS
//   prompt:          BOS (when the tokenizer adds one), text
//   prompt_response: text, EOS
//   as_is:           text
enum class EncodeMode { default_, prompt, prompt_response, as_is };

// "default", "prompt", "prompt_response", "as_is"; nullopt for another name.
FAIRSEQ2_API std::optional<EncodeMode> parse_encode_mode(std::string_view name);
FAIRSEQ2_API std::string_view encode_mode_name(EncodeMode mode);

// The special tokens of a tokenizer by role, each with its text.
struct SpecialToken {
    std::string text;
    std::int64_t id = 0;
};

struct SpecialTokens {
    std::optional<SpecialToken> bos;
    std::optional<SpecialToken> eos;
    std::optional<SpecialToken> pad;
    std::optional<SpecialToken> unk;
    // The token an instruct model ends its turn with (<|eot_id|>, <|im_end|>).
    std::optional<SpecialToken> end_of_turn;
};

// How a family wraps one user message as an instruct prompt: the text is
// prefix + message + suffix, encoded as_is with special tokens recognised.
// Empty `prefix` and `suffix` mean the family has no chat format.
struct ChatFormat {
    std::string prefix;
    std::string suffix;
    // Whitespace is trimmed from both ends of the message first (Llama 3's template does).
    bool trim_message = false;

    bool empty() const noexcept { return prefix.empty() && suffix.empty(); }
};

class FAIRSEQ2_API Tokenizer {
public:
    virtual ~Tokenizer();

    // The ids of `text` in `mode`. Throws TokenizerError naming the byte
    // offset when `text` is not valid UTF-8.
    std::vector<std::int64_t> encode(std::string_view text, EncodeMode mode = EncodeMode::default_) const;

    // The text of `ids`; with `skip_special`, the special (control) tokens
    // are left out. Bytes that do not form UTF-8 become U+FFFD. Throws
    // InvalidArgumentError naming an id outside the vocabulary.
    virtual std::string decode(std::span<const std::int64_t> ids, bool skip_special = false) const = 0;

    virtual VocabularyInfo vocab_info() const;

    const SpecialTokens& special_tokens() const noexcept { return specials_; }

    // Whether encode() puts BOS first in the default and prompt modes.
    bool adds_bos() const noexcept { return add_bos_; }

    // The id of a token given by its text (a special token or a piece of the
    // vocabulary); nullopt when the vocabulary has none.
    virtual std::optional<std::int64_t> token_to_id(std::string_view token) const = 0;

    // The vocabulary's text of `id` (a piece, not decoded text); nullopt
    // outside the vocabulary.
    virtual std::optional<std::string> id_to_token(std::int64_t id) const = 0;

    virtual std::int64_t vocab_size() const = 0;

    // The ids generation stops at: EOS and the end-of-turn token, sorted, no duplicates.
    std::vector<std::int64_t> stop_ids() const;

    const ChatFormat& chat_format() const noexcept { return chat_; }

    // `message` wrapped as one user turn in the chat format; throws
    // InvalidArgumentError when the tokenizer has none.
    std::string chat_prompt(std::string_view message) const;

    // The ids of `message` as one user turn: BOS where the tokenizer adds
    // one, then chat_prompt(message) with its special tokens recognised.
    std::vector<std::int64_t> encode_chat(std::string_view message) const;

    // The name of the implementation ("sentencepiece", "tokenizer.json",
    // "tiktoken", "char") and the file it was read from, for messages.
    virtual std::string_view implementation() const = 0;

    // Called by the loaders: the roles, whether BOS is added, the chat format.
    void set_special_tokens(SpecialTokens specials, bool add_bos);
    void set_chat_format(ChatFormat chat) { chat_ = std::move(chat); }

    // Makes the end-of-turn token the EOS, as instruct cards ask (llama's
    // use_eot, qwen's use_im_end); throws TokenizerError naming `option`
    // when the tokenizer has no end-of-turn token.
    void use_end_of_turn_as_eos(std::string_view option);

protected:
    // The ids of valid UTF-8 `text` with nothing added.
    virtual std::vector<std::int64_t> encode_text(std::string_view text) const = 0;

    // Throws InvalidArgumentError when `id` is outside the vocabulary.
    void check_id(std::int64_t id) const;

private:
    SpecialTokens specials_;
    bool add_bos_ = false;
    ChatFormat chat_;
};

// The byte offset of the first byte of `text` that does not belong to a
// valid UTF-8 sequence, or nullopt when the whole text is valid.
FAIRSEQ2_API std::optional<std::size_t> find_invalid_utf8(std::string_view text) noexcept;

// Throws TokenizerError "The text is not valid UTF-8: the byte at offset N
// (0xXX) ..." when `text` is not valid UTF-8.
FAIRSEQ2_API void check_utf8(std::string_view text);

// `bytes` with every sequence that is not UTF-8 replaced by U+FFFD.
FAIRSEQ2_API std::string sanitize_utf8(std::string_view bytes);

// Turns ids into text as they arrive: push() returns the text the ids so far
// make that was not returned before; text that may still change (an
// incomplete UTF-8 sequence, a piece whose spacing depends on the next one)
// is held back until it is settled, and finish() returns what is left.
class FAIRSEQ2_API IncrementalDetokenizer {
public:
    explicit IncrementalDetokenizer(const Tokenizer& tokenizer, bool skip_special = true);

    std::string push(std::int64_t id);
    std::string finish();

    // Every id pushed so far.
    const std::vector<std::int64_t>& ids() const noexcept { return ids_; }

private:
    const Tokenizer* tokenizer_;
    bool skip_special_;
    std::vector<std::int64_t> ids_;
    std::size_t prefix_ = 0;  // first id of the decoding window
    std::size_t read_ = 0;    // ids whose text has been returned
};

}  // namespace fairseq2::tokenizers
