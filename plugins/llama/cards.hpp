#pragma once

// The asset cards the llama plugin ships: cards/llama.yaml, compiled in by
// fairseq2_embed_file() and registered during setup.

#include <string_view>

namespace fairseq2::models::llama {

// The text of cards/llama.yaml.
std::string_view llama_cards_yaml() noexcept;

}  // namespace fairseq2::models::llama
