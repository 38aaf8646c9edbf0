#pragma once

// The asset cards the transformer plugin ships: cards/transformer.yaml,
// compiled in by fairseq2_embed_file() and registered during setup.

#include <string_view>

namespace fairseq2::models::transformer {

// The text of cards/transformer.yaml.
std::string_view transformer_cards_yaml() noexcept;

}  // namespace fairseq2::models::transformer
