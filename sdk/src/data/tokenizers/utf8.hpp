#pragma once

// UTF-8 scanning shared by the tokenizers (internal).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace fairseq2::tokenizers::detail {

// The allowed range of the second byte after lead byte `b` (RFC 3629).
inline bool utf8_second_ok(unsigned char lead, unsigned char b) noexcept
{
    switch (lead) {
    case 0xE0:
        return b >= 0xA0 && b <= 0xBF;
    case 0xED:
        return b >= 0x80 && b <= 0x9F;
    case 0xF0:
        return b >= 0x90 && b <= 0xBF;
    case 0xF4:
        return b >= 0x80 && b <= 0x8F;
    default:
        return b >= 0x80 && b <= 0xBF;
    }
}

inline std::size_t utf8_expected_length(unsigned char lead) noexcept
{
    if (lead < 0x80)
        return 1;
    if (lead >= 0xC2 && lead <= 0xDF)
        return 2;
    if (lead >= 0xE0 && lead <= 0xEF)
        return 3;
    if (lead >= 0xF0 && lead <= 0xF4)
        return 4;
    return 0;
}

// The length of the valid sequence starting at `i`, or 0 when the bytes
// there do not form one.
inline std::size_t utf8_sequence_length(std::string_view s, std::size_t i) noexcept
{
    auto lead = static_cast<unsigned char>(s[i]);
    std::size_t n = utf8_expected_length(lead);
    if (n <= 1)
        return n;
    if (i + n > s.size())
        return 0;
    if (!utf8_second_ok(lead, static_cast<unsigned char>(s[i + 1])))
        return 0;
    for (std::size_t k = 2; k < n; ++k) {
        auto b = static_cast<unsigned char>(s[i + k]);
        if (b < 0x80 || b > 0xBF)
            return 0;
    }
    return n;
}

// The length of the maximal subpart of an ill-formed sequence at `i` (what
// one U+FFFD replaces): a valid lead byte and the continuation bytes that
// still fit it, or 1.
inline std::size_t utf8_invalid_prefix_length(std::string_view s, std::size_t i) noexcept
{
    auto lead = static_cast<unsigned char>(s[i]);
    std::size_t n = utf8_expected_length(lead);
    if (n <= 1)
        return 1;
    std::size_t k = 1;
    if (i + k < s.size() && utf8_second_ok(lead, static_cast<unsigned char>(s[i + k]))) {
        ++k;
        while (k < n && i + k < s.size()) {
            auto b = static_cast<unsigned char>(s[i + k]);
            if (b < 0x80 || b > 0xBF)
                break;
            ++k;
        }
    }
    return k;
}

// Appends the UTF-8 encoding of code point `cp`.
inline void append_utf8(std::string& out, std::uint32_t cp)
{
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

// The code point of the valid sequence of `n` bytes at `i`.
inline std::uint32_t decode_utf8(std::string_view s, std::size_t i, std::size_t n) noexcept
{
    auto b = [&](std::size_t k) { return static_cast<std::uint32_t>(static_cast<unsigned char>(s[i + k])); };
    switch (n) {
    case 1:
        return b(0);
    case 2:
        return ((b(0) & 0x1F) << 6) | (b(1) & 0x3F);
    case 3:
        return ((b(0) & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
    default:
        return ((b(0) & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F);
    }
}

}  // namespace fairseq2::tokenizers::detail
