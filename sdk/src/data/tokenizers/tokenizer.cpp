#include "fairseq2/data/tokenizers/tokenizer.hpp"

#include <algorithm>
#include <cstdio>

#include "utf8.hpp"

namespace fairseq2::tokenizers {

TokenizerError::~TokenizerError() = default;

std::optional<EncodeMode> parse_encode_mode(std::string_view name)
{
    if (name == "default")
        return EncodeMode::default_;
    if (name == "prompt")
        return EncodeMode::prompt;
    if (name == "prompt_response")
        return EncodeMode::prompt_response;
    if (name == "as_is")
        return EncodeMode::as_is;
    return std::nullopt;
}

std::string_view encode_mode_name(EncodeMode mode)
{
    switch (mode) {
    case EncodeMode::default_:
        return "default";
    case EncodeMode::prompt:
        return "prompt";
    case EncodeMode::prompt_response:
        return "prompt_response";
    case EncodeMode::as_is:
        return "as_is";
    }
    return "default";
}

Tokenizer::~Tokenizer() = default;

std::vector<std::int64_t> Tokenizer::encode(std::string_view text, EncodeMode mode) const
{
    check_utf8(text);
    std::vector<std::int64_t> body = encode_text(text);
    bool bos = add_bos_ && specials_.bos && (mode == EncodeMode::default_ || mode == EncodeMode::prompt);
    bool eos = specials_.eos && (mode == EncodeMode::default_ || mode == EncodeMode::prompt_response);
    if (!bos && !eos)
        return body;
    std::vector<std::int64_t> ids;
    ids.reserve(body.size() + 2);
    if (bos)
        ids.push_back(specials_.bos->id);
    ids.insert(ids.end(), body.begin(), body.end());
    if (eos)
        ids.push_back(specials_.eos->id);
    return ids;
}

VocabularyInfo Tokenizer::vocab_info() const
{
    VocabularyInfo info;
    info.size = vocab_size();
    if (specials_.unk)
        info.unk_idx = specials_.unk->id;
    if (specials_.bos)
        info.bos_idx = specials_.bos->id;
    if (specials_.eos)
        info.eos_idx = specials_.eos->id;
    if (specials_.pad)
        info.pad_idx = specials_.pad->id;
    return info;
}

std::vector<std::int64_t> Tokenizer::stop_ids() const
{
    std::vector<std::int64_t> ids;
    if (specials_.eos)
        ids.push_back(specials_.eos->id);
    if (specials_.end_of_turn)
        ids.push_back(specials_.end_of_turn->id);
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    return ids;
}

std::string Tokenizer::chat_prompt(std::string_view message) const
{
    if (chat_.empty())
        throw InvalidArgumentError("The " + std::string(implementation()) +
                                   " tokenizer has no chat format: its family does not define an instruct prompt.");
    if (chat_.trim_message) {
        auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; };
        while (!message.empty() && space(message.front()))
            message.remove_prefix(1);
        while (!message.empty() && space(message.back()))
            message.remove_suffix(1);
    }
    std::string text = chat_.prefix;
    text.append(message);
    text += chat_.suffix;
    return text;
}

std::vector<std::int64_t> Tokenizer::encode_chat(std::string_view message) const
{
    check_utf8(message);
    std::string text = chat_prompt(message);
    std::vector<std::int64_t> ids = encode_text(text);
    if (add_bos_ && specials_.bos)
        ids.insert(ids.begin(), specials_.bos->id);
    return ids;
}

void Tokenizer::set_special_tokens(SpecialTokens specials, bool add_bos)
{
    specials_ = std::move(specials);
    add_bos_ = add_bos && specials_.bos.has_value();
}

void Tokenizer::use_end_of_turn_as_eos(std::string_view option)
{
    if (!specials_.end_of_turn)
        throw TokenizerError("'" + std::string(option) + "' is set, but the " + std::string(implementation()) +
                             " tokenizer has no end-of-turn token.");
    specials_.eos = specials_.end_of_turn;
}

