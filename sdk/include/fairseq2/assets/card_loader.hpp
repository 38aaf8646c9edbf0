#pragma once

// Reading asset cards from files. YAML files hold fairseq2's format: one card
// per document, documents separated by `---`; plain scalars are typed by the
// YAML 1.2 core schema (null, true/false, integers, floats), quoted ones stay
// strings. JSON files hold one card object or an array of them.

#include <filesystem>
#include <string_view>
#include <vector>

#include "fairseq2/assets/asset_card.hpp"

namespace fairseq2::assets {

// The cards of YAML text; `file` names it in messages and `on_disk` tells
// whether relative paths may resolve against its folder. Throws AssetError
// naming the file and line for a syntax error, a document that is not a
// mapping, a key given twice, a missing or invalid `name`, a `base` that is
// not a card name, an overlay that sets `base`, or two cards of one name.
FAIRSEQ2_API std::vector<AssetCardData> parse_yaml_cards(std::string_view text, const std::filesystem::path& file, bool on_disk = true);

// The same for JSON text: one object, or an array of objects.
FAIRSEQ2_API std::vector<AssetCardData> parse_json_cards(std::string_view text, const std::filesystem::path& file, bool on_disk = true);

// Whether `file` is a card file by its extension (.yaml, .yml, .json).
FAIRSEQ2_API bool is_card_file(const std::filesystem::path& file);

// Reads and parses a card file by its extension; throws AssetError when it
// cannot be read.
FAIRSEQ2_API std::vector<AssetCardData> load_card_file(const std::filesystem::path& file);

}  // namespace fairseq2::assets
