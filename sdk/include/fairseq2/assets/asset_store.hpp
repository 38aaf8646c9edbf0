#pragma once

// The asset store: card sources in order of precedence (user cards, then
// system cards, then the cards plugins ship). A name resolves to the card of
// the first source that has it, with the `NAME@user` overlay of the first
// source that has one on top, and its `base` chain resolved recursively.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fairseq2/assets/asset_card.hpp"
#include "fairseq2/assets/asset_card_source.hpp"

namespace fairseq2 {
class RuntimeContext;
}

namespace fairseq2::assets {

class FAIRSEQ2_API AssetStore {
public:
    struct Source {
        // "user", "system", "plugin", or what an application calls it.
        std::string name;
        // The folder, or the plugin file that registered the cards.
        std::string location;
        std::shared_ptr<const AssetCardSource> cards;
    };

    // Where a name's card data was found.
    struct Found {
        std::shared_ptr<const AssetCardData> data;  // null when no source has it
        const Source* source = nullptr;
    };

    // Adds `cards` with a lower precedence than every source added before.
    void add_source(std::string name, std::string location, std::shared_ptr<const AssetCardSource> cards);

    // fairseq2's store: the cards of user_asset_dir(), of system_asset_dir(),
    // then those registered in `context` (AssetCardSource registry, in key
    // order). A card file that cannot be read is a warning, and with
    // `strict` an AssetError (see AssetCardSource::from_directory).
    static std::shared_ptr<AssetStore> load_default(RuntimeContext& context, bool strict = false);

    const std::vector<Source>& sources() const noexcept { return sources_; }

    // The card `name` with its overlay and base chain. Throws
    // AssetCardNotFoundError when no source has it, and AssetError for a
    // missing base ("A transitive base asset card with name 'BASE' is not
    // found; ...") or a cycle of bases.
    std::shared_ptr<const AssetCard> retrieve_card(const std::string& name) const;

    // The data of `name` (an overlay name too) in the first source that has it.
    Found find(std::string_view name) const;

    // Every card name of every source, overlays excluded, sorted, once.
    std::vector<std::string> card_names() const;

private:
    std::shared_ptr<const AssetCard> resolve(const std::string& name, std::vector<std::string>& chain) const;

    std::vector<Source> sources_;
};

}  // namespace fairseq2::assets
