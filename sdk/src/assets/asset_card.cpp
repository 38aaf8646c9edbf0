#include "fairseq2/assets/asset_card.hpp"

#include <cstdlib>
#include <regex>

#include "fairseq2/assets/asset_directories.hpp"
#include "fairseq2/assets/asset_error.hpp"
#include "fairseq2/config/json_reflect.hpp"

namespace fairseq2::assets {

namespace {

std::vector<std::string_view> split_path(std::string_view path)
{
    std::vector<std::string_view> segments;
    std::size_t start = 0;
    while (true) {
        std::size_t dot = path.find('.', start);
        segments.push_back(path.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
        if (dot == std::string_view::npos)
            return segments;
        start = dot + 1;
    }
}

int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

// "%20" -> " "; malformed escapes stay as written.
std::string percent_decode(std::string_view text)
{
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '%' && i + 2 < text.size()) {
            int high = hex_digit(text[i + 1]);
            int low = hex_digit(text[i + 2]);
            if (high >= 0 && low >= 0) {
                out += static_cast<char>(high * 16 + low);
                i += 2;
                continue;
            }
        }
        out += text[i];
    }
    return out;
}

std::filesystem::path home_dir()
{
    const char* home = std::getenv("HOME");
    return home != nullptr && *home != '\0' ? std::filesystem::path(home) : std::filesystem::path("/");
}

}  // namespace

std::string AssetCardData::location() const
{
    return line == 0 ? file.string() : file.string() + ", line " + std::to_string(line);
}

AssetCard::AssetCard(std::string name, std::vector<Layer> layers, std::shared_ptr<const AssetCard> base)
    : name_{std::move(name)}, layers_{std::move(layers)}, base_{std::move(base)}
{
    if (layers_.empty())
        throw AssetError("The asset card '" + name_ + "' has no layers; give at least the card's own data.");
}

std::vector<const AssetCard*> AssetCard::chain() const
{
    std::vector<const AssetCard*> cards;
    for (const AssetCard* card = this; card != nullptr; card = card->base_.get())
        cards.push_back(card);
    return cards;
}

AssetCard::Field AssetCard::find_field(std::string_view path) const
{
    const auto segments = split_path(path);
    for (const AssetCard* card : chain()) {
        for (const Layer& layer : card->layers_) {
            const boost::json::value* value = layer.data->fields.if_contains(segments.front());
            if (value == nullptr)
                continue;
            for (std::size_t i = 1; i < segments.size() && value != nullptr; ++i)
                value = value->is_object() ? value->get_object().if_contains(segments[i]) : nullptr;
            if (value == nullptr)
                return {};
            return Field{value, card, &layer};
        }
    }
    return {};
}

AssetCard::Field AssetCard::field(std::string_view path) const
{
    Field found = find_field(path);
    if (!found)
        throw AssetError("The '" + name_ + "' asset card does not have a field named '" + std::string(path) + "'.");
    return found;
}

std::string AssetCard::describe(const Field& field)
{
    if (field.layer == nullptr)
        return "asset card";
    return "'" + field.layer->data->name + "' asset card (" + field.layer->data->location() + ")";
}

std::string AssetCard::string_field(std::string_view path) const
{
    Field found = field(path);
    if (!found.value->is_string())
        throw AssetError("The field '" + std::string(path) + "' of the " + describe(found) + " must be a string, but is " +
                         config::detail::describe_value(*found.value) + ".");
    return std::string(found.value->get_string());
}

std::optional<std::string> AssetCard::optional_string_field(std::string_view path) const
{
    if (!find_field(path))
        return std::nullopt;
    return string_field(path);
}

std::filesystem::path AssetCard::path_field(std::string_view path) const
{
    const std::string text = string_field(path);
    const Field found = find_field(path);
    const std::string where = "The field '" + std::string(path) + "' of the " + describe(found);

    static const std::regex uri_scheme("^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$");
    std::smatch match;
    if (std::regex_match(text, match, uri_scheme)) {
        std::string scheme = match[1].str();
        std::string rest = match[2].str();
        if (scheme == "file") {
            if (rest.rfind("localhost/", 0) == 0)
                rest = rest.substr(9);
            if (rest.empty() || rest.front() != '/')
                throw AssetError(where + " is the URI '" + text + "', but a file URI must name an absolute path (file:///PATH).");
            return std::filesystem::path(percent_decode(rest)).lexically_normal();
        }
        std::string file_name = rest;
        if (auto query = file_name.find_first_of("?#"); query != std::string::npos)
            file_name.resize(query);
        while (!file_name.empty() && file_name.back() == '/')
            file_name.pop_back();
        if (auto slash = file_name.rfind('/'); slash != std::string::npos)
            file_name = file_name.substr(slash + 1);
        if (file_name.empty())
            file_name = "checkpoint";
        const auto target = asset_cache_dir() / name_ / file_name;
        throw AssetError(where + " is the URI '" + text + "', which cannot be downloaded here; put the file at '" + target.string() +
                         "' and set '" + std::string(path) + "' to that path in a '" + name_ + std::string(user_overlay_suffix) +
                         "' card in the user asset folder '" + user_asset_dir().string() + "'.");
    }

    std::filesystem::path result(text);
    if (text == "~")
        return home_dir();
    if (text.rfind("~/", 0) == 0)
        return (home_dir() / text.substr(2)).lexically_normal();
    if (result.is_absolute())
        return result.lexically_normal();
    const AssetCardData& data = *found.layer->data;
    if (!data.on_disk)
        throw AssetError(where + " is the relative path '" + text +
                         "', but that card is not in a folder to resolve it against; give an absolute path.");
    return (std::filesystem::absolute(data.file).parent_path() / result).lexically_normal();
}

}  // namespace fairseq2::assets
