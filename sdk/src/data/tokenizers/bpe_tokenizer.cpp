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
    tokens_.push_back(std::move(token));
    auto& bucket = by_first_byte_[first];
    bucket.push_back(index);
    std::stable_sort(bucket.begin(), bucket.end(),
                     [&](std::uint32_t a, std::uint32_t b) { return tokens_[a].content.size() > tokens_[b].content.size(); });
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
    for (const auto& t : tokens_)
        if (t.content == content)
            return &t;
    return nullptr;
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

void BpeTokenizer::finish()
{
    std::int32_t size = 0;
    for (const auto& [bytes, id] : bytes_to_id)
        size = std::max(size, id + 1);
    for (const auto& t : added.tokens())
        size = std::max(size, t.id + 1);
    token_bytes.resize(static_cast<std::size_t>(size));
    special_.assign(static_cast<std::size_t>(size), false);
    for (const auto& [bytes, id] : bytes_to_id)
        token_bytes[static_cast<std::size_t>(id)] = bytes;
    for (const auto& t : added.tokens()) {
        token_bytes[static_cast<std::size_t>(t.id)] = t.content;
        special_[static_cast<std::size_t>(t.id)] = t.special;
    }
    for (std::uint32_t b = 0; b < 256; ++b) {
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

void BpeTokenizer::encode_segment(std::string_view segment, bool first, std::vector<std::int64_t>& out) const
{
    std::string normalized;
    if (normalization == Normalization::nfc) {
        normalized = nfc(segment);
        segment = normalized;
    }
    if (add_prefix_space && first && !segment.empty() && segment[0] != ' ') {
        normalized.insert(normalized.begin(), ' ');
        if (normalization == Normalization::none)
            normalized.append(segment);
        segment = normalized;
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
    if (word.size() == 1) {
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
    {
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
    std::unique_lock lock(cache_mutex_);
    if (cache_.size() >= cache_capacity)
        cache_.clear();
    cache_.emplace(std::string(word), std::move(ids));
}

// Lowest rank first, leftmost among equal ranks: a heap of candidate pairs
// over a linked list of symbols, entries checked when popped.
void BpeTokenizer::merge_word(std::string_view word, std::vector<std::int32_t>& out) const
{
    const std::size_t n = word.size();
    struct Symbol {
        std::int32_t id;
        std::int32_t prev;
        std::int32_t next;
    };
    std::vector<Symbol> symbols(n);
    for (std::size_t i = 0; i < n; ++i)
        symbols[i] = {byte_ids_[static_cast<unsigned char>(word[i])], static_cast<std::int32_t>(i) - 1,
                      i + 1 < n ? static_cast<std::int32_t>(i + 1) : -1};

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
    for (std::int32_t i = 0; i >= 0; i = symbols[static_cast<std::size_t>(i)].next)
        out.push_back(symbols[static_cast<std::size_t>(i)].id);
}

std::string BpeTokenizer::decode(std::span<const std::int64_t> ids, bool skip_special) const
{
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
    if (added.lookup(token_bytes[index]) != nullptr && added.lookup(token_bytes[index])->id == id)
        return token_bytes[index];
    return byte_level_names ? bytes_to_byte_level(token_bytes[index]) : token_bytes[index];
}

}  // namespace fairseq2::tokenizers::detail
