#include "fairseq2/assets/card_loader.hpp"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <regex>
#include <sstream>

#include <boost/json.hpp>
#include <yaml-cpp/yaml.h>

#include "fairseq2/assets/asset_error.hpp"
#include "fairseq2/config/json_reflect.hpp"

namespace fairseq2::assets {

namespace {

std::string quoted(const std::filesystem::path& file)
{
    return "'" + file.string() + "'";
}

// --- YAML scalars (YAML 1.2 core schema) -------------------------------------

std::optional<boost::json::value> parse_integer(const std::string& text)
{
    static const std::regex decimal("^[-+]?[0-9]+$");
    static const std::regex octal("^0o[0-7]+$");
    static const std::regex hexadecimal("^0x[0-9a-fA-F]+$");
    int base = 10;
    std::string digits = text;
    if (std::regex_match(text, octal)) {
        base = 8;
        digits = text.substr(2);
    } else if (std::regex_match(text, hexadecimal)) {
        base = 16;
        digits = text.substr(2);
    } else if (!std::regex_match(text, decimal)) {
        return std::nullopt;
    }
    bool negative = !digits.empty() && digits.front() == '-';
    if (!digits.empty() && (digits.front() == '+' || digits.front() == '-'))
        digits.erase(0, 1);
    std::uint64_t magnitude = 0;
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), magnitude, base);
    if (error == std::errc() && end == digits.data() + digits.size()) {
        if (!negative)
            return magnitude <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())
                       ? boost::json::value(static_cast<std::int64_t>(magnitude))
                       : boost::json::value(magnitude);
        if (magnitude <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) + 1)
            return boost::json::value(static_cast<std::int64_t>(0 - magnitude));
    }
    // Too large for 64 bits: keep it as a number.
    return boost::json::value(std::strtod(text.c_str(), nullptr));
}

std::optional<boost::json::value> parse_float(const std::string& text)
{
    static const std::regex number(R"(^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$)");
    static const std::regex infinity(R"(^[-+]?\.(inf|Inf|INF)$)");
    static const std::regex nan(R"(^\.(nan|NaN|NAN)$)");
    if (std::regex_match(text, number)) {
        std::string digits = text.front() == '+' ? text.substr(1) : text;
        double value = 0.0;
        auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
        if (error == std::errc() && end == digits.data() + digits.size())
            return boost::json::value(value);
        return boost::json::value(std::strtod(digits.c_str(), nullptr));
    }
    if (std::regex_match(text, infinity))
        return boost::json::value(text.front() == '-' ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity());
    if (std::regex_match(text, nan))
        return boost::json::value(std::numeric_limits<double>::quiet_NaN());
    return std::nullopt;
}

boost::json::value resolve_plain_scalar(const std::string& text)
{
    if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL")
        return nullptr;
    if (text == "true" || text == "True" || text == "TRUE")
        return true;
    if (text == "false" || text == "False" || text == "FALSE")
        return false;
    if (auto integer = parse_integer(text))
        return *integer;
    if (auto real = parse_float(text))
        return *real;
    return boost::json::string(text);
}

boost::json::value scalar_to_json(const YAML::Node& node)
{
    const std::string& tag = node.Tag();
    // "!" marks quoted (non-plain) scalars; "!!str" forces a string.
    if (tag == "!" || tag == "tag:yaml.org,2002:str")
        return boost::json::string(node.Scalar());
    return resolve_plain_scalar(node.Scalar());
}

std::size_t line_of(const YAML::Node& node)
{
    const YAML::Mark mark = node.Mark();
    return mark.is_null() ? 0 : static_cast<std::size_t>(mark.line) + 1;
}

boost::json::value yaml_to_json(const YAML::Node& node, const std::filesystem::path& file)
{
    switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
        return nullptr;
    case YAML::NodeType::Scalar:
        return scalar_to_json(node);
    case YAML::NodeType::Sequence: {
        boost::json::array array;
        for (const auto& item : node)
            array.push_back(yaml_to_json(item, file));
        return array;
    }
    case YAML::NodeType::Map: {
        boost::json::object object;
        for (const auto& item : node) {
            const YAML::Node& key = item.first;
            if (!key.IsScalar())
                throw AssetError("The asset card file " + quoted(file) + " has a mapping key that is not a plain name at line " +
                                 std::to_string(line_of(key)) + "; keys must be names.");
            const std::string name = key.Scalar();
            if (object.contains(name))
                throw AssetError("The asset card file " + quoted(file) + " gives the key '" + name + "' twice in one mapping (line " +
                                 std::to_string(line_of(key)) + ").");
            object[name] = yaml_to_json(item.second, file);
        }
        return object;
    }
    }
    return nullptr;
}

// --- cards -------------------------------------------------------------------

std::string where(const std::filesystem::path& file, std::size_t line)
{
    return line == 0 ? quoted(file) : "line " + std::to_string(line) + " of " + quoted(file);
}

