#pragma once

// The cards of one place: a folder of card files, or card text a plugin
// embeds. A plugin registers the cards it ships during setup, with
// register_cards() below; the asset store reads them after the user's and
// the system's cards.

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fairseq2/assets/asset_card.hpp"

namespace fairseq2 {
class RuntimeContext;
}

namespace fairseq2::assets {

class FAIRSEQ2_API AssetCardSource {
public:
    static constexpr const char* registry_kind = "asset card source";

    // Throws AssetError naming both places when two cards have one name.
    explicit AssetCardSource(std::vector<AssetCardData> cards);

    // The cards of the card files under `dir`, recursively, in path order
    // (hidden entries skipped): YAML files (.yaml, .yml), and JSON files that have a card's
    // shape (an object with a string `name`, or a list of such objects).
    // Other files, such as the config.json, tokenizer.json or shard indexes
    // people keep beside their cards, are not cards and are skipped. A card
    // file that cannot be read or parsed is a warning naming the file and
    // line, and its cards are left out; with `strict` it is an AssetError.
    // A missing folder has no cards.
    static std::shared_ptr<AssetCardSource> from_directory(const std::filesystem::path& dir, bool strict = false);

    // The cards of embedded YAML text; `label` names it in messages.
    static std::shared_ptr<AssetCardSource> from_yaml(std::string_view text, const std::string& label);

    // In the order they were read.
    const std::vector<std::shared_ptr<const AssetCardData>>& cards() const noexcept { return cards_; }

    // The card named `name` (an overlay name too), or null.
    std::shared_ptr<const AssetCardData> find(std::string_view name) const;

private:
    std::vector<std::shared_ptr<const AssetCardData>> cards_;
};

// Registers the cards of YAML text a plugin ships under `key` in the
// AssetCardSource registry of `context`; messages name them by the file
// name of the context's origin and `label` ("libfairseq2_llama.so:llama.yaml,
// line 3"). Throws
// AssetError for malformed text, so a plugin with broken cards fails setup.
FAIRSEQ2_API void register_cards(RuntimeContext& context, const std::string& key, std::string_view yaml, const std::string& label);

}  // namespace fairseq2::assets