void Tokenizer::check_id(std::int64_t id) const
{
    if (id < 0 || id >= vocab_size())
        throw InvalidArgumentError("The token id " + std::to_string(id) + " is outside the vocabulary of the " +
                                   std::string(implementation()) + " tokenizer (ids 0 to " + std::to_string(vocab_size() - 1) + ").");
}

std::optional<std::size_t> find_invalid_utf8(std::string_view text) noexcept
{
    std::size_t i = 0;
    while (i < text.size()) {
        std::size_t n = detail::utf8_sequence_length(text, i);
        if (n == 0)
            return i;
        i += n;
    }
    return std::nullopt;
}

void check_utf8(std::string_view text)
{
    auto bad = find_invalid_utf8(text);
    if (!bad)
        return;
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned char>(text[*bad]));
    throw TokenizerError("The text is not valid UTF-8: the byte at offset " + std::to_string(*bad) + " (" + hex +
                         ") does not begin a complete UTF-8 sequence.");
}

std::string sanitize_utf8(std::string_view bytes)
{
    std::string out;
    out.reserve(bytes.size());
    std::size_t i = 0;
    while (i < bytes.size()) {
        std::size_t n = detail::utf8_sequence_length(bytes, i);
        if (n == 0) {
            out += "\xEF\xBF\xBD";
            // One replacement for the maximal invalid prefix, as the WHATWG
            // decoder and Python's errors="replace" do.
            i += std::max<std::size_t>(1, detail::utf8_invalid_prefix_length(bytes, i));
        } else {
            out.append(bytes.substr(i, n));
            i += n;
        }
    }
    return out;
}

IncrementalDetokenizer::IncrementalDetokenizer(const Tokenizer& tokenizer, bool skip_special)
    : tokenizer_{&tokenizer}, skip_special_{skip_special}
{
}

// The window approach: the text of the new ids is read as the difference
// between the window's text with and without them, so a piece whose spacing
// depends on its left neighbour (SentencePiece's leading "▁") decodes as in
// the whole sequence. Text that ends in U+FFFD may be an incomplete UTF-8
// sequence and waits for the next id.
std::string IncrementalDetokenizer::push(std::int64_t id)
{
    if (id < 0 || id >= tokenizer_->vocab_size())
        throw InvalidArgumentError("The token id " + std::to_string(id) + " is outside the vocabulary of the " +
                                   std::string(tokenizer_->implementation()) + " tokenizer (ids 0 to " +
                                   std::to_string(tokenizer_->vocab_size() - 1) + ").");
    ids_.push_back(id);
    std::span<const std::int64_t> all(ids_);
    std::string before = tokenizer_->decode(all.subspan(prefix_, read_ - prefix_), skip_special_);
    std::string after = tokenizer_->decode(all.subspan(prefix_), skip_special_);
    static constexpr std::string_view replacement = "\xEF\xBF\xBD";
    if (after.size() <= before.size() || (after.size() >= 3 && std::string_view(after).substr(after.size() - 3) == replacement))
        return {};
    if (after.compare(0, before.size(), before) != 0) {
        // The new id changed earlier text (a normaliser across pieces): wait.
        return {};
    }
    std::string delta = after.substr(before.size());
    prefix_ = read_;
    read_ = ids_.size();
    return delta;
}

std::string IncrementalDetokenizer::finish()
{
    std::span<const std::int64_t> all(ids_);
    std::string before = tokenizer_->decode(all.subspan(prefix_, read_ - prefix_), skip_special_);
    std::string after = tokenizer_->decode(all.subspan(prefix_), skip_special_);
    prefix_ = read_ = ids_.size();
    if (after.size() <= before.size() || after.compare(0, before.size(), before) != 0)
        return {};
    return after.substr(before.size());
}

}  // namespace fairseq2::tokenizers
