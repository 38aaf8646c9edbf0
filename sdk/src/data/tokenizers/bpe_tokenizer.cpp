#include "bpe_tokenizer.hpp"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <queue>

#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#include "utf8.hpp"

namespace fairseq2::tokenizers::detail {

namespace {

bool is_space(char c) noexcept
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool is_word_byte(char c) noexcept
{
    auto u = static_cast<unsigned char>(c);
    return std::isalnum(u) != 0 || c == '_' || u >= 0x80;
}

constexpr std::size_t cache_capacity = 1 << 18;

}  // namespace

void AddedTokenMatcher::add(AddedToken token)
{
    if (token.content.empty())
        return;
    auto index = static_cast<std::uint32_t>(tokens_.size());
    auto first = static_cast<unsigned char>(token.content[0]);
    by_content_.emplace(token.content, index);  // the first of a content wins
    tokens_.push_back(std::move(token));
    // Longest first, and in order of addition among equal lengths: inserted
    // after the last token at least as long, without re-sorting the bucket.
    auto& bucket = by_first_byte_[first];
    const std::size_t size = tokens_.back().content.size();
    auto at = std::upper_bound(bucket.begin(), bucket.end(), size,
                               [&](std::size_t length, std::uint32_t other) { return length > tokens_[other].content.size(); });
    bucket.insert(at, index);
}

bool AddedTokenMatcher::find(std::string_view text, std::size_t from, std::size_t& begin, std::size_t& end,
                             const AddedToken*& token) const
{
    for (std::size_t i = from; i < text.size(); ++i) {
        const auto& bucket = by_first_byte_[static_cast<unsigned char>(text[i])];
        for (std::uint32_t index : bucket) {
            const AddedToken& t = tokens_[index];
            if (text.size() - i < t.content.size() || std::memcmp(text.data() + i, t.content.data(), t.content.size()) != 0)
                continue;
            std::size_t b = i, e = i + t.content.size();
            if (t.single_word && ((b > 0 && is_word_byte(text[b - 1])) || (e < text.size() && is_word_byte(text[e]))))
                continue;
            if (t.lstrip)
                while (b > from && is_space(text[b - 1]))
                    --b;
            if (t.rstrip)
                while (e < text.size() && is_space(text[e]))
                    ++e;
            begin = b;
            end = e;
            token = &t;
            return true;
        }
    }
    return false;
}

const AddedToken* AddedTokenMatcher::lookup(std::string_view content) const
{
    auto it = by_content_.find(content);
    return it == by_content_.end() ? nullptr : &tokens_[it->second];
}

const std::array<std::uint32_t, 256>& byte_to_unicode()
{
    static const std::array<std::uint32_t, 256> table = [] {
        std::array<std::uint32_t, 256> t{};
        std::uint32_t next = 256;
        for (std::uint32_t b = 0; b < 256; ++b) {
            bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
            t[b] = printable ? b : next++;
        }
        return t;
    }();
    return table;
}

bool byte_level_to_bytes(std::string_view name, std::string& bytes)
{
    static const std::unordered_map<std::uint32_t, unsigned char> inverse = [] {
        std::unordered_map<std::uint32_t, unsigned char> m;
        const auto& t = byte_to_unicode();
        for (std::uint32_t b = 0; b < 256; ++b)
            m.emplace(t[b], static_cast<unsigned char>(b));
        return m;
    }();
    bytes.clear();
    std::size_t i = 0;
    while (i < name.size()) {
        std::size_t n = utf8_sequence_length(name, i);
        if (n == 0)
            return false;
        auto it = inverse.find(decode_utf8(name, i, n));
        if (it == inverse.end())
            return false;
        bytes += static_cast<char>(it->second);
        i += n;
    }
    return true;
}

std::string bytes_to_byte_level(std::string_view bytes)
{
    const auto& t = byte_to_unicode();
    std::string out;
    for (char c : bytes)
        append_utf8(out, t[static_cast<unsigned char>(c)]);
    return out;
}

std::string nfc(std::string_view text)
{
    // Code points below U+0300 neither decompose nor combine with what
    // follows unless a combining mark (U+0300 and up) follows: the lead
    // bytes of all such code points are below 0xCC.
    if (std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0xCC; }))
        return std::string(text);
    UErrorCode status = U_ZERO_ERROR;
    const UNormalizer2* normalizer = unorm2_getNFCInstance(&status);
    std::vector<UChar> utf16(text.size() + 1);
    int32_t length16 = 0;
    u_strFromUTF8(utf16.data(), static_cast<int32_t>(utf16.size()), &length16, text.data(), static_cast<int32_t>(text.size()), &status);
    if (U_FAILURE(status))
        throw TokenizerError(std::string("ICU cannot read the text to normalise it: ") + u_errorName(status) + ".");
    std::vector<UChar> normal(static_cast<std::size_t>(length16) * 3 + 16);
    int32_t length_n = unorm2_normalize(normalizer, utf16.data(), length16, normal.data(), static_cast<int32_t>(normal.size()), &status);
    if (U_FAILURE(status))
        throw TokenizerError(std::string("ICU cannot normalise the text to NFC: ") + u_errorName(status) + ".");
    std::string out(static_cast<std::size_t>(length_n) * 3 + 4, '\0');
    int32_t length8 = 0;
    u_strToUTF8(out.data(), static_cast<int32_t>(out.size()), &length8, normal.data(), length_n, &status);
    if (U_FAILURE(status))
        throw TokenizerError(std::string("ICU cannot write the normalised text: ") + u_errorName(status) + ".");
    out.resize(static_cast<std::size_t>(length8));
    return out;
}

