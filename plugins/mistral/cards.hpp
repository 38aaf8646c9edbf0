#pragma once

// The asset cards the mistral plugin ships: cards/mistral.yaml, compiled in
// by fairseq2_embed_file() and registered during setup.

#include <string_view>

namespace fairseq2::models::mistral {

// The text of cards/mistral.yaml.
std::string_view mistral_cards_yaml() noexcept;

}  // namespace fairseq2::models::mistral
