#pragma once

// Looking up a special token a file or a family names (internal).

#include <optional>
#include <string>
#include <string_view>

#include "fairseq2/data/tokenizers/tokenizer.hpp"

namespace fairseq2::tokenizers::detail {

// The token `text` names for `role` ("BOS", "EOS", ...): nullopt when there
// is no text, or when the vocabulary lacks it and it is not `required`;
// throws TokenizerError "WHERE: the ROLE token 'TEXT' SOURCE is not in the
// vocabulary." when it is required.
inline std::optional<SpecialToken> find_special(const Tokenizer& tok, const std::optional<std::string>& text, const std::string& where,
                                                std::string_view role, bool required, std::string_view source = "of the family")
{
    if (!text || text->empty())
        return std::nullopt;
    auto id = tok.token_to_id(*text);
    if (!id) {
        if (!required)
            return std::nullopt;
        throw TokenizerError(where + ": the " + std::string(role) + " token '" + *text + "' " + std::string(source) +
                             " is not in the vocabulary.");
    }
    return SpecialToken{*text, *id};
}

}  // namespace fairseq2::tokenizers::detail