void BpeTokenizer::finish(std::string_view source)
{
    std::int32_t size = 0;
    for (const auto& [bytes, id] : bytes_to_id)
        size = std::max(size, id + 1);
    for (const auto& t : added.tokens())
        size = std::max(size, t.id + 1);
    // Real vocabularies number their tokens densely (Llama 3 and Qwen leave
    // no gaps); the tables have a slot per id up to the largest.
    const std::size_t tokens = bytes_to_id.size() + added.tokens().size();
    if (static_cast<std::size_t>(size) > 2 * tokens + 4096)
        throw TokenizerError(std::string(source) + ": the largest token id is " + std::to_string(size - 1) + ", but there are only " +
                             std::to_string(tokens) + " tokens; token ids must number the vocabulary without large gaps.");
    token_bytes.resize(static_cast<std::size_t>(size));
    special_.assign(static_cast<std::size_t>(size), false);
    for (const auto& [bytes, id] : bytes_to_id)
        token_bytes[static_cast<std::size_t>(id)] = bytes;
    for (const auto& t : added.tokens()) {
        token_bytes[static_cast<std::size_t>(t.id)] = t.content;
        special_[static_cast<std::size_t>(t.id)] = t.special;
    }
    for (std::uint32_t b = 0; b < 256; ++b) {
        if (characters) {
            char name[8];
            std::snprintf(name, sizeof name, "<0x%02X>", b);
            auto it = bytes_to_id.find(std::string_view(name));
            byte_ids_[b] = it == bytes_to_id.end() ? -1 : it->second;
            if (byte_fallback && byte_ids_[b] < 0)
                throw TokenizerError(file + ": model.byte_fallback is set, but the vocabulary has no byte token " + name + ".");
            continue;
        }
        auto it = bytes_to_id.find(std::string(1, static_cast<char>(b)));
        if (it == bytes_to_id.end()) {
            char hex[8];
            std::snprintf(hex, sizeof hex, "0x%02X", b);
            throw TokenizerError(file + ": the vocabulary has no token for the byte " + hex +
                                 ", which a byte-level BPE vocabulary must have for every byte.");
        }
        byte_ids_[b] = it->second;
    }
}

std::vector<std::int64_t> BpeTokenizer::encode_text(std::string_view text) const
{
    std::vector<std::int64_t> out;
    out.reserve(text.size() / 3 + 4);
    std::size_t pos = 0;
    bool first = true;
    while (pos < text.size()) {
        std::size_t begin = 0, end = 0;
        const AddedToken* token = nullptr;
        if (added.empty() || !added.find(text, pos, begin, end, token)) {
            encode_segment(text.substr(pos), first, out);
            break;
        }
        if (begin > pos)
            encode_segment(text.substr(pos, begin - pos), first, out);
        out.push_back(token->id);
        first = false;
        pos = end;
    }
    return out;
}