// Checks `name` and `base` of one card and returns it as AssetCardData.
AssetCardData make_card(boost::json::object fields, const std::filesystem::path& file, std::size_t line, bool on_disk)
{
    const boost::json::value* name = fields.if_contains("name");
    if (name == nullptr)
        throw AssetError("The asset card at " + where(file, line) + " does not have a field named 'name'.");
    if (!name->is_string() || name->get_string().empty())
        throw AssetError("The field 'name' of the asset card at " + where(file, line) + " must be a non-empty string, but is " +
                         config::detail::describe_value(*name) + ".");
    AssetCardData card;
    card.name = std::string(name->get_string());
    card.file = file;
    card.line = line;
    card.on_disk = on_disk;

    const std::string at = "(" + card.location() + ")";
    const auto first_at = card.name.find('@');
    const bool overlay = first_at != std::string::npos;
    if (overlay && (card.name.substr(first_at) != user_overlay_suffix || first_at == 0))
        throw AssetError("The asset card name '" + card.name + "' " + at + " is invalid; '@' is reserved for overlay cards named 'NAME" +
                         std::string(user_overlay_suffix) + "'.");

    if (const boost::json::value* base = fields.if_contains("base")) {
        if (overlay)
            throw AssetError("The '" + card.name + "' asset card " + at + " sets 'base', but an overlay card only changes fields of '" +
                             card.name.substr(0, first_at) + "'; set 'base' in that card instead.");
        if (!base->is_string() || base->get_string().empty() || std::string_view(base->get_string()).find('@') != std::string_view::npos)
            throw AssetError("The field 'base' of the '" + card.name + "' asset card " + at +
                             " must be the name of another card (a string without '@'), but is " + config::detail::describe_value(*base) +
                             ".");
        if (base->get_string() == card.name)
            throw AssetError("The '" + card.name + "' asset card " + at + " names itself as its base.");
    }
    card.fields = std::move(fields);
    return card;
}

void check_unique_in_file(const std::vector<AssetCardData>& cards, const std::filesystem::path& file)
{
    std::map<std::string, std::size_t> lines;
    for (const auto& card : cards) {
        auto [it, inserted] = lines.emplace(card.name, card.line);
        if (!inserted) {
            std::string at = card.line == 0 ? std::string{} : " (at lines " + std::to_string(it->second) + " and " + std::to_string(card.line) + ")";
            throw AssetError("The asset card file " + quoted(file) + " defines the card '" + card.name + "' twice" + at +
                             "; card names must be unique.");
        }
    }
}

// 1-based line and column of byte `offset` of `text`.
std::pair<std::size_t, std::size_t> line_and_column(std::string_view text, std::size_t offset)
{
    std::size_t line = 1;
    std::size_t column = 1;
    for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
        if (text[i] == '\n') {
            ++line;
            column = 1;
        } else {
            ++column;
        }
    }
    return {line, column};
}

}  // namespace

std::vector<AssetCardData> parse_yaml_cards(std::string_view text, const std::filesystem::path& file, bool on_disk)
{
    std::vector<YAML::Node> documents;
    try {
        documents = YAML::LoadAll(std::string(text));
    } catch (const YAML::Exception& error) {
        std::string position;
        if (!error.mark.is_null())
            position = " at line " + std::to_string(error.mark.line + 1) + ", column " + std::to_string(error.mark.column + 1);
        throw AssetError("The asset card file " + quoted(file) + " is not valid YAML: " + error.msg + position + ".");
    }
    std::vector<AssetCardData> cards;
    for (const auto& document : documents) {
        if (document.IsNull() || !document.IsDefined())
            continue;
        const std::size_t line = line_of(document);
        if (!document.IsMap())
            throw AssetError("The document at " + where(file, line) + " is not a mapping of fields, so it is not an asset card.");
        boost::json::value fields = yaml_to_json(document, file);
        cards.push_back(make_card(std::move(fields.get_object()), file, line, on_disk));
    }
    check_unique_in_file(cards, file);
    return cards;
}

std::vector<AssetCardData> parse_json_cards(std::string_view text, const std::filesystem::path& file, bool on_disk)
{
    boost::system::error_code error;
    boost::json::value json = boost::json::parse(text, error);
    if (error) {
        // Feed the text again byte by byte to find where it breaks.
        boost::json::stream_parser parser;
        boost::system::error_code located;
        std::size_t offset = 0;
        for (; offset < text.size(); ++offset) {
            parser.write_some(text.data() + offset, 1, located);
            if (located)
                break;
        }
        auto [line, column] = line_and_column(text, offset);
        throw AssetError("The asset card file " + quoted(file) + " is not valid JSON: " + error.message() + " at line " +
                         std::to_string(line) + ", column " + std::to_string(column) + ".");
    }
    std::vector<AssetCardData> cards;
    auto add = [&](boost::json::value& item) {
        if (!item.is_object())
            throw AssetError("The asset card file " + quoted(file) + " must hold a card object or an array of card objects, but holds " +
                             config::detail::describe_value(item) + ".");
        cards.push_back(make_card(std::move(item.get_object()), file, 0, on_disk));
    };
    if (json.is_array()) {
        for (auto& item : json.get_array())
            add(item);
    } else {
        add(json);
    }
    check_unique_in_file(cards, file);
    return cards;
}

bool is_card_file(const std::filesystem::path& file)
{
    const auto extension = file.extension();
    return extension == ".yaml" || extension == ".yml" || extension == ".json";
}

std::vector<AssetCardData> load_card_file(const std::filesystem::path& file)
{
    std::ifstream stream(file, std::ios::binary);
    if (!stream)
        throw AssetError("The asset card file " + quoted(file) + " cannot be read: " + std::strerror(errno) + ".");
    std::ostringstream text;
    text << stream.rdbuf();
    if (file.extension() == ".json")
        return parse_json_cards(text.str(), file, true);
    return parse_yaml_cards(text.str(), file, true);
}

}  // namespace fairseq2::assets
