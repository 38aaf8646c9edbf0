#include "fairseq2/assets/asset_card_source.hpp"

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include <boost/json.hpp>

#include "fairseq2/assets/asset_error.hpp"
#include "fairseq2/assets/card_loader.hpp"
#include "fairseq2/logging.hpp"
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

namespace {

// Whether a JSON file has a card's shape: an object with a string `name`,
// or a non-empty list of such objects. A file that is not valid JSON is
// taken for a broken card file, so its parse error is reported.
bool has_card_shape(const std::filesystem::path& file)
{
    std::ifstream in(file, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    boost::system::error_code error;
    boost::json::value value = boost::json::parse(text.str(), error);
    if (error)
        return true;
    auto is_card = [](const boost::json::value& v) {
        const auto* object = v.if_object();
        const boost::json::value* name = object != nullptr ? object->if_contains("name") : nullptr;
        return name != nullptr && name->is_string();
    };
    if (value.is_array())
        return !value.get_array().empty() && std::all_of(value.get_array().begin(), value.get_array().end(), is_card);
    return is_card(value);
}

}  // namespace

std::shared_ptr<AssetCardSource> AssetCardSource::from_directory(const std::filesystem::path& dir, bool strict)
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
    for (const auto& file : files) {
        if (file.extension() == ".json" && !has_card_shape(file)) {
            log().debug("'{}' is not an asset card (a JSON file without a card's 'name'); skipping it.", file.string());
            continue;
        }
        try {
            for (auto& card : load_card_file(file))
                cards.push_back(std::move(card));
        } catch (const AssetError& error) {
            if (strict)
                throw;
            log().warn("{} Its cards are left out; the other card files still load (`fairseq2 assets list --strict` makes this an error).",
                       error.what());
        }
    }
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