namespace {

void replace_all(std::string& text, std::string_view pattern, std::string_view content)
{
    if (pattern.empty())
        return;
    std::string out;
    std::size_t start = 0;
    for (std::size_t at; (at = text.find(pattern, start)) != std::string::npos; start = at + pattern.size()) {
        out.append(text, start, at - start);
        out.append(content);
    }
    if (start == 0)
        return;
    out.append(text, start, std::string::npos);
    text = std::move(out);
}

}  // namespace

void BpeTokenizer::encode_segment(std::string_view segment, bool first, std::vector<std::int64_t>& out) const
{
    std::string normalized;
    bool owned = false;
    auto own = [&] {
        if (!owned) {
            normalized.assign(segment);
            owned = true;
        }
    };
    for (const auto& step : normalizers) {
        switch (step.kind) {
        case NormalizerStep::Kind::nfc:
            normalized = nfc(owned ? std::string_view(normalized) : segment);
            owned = true;
            break;
        case NormalizerStep::Kind::replace:
            own();
            replace_all(normalized, step.pattern, step.content);
            break;
        case NormalizerStep::Kind::prepend:
            own();
            if (!normalized.empty())
                normalized.insert(0, step.content);
            break;
        }
    }
    if (owned)
        segment = normalized;
    if (add_prefix_space && first && !segment.empty() && segment[0] != ' ') {
        own();
        normalized.insert(normalized.begin(), ' ');
        segment = normalized;
    }
    if (metaspace.enabled) {
        own();
        replace_all(normalized, " ", metaspace.replacement);
        bool prepend = metaspace.prepend == Metaspace::Prepend::always || (metaspace.prepend == Metaspace::Prepend::first && first);
        if (prepend && normalized.compare(0, metaspace.replacement.size(), metaspace.replacement) != 0)
            normalized.insert(0, metaspace.replacement);
        segment = normalized;
        if (metaspace.split) {
            // Each replacement starts a word (merged with what follows it).
            std::size_t start = 0;
            while (start < segment.size()) {
                std::size_t next = segment.find(metaspace.replacement, start + 1);
                if (next == std::string_view::npos)
                    next = segment.size();
                encode_word(segment.substr(start, next - start), out);
                start = next;
            }
            return;
        }
    }
    if (splitters.empty()) {
        encode_word(segment, out);
        return;
    }
    // Each splitter splits the pieces of the one before.
    auto apply = [&](auto&& self, std::size_t level, std::string_view piece) -> void {
        if (level == splitters.size()) {
            encode_word(piece, out);
            return;
        }
        splitters[level]->split(piece, [&](std::string_view p) { self(self, level + 1, p); });
    };
    apply(apply, 0, segment);
}

void BpeTokenizer::encode_word(std::string_view word, std::vector<std::int64_t>& out) const
{
    if (word.empty())
        return;
    if (word.size() == 1 && !characters) {
        out.push_back(byte_ids_[static_cast<unsigned char>(word[0])]);
        return;
    }
    if (ignore_merges) {
        auto it = bytes_to_id.find(word);
        if (it != bytes_to_id.end()) {
            out.push_back(it->second);
            return;
        }
    }
    // Long words (a whole text, for models without a pre-tokenizer) are not kept.
    const bool cacheable = word.size() <= 256;
    if (cacheable) {
        std::shared_lock lock(cache_mutex_);
        auto it = cache_.find(word);
        if (it != cache_.end()) {
            out.insert(out.end(), it->second.begin(), it->second.end());
            return;
        }
    }
    std::vector<std::int32_t> ids;
    merge_word(word, ids);
    out.insert(out.end(), ids.begin(), ids.end());
    if (!cacheable)
        return;
    std::unique_lock lock(cache_mutex_);
    if (cache_.size() >= cache_capacity)
        cache_.clear();
    cache_.emplace(std::string(word), std::move(ids));
}

