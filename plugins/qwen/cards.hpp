#pragma once

// The asset cards the qwen plugin ships: cards/qwen.yaml, compiled in by
// fairseq2_embed_file() and registered during setup.

#include <string_view>

namespace fairseq2::models::qwen {

// The text of cards/qwen.yaml.
std::string_view qwen_cards_yaml() noexcept;

}  // namespace fairseq2::models::qwen
