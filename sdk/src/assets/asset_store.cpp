#include "fairseq2/assets/asset_store.hpp"

#include <algorithm>
#include <cstdlib>
#include <set>
#include <tuple>

#include "fairseq2/assets/asset_directories.hpp"
#include "fairseq2/assets/asset_error.hpp"
#include "fairseq2/logging.hpp"
#include "fairseq2/runtime/runtime_context.hpp"

namespace fairseq2::assets {

void AssetStore::add_source(std::string name, std::string location, std::shared_ptr<const AssetCardSource> cards)
{
    if (!cards)
        throw InvalidArgumentError("The '" + name + "' asset card source added to the asset store is null.");
    sources_.push_back(Source{std::move(name), std::move(location), std::move(cards)});
}

std::shared_ptr<AssetStore> AssetStore::load_default(RuntimeContext& context, bool strict)
{
    auto store = std::make_shared<AssetStore>();
    for (const auto& [name, variable, dir] : {std::tuple{"user", "FAIRSEQ2_USER_ASSET_DIR", user_asset_dir()},
                                              std::tuple{"system", "FAIRSEQ2_ASSET_DIR", system_asset_dir()}}) {
        std::error_code error;
        const char* set = std::getenv(variable);
        if (set != nullptr && *set != '\0' && !std::filesystem::exists(dir, error))
            log().warn("The {} asset folder '{}' (from ${}) does not exist; it has no cards.", name, dir.string(), variable);
        store->add_source(name, dir.string(), AssetCardSource::from_directory(dir, strict));
    }
    auto registry = context.get_registry<AssetCardSource>();
    for (const auto& key : registry.keys())
        store->add_source("plugin", registry.origin_of(key), registry.get(key));
    return store;
}

AssetStore::Found AssetStore::find(std::string_view name) const
{
    for (const auto& source : sources_)
        if (auto data = source.cards->find(name))
            return Found{std::move(data), &source};
    return {};
}

std::vector<std::string> AssetStore::card_names() const
{
    std::set<std::string> names;
    for (const auto& source : sources_)
        for (const auto& card : source.cards->cards())
            if (card->name.find('@') == std::string::npos)
                names.insert(card->name);
    return {names.begin(), names.end()};
}

std::shared_ptr<const AssetCard> AssetStore::retrieve_card(const std::string& name) const
{
    if (auto at = name.find('@'); at != std::string::npos)
        throw AssetCardNotFoundError(name, "'" + name + "' is not a card name; '" + name.substr(0, at) +
                                               "' is, and retrieving it applies its overlay cards.");
    std::vector<std::string> chain;
    return resolve(name, chain);
}

std::shared_ptr<const AssetCard> AssetStore::resolve(const std::string& name, std::vector<std::string>& chain) const
{
    if (std::find(chain.begin(), chain.end(), name) != chain.end()) {
        std::string cycle;
        for (auto it = std::find(chain.begin(), chain.end(), name); it != chain.end(); ++it)
            cycle += *it + " -> ";
        throw AssetError("The base chain of the '" + chain.front() + "' asset card has a cycle: " + cycle + name + ".");
    }

    Found own = find(name);
    Found overlay = find(name + std::string(user_overlay_suffix));
    if (!own.data) {
        if (chain.empty()) {
            std::string message = "'" + name + "' is not a known asset card.";
            if (overlay.data)
                message = "'" + name + "' is not a known asset card; the '" + overlay.data->name + "' card (" + overlay.data->location() +
                          ") changes fields of it, but no card named '" + name + "' exists.";
            throw AssetCardNotFoundError(name, message);
        }
        const AssetCardData& child = *find(chain.back()).data;
        throw AssetError("A transitive base asset card with name '" + name + "' is not found; the '" + child.name + "' card (" +
                         child.location() + ") names it as its base.");
    }

    std::shared_ptr<const AssetCard> base;
    if (const boost::json::value* base_name = own.data->fields.if_contains("base")) {
        chain.push_back(name);
        base = resolve(std::string(base_name->get_string()), chain);
        chain.pop_back();
    }

    std::vector<AssetCard::Layer> layers;
    if (overlay.data)
        layers.push_back(AssetCard::Layer{overlay.data, overlay.source->name});
    layers.push_back(AssetCard::Layer{own.data, own.source->name});
    return std::make_shared<const AssetCard>(name, std::move(layers), std::move(base));
}

}  // namespace fairseq2::assets