void BpeTokenizer::merge_word(std::string_view word, std::vector<std::int32_t>& out) const
{
    out.clear();
    if (characters) {
        character_symbols(word, out);
    } else {
        out.reserve(word.size());
        for (char c : word)
            out.push_back(byte_ids_[static_cast<unsigned char>(c)]);
    }
    merge_symbols(out);
}

void BpeTokenizer::character_symbols(std::string_view word, std::vector<std::int32_t>& symbols) const
{
    bool last_unknown = false;
    for (std::size_t i = 0; i < word.size();) {
        std::size_t n = utf8_sequence_length(word, i);
        if (n == 0)
            n = 1;  // cannot happen: the text was checked
        auto it = bytes_to_id.find(word.substr(i, n));
        if (it != bytes_to_id.end()) {
            symbols.push_back(it->second);
            last_unknown = false;
        } else if (byte_fallback) {
            for (std::size_t k = 0; k < n; ++k)
                symbols.push_back(byte_ids_[static_cast<unsigned char>(word[i + k])]);
            last_unknown = false;
        } else if (unk_id >= 0) {
            if (!(fuse_unk && last_unknown))
                symbols.push_back(unk_id);
            last_unknown = true;
        } else {
            throw TokenizerError(file + ": the character '" + std::string(word.substr(i, n)) +
                                 "' is not in the vocabulary, which has no unknown token and no byte fallback.");
        }
        i += n;
    }
}

// Lowest rank first, leftmost among equal ranks: a heap of candidate pairs
// over a linked list of symbols, entries checked when popped.
void BpeTokenizer::merge_symbols(std::vector<std::int32_t>& ids) const
{
    const std::size_t n = ids.size();
    if (n < 2)
        return;
    struct Symbol {
        std::int32_t id;
        std::int32_t prev;
        std::int32_t next;
    };
    std::vector<Symbol> symbols(n);
    for (std::size_t i = 0; i < n; ++i)
        symbols[i] = {ids[i], static_cast<std::int32_t>(i) - 1, i + 1 < n ? static_cast<std::int32_t>(i + 1) : -1};

    struct Candidate {
        std::int32_t rank;
        std::int32_t pos;
        std::int32_t left;
        std::int32_t right;
        std::int32_t id;
        bool operator>(const Candidate& o) const noexcept { return rank != o.rank ? rank > o.rank : pos > o.pos; }
    };
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
    auto push = [&](std::int32_t pos) {
        std::int32_t next = symbols[static_cast<std::size_t>(pos)].next;
        if (next < 0)
            return;
        std::int32_t a = symbols[static_cast<std::size_t>(pos)].id, b = symbols[static_cast<std::size_t>(next)].id;
        auto it = merges.find(pair_key(a, b));
        if (it != merges.end())
            heap.push({it->second.rank, pos, a, b, it->second.id});
    };
    for (std::size_t i = 0; i + 1 < n; ++i)
        push(static_cast<std::int32_t>(i));

    while (!heap.empty()) {
        Candidate c = heap.top();
        heap.pop();
        Symbol& left = symbols[static_cast<std::size_t>(c.pos)];
        if (left.id != c.left || left.next < 0)
            continue;  // stale: the symbol was merged since
        Symbol& right = symbols[static_cast<std::size_t>(left.next)];
        if (right.id != c.right)
            continue;
        left.id = c.id;
        right.id = -1;  // dead
        left.next = right.next;
        if (right.next >= 0)
            symbols[static_cast<std::size_t>(right.next)].prev = c.pos;
        if (left.prev >= 0)
            push(left.prev);
        push(c.pos);
    }
    ids.clear();
    for (std::int32_t i = 0; i >= 0; i = symbols[static_cast<std::size_t>(i)].next)
        ids.push_back(symbols[static_cast<std::size_t>(i)].id);
}

std::string BpeTokenizer::decode(std::span<const std::int64_t> ids, bool skip_special) const
{
    if (decoders.empty()) {
        std::string bytes;
        for (std::int64_t id : ids) {
            check_id(id);
            auto index = static_cast<std::size_t>(id);
            if (skip_special && special_[index])
                continue;
            bytes += token_bytes[index];
        }
        return sanitize_utf8(bytes);
    }
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (std::int64_t id : ids) {
        check_id(id);
        auto index = static_cast<std::size_t>(id);
        if (skip_special && special_[index])
            continue;
        tokens.push_back(token_bytes[index]);
    }
    return sanitize_utf8(run_decoders(std::move(tokens)));
}

