#pragma once

// "'a', 'b', 'c'" for the names an error message lists ("none" when there
// are none), and outside text made safe to quote in one. Internal to the
// SDK.

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace fairseq2::detail {

// `text` with its control characters (bytes below 0x20, and 0x7f) written
// as \xNN: quoted raw, a NUL would end the message (what() is a C string)
// and a newline or escape sequence would garble a terminal.
inline std::string printable(std::string_view text)
{
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte == 0x7f) {
            char escaped[5];
            std::snprintf(escaped, sizeof escaped, "\\x%02x", byte);
            out += escaped;
        } else {
            out += c;
        }
    }
    return out;
}

inline bool has_control_characters(std::string_view text)
{
    for (const char c : text)
        if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) == 0x7f)
            return true;
    return false;
}

inline std::string quoted_list(const std::vector<std::string>& names)
{
    if (names.empty())
        return "none";
    std::string text;
    for (const auto& name : names)
        text.append(text.empty() ? "'" : ", '").append(name).append("'");
    return text;
}

}  // namespace fairseq2::detail
