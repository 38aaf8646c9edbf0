#include "token_ids.hpp"

#include <sstream>

#include "fairseq2/error.hpp"

namespace fairseq2::cli {

std::vector<std::int64_t> parse_token_ids(const std::string& text, std::string_view what)
{
    std::vector<std::int64_t> ids;
    std::istringstream stream(text);
    std::string token;
    while (stream >> token) {
        std::size_t used = 0;
        std::int64_t id = 0;
        try {
            id = std::stoll(token, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used != token.size())
            throw InvalidArgumentError(std::string(what) + ": '" + token +
                                       "' is not a token id; give integers separated by spaces, e.g. \"1 2 3\".");
        ids.push_back(id);
    }
    return ids;
}

}  // namespace fairseq2::cli
