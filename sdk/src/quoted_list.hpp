#pragma once

// "'a', 'b', 'c'" for the names an error message lists ("none" when there
// are none). Internal to the SDK.

#include <string>
#include <vector>

namespace fairseq2::detail {

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
