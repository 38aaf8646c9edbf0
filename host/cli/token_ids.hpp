#pragma once

// Token ids given on the command line: integers separated by spaces.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fairseq2::cli {

// Throws InvalidArgumentError naming `what` (the option, "--prompt-ids",
// or the argument) and the first word that is not an integer.
std::vector<std::int64_t> parse_token_ids(const std::string& text, std::string_view what);

}  // namespace fairseq2::cli