namespace {

// "<0xXX>": the byte, else -1.
int byte_token_value(std::string_view token)
{
    if (token.size() != 6 || token.substr(0, 3) != "<0x" || token[5] != '>')
        return -1;
    int value = 0;
    for (char c : token.substr(3, 2)) {
        value <<= 4;
        if (c >= '0' && c <= '9')
            value |= c - '0';
        else if (c >= 'A' && c <= 'F')
            value |= c - 'A' + 10;
        else if (c >= 'a' && c <= 'f')
            value |= c - 'a' + 10;
        else
            return -1;
    }
    return value;
}

}  // namespace

std::string BpeTokenizer::run_decoders(std::vector<std::string> tokens) const
{
    static constexpr std::string_view replacement_char = "\xEF\xBF\xBD";
    for (const auto& step : decoders) {
        switch (step.kind) {
        case DecoderStep::Kind::replace:
            for (auto& t : tokens)
                replace_all(t, step.pattern, step.content);
            break;
        case DecoderStep::Kind::byte_fallback: {
            // Runs of byte tokens become their text, or one U+FFFD per byte
            // when the run is not UTF-8.
            std::vector<std::string> out;
            std::string run;
            std::size_t run_length = 0;
            auto flush = [&] {
                if (run_length == 0)
                    return;
                if (!find_invalid_utf8(run))
                    out.push_back(run);
                else
                    for (std::size_t k = 0; k < run_length; ++k)
                        out.emplace_back(replacement_char);
                run.clear();
                run_length = 0;
            };
            for (auto& t : tokens) {
                int byte = byte_token_value(t);
                if (byte >= 0) {
                    run += static_cast<char>(byte);
                    ++run_length;
                } else {
                    flush();
                    out.push_back(std::move(t));
                }
            }
            flush();
            tokens = std::move(out);
            break;
        }
        case DecoderStep::Kind::fuse: {
            std::string all;
            for (const auto& t : tokens)
                all += t;
            tokens.assign(1, std::move(all));
            break;
        }
        case DecoderStep::Kind::strip:
            for (auto& t : tokens) {
                std::size_t begin = 0, end = t.size();
                for (std::size_t k = 0; k < step.start && begin < end && t.compare(begin, step.content.size(), step.content) == 0; ++k)
                    begin += step.content.size();
                for (std::size_t k = 0; k < step.stop && end >= begin + step.content.size() &&
                                        t.compare(end - step.content.size(), step.content.size(), step.content) == 0;
                     ++k)
                    end -= step.content.size();
                t = t.substr(begin, end - begin);
            }
            break;
        case DecoderStep::Kind::metaspace:
            for (std::size_t i = 0; i < tokens.size(); ++i) {
                replace_all(tokens[i], step.pattern, " ");
                if (i == 0 && step.prepend != Metaspace::Prepend::never && !tokens[i].empty() && tokens[i][0] == ' ')
                    tokens[i].erase(0, 1);
            }
            break;
        }
    }
    std::string text;
    for (const auto& t : tokens)
        text += t;
    return text;
}

std::optional<std::int64_t> BpeTokenizer::token_to_id(std::string_view token) const
{
    if (const AddedToken* t = added.lookup(token))
        return t->id;
    std::string bytes;
    if (byte_level_names) {
        if (!byte_level_to_bytes(token, bytes))
            return std::nullopt;
    } else {
        bytes = token;
    }
    auto it = bytes_to_id.find(bytes);
    if (it == bytes_to_id.end())
        return std::nullopt;
    return it->second;
}

std::optional<std::string> BpeTokenizer::id_to_token(std::int64_t id) const
{
    if (id < 0 || id >= vocab_size())
        return std::nullopt;
    auto index = static_cast<std::size_t>(id);
    if (const AddedToken* token = added.lookup(token_bytes[index]); token != nullptr && token->id == id)
        return token_bytes[index];
    return byte_level_names ? bytes_to_byte_level(token_bytes[index]) : token_bytes[index];
}

}  // namespace fairseq2::tokenizers::detail
