#include "fairseq2/assets/asset_card_source.hpp"

#include <algorithm>
#include <map>

#include "fairseq2/assets/asset_error.hpp"
#include "fairseq2/assets/card_loader.hpp"
#include "fairseq2/runtime/runtime_context.hpp"

namespace fairseq2::assets {

AssetCardSource::AssetCardSource(std::vector<AssetCardData> cards)
{
    std::map<std::string, const AssetCardData*, std::less<>> seen;
    cards_.reserve(cards.size());
    for (auto& card : cards) {
        auto shared = std::make_shared<const AssetCardData>(std::move(card));
        auto [it, inserted] = seen.emplace(shared->name, shared.get());
        if (!inserted)
            throw AssetError("The asset card '" + shared->name + "' is defined twice: in " + it->second->location() + " and in " +
                             shared->location() + "; card names must be unique.");
        cards_.push_back(std::move(shared));
    }
}

std::shared_ptr<AssetCardSource> AssetCardSource::from_directory(const std::filesystem::path& dir)
{
    std::error_code error;
    if (!std::filesystem::exists(dir, error))
        return std::make_shared<AssetCardSource>(std::vector<AssetCardData>{});
    if (!std::filesystem::is_directory(dir, error))
        throw AssetError("The asset folder '" + dir.string() + "' is not a folder.");

    std::vector<std::filesystem::path> files;
    auto options = std::filesystem::directory_options::follow_directory_symlink | std::filesystem::directory_options::skip_permission_denied;
    for (auto it = std::filesystem::recursive_directory_iterator(dir, options, error); !error && it != std::filesystem::recursive_directory_iterator();
         it.increment(error)) {
        const auto name = it->path().filename().string();
        if (!name.empty() && name.front() == '.') {
            if (it->is_directory(error))
                it.disable_recursion_pending();
            continue;
        }
        if (it->is_regular_file(error) && is_card_file(it->path()))
            files.push_back(it->path());
    }
    if (error)
        throw AssetError("The asset folder '" + dir.string() + "' cannot be read: " + error.message() + ".");
    std::sort(files.begin(), files.end());

    std::vector<AssetCardData> cards;
    for (const auto& file : files)
        for (auto& card : load_card_file(file))
            cards.push_back(std::move(card));
    return std::make_shared<AssetCardSource>(std::move(cards));
}

std::shared_ptr<AssetCardSource> AssetCardSource::from_yaml(std::string_view text, const std::string& label)
{
    return std::make_shared<AssetCardSource>(parse_yaml_cards(text, label, false));
}

std::shared_ptr<const AssetCardData> AssetCardSource::find(std::string_view name) const
{
    for (const auto& card : cards_)
        if (card->name == name)
            return card;
    return nullptr;
}

void register_cards(RuntimeContext& context, const std::string& key, std::string_view yaml, const std::string& label)
{
    // The origin is the plugin file the host sets up; its name is enough here.
    const std::string origin = std::filesystem::path(context.origin()).filename().string();
    context.get_registry<AssetCardSource>().register_(key, AssetCardSource::from_yaml(yaml, origin + ":" + label));
}

}  // namespace fairseq2::assets
