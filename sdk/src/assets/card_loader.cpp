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
#include <unordered_map>
#include <vector>

#include <boost/json.hpp>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>
#include <yaml-cpp/yaml.h>

#include "fairseq2/assets/asset_error.hpp"
#include "../quoted_list.hpp"
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

// --- YAML documents to JSON ----------------------------------------------------
//
// Built from the parser's events rather than through YAML::Node: with an
// explicit stack (no recursion a deep document can overflow, and a depth
// limit that also bounds yaml-cpp's own recursion), aliases copied within a
// budget (a "billion laughs" file is refused instead of expanded), and a
// guard against yaml-cpp 0.7's LoadAll loop, which yields empty documents
// forever on a stray ',' (jbeder/yaml-cpp#1040).

// Cards are flat: a mapping of fields, some holding a list or a mapping.
constexpr std::size_t max_yaml_depth = 64;

struct YamlDocument {
    boost::json::value root;
    std::size_t line = 0;  // 1-based line of the root node
    bool bare_null = false;  // the document is one null node ...
    YAML::Mark mark;         // ... at this position
};

class JsonBuilder : public YAML::EventHandler {
public:
    JsonBuilder(const std::filesystem::path& file, std::size_t value_budget) : file_(file), budget_(value_budget) {}

    std::vector<YamlDocument> documents;

    void OnDocumentStart(const YAML::Mark&) override
    {
        stack_.clear();
        documents.emplace_back();
    }
    void OnDocumentEnd() override {}

    void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override
    {
        if (stack_.empty() && !documents.empty()) {
            documents.back().bare_null = true;
            documents.back().mark = mark;
        }
        if (expecting_key())
            fail_key(mark);
        add(nullptr, mark, anchor, 1);
    }

    void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override
    {
        auto it = anchors_.find(anchor);
        if (it == anchors_.end())
            fail(mark, "refers to an anchor whose node is not complete; asset cards cannot contain themselves");
        if (expecting_key())
            fail_key(mark);
        add(it->second.value, mark, 0, it->second.count);
    }

    void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor, const std::string& value) override
    {
        if (expecting_key()) {
            Frame& frame = stack_.back();
            if (frame.object().contains(value))
                throw AssetError("The asset card file " + quoted(file_) + " gives the key '" + fairseq2::detail::printable(value) + "' twice in one mapping (line " +
                                 std::to_string(mark.line + 1) + ").");
            frame.key = value;
            frame.have_key = true;
            count(1, mark);
            return;
        }
        // "!" marks quoted (non-plain) scalars; "!!str" forces a string.
        if (tag == "!" || tag == "tag:yaml.org,2002:str")
            add(boost::json::string(value), mark, anchor, 1);
        else
            add(resolve_plain_scalar(value), mark, anchor, 1);
    }

    void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor, YAML::EmitterStyle::value) override
    {
        open(boost::json::array(), mark, anchor);
    }
    void OnSequenceEnd() override { close(); }

    void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor, YAML::EmitterStyle::value) override
    {
        open(boost::json::object(), mark, anchor);
    }
    void OnMapEnd() override { close(); }

private:
    struct Frame {
        boost::json::value value;  // the array or object being filled
        YAML::Mark mark;
        YAML::anchor_t anchor = 0;
        std::size_t count = 1;  // values inside, itself included
        std::string key;
        bool have_key = false;

        boost::json::object& object() { return value.get_object(); }
    };
    struct Anchored {
        boost::json::value value;
        std::size_t count = 1;
    };

    [[noreturn]] void fail(const YAML::Mark& mark, const std::string& what) const
    {
        throw AssetError("The asset card file " + quoted(file_) + " " + what + " (line " + std::to_string(mark.line + 1) + ", column " +
                         std::to_string(mark.column + 1) + ").");
    }

    [[noreturn]] void fail_key(const YAML::Mark& mark) const
    {
        throw AssetError("The asset card file " + quoted(file_) + " has a mapping key that is not a plain name at line " +
                         std::to_string(mark.line + 1) + "; keys must be names.");
    }

    bool expecting_key() const { return !stack_.empty() && stack_.back().value.is_object() && !stack_.back().have_key; }

    void count(std::size_t n, const YAML::Mark& mark)
    {
        if (n > budget_ - used_)
            fail(mark, "would expand to more than " + std::to_string(budget_) + " values, far more than its size can hold; its "
                       "aliases repeat too much (a \"billion laughs\" file?)");
        used_ += n;
    }

    void open(boost::json::value container, const YAML::Mark& mark, YAML::anchor_t anchor)
    {
        if (expecting_key())
            fail_key(mark);
        if (stack_.size() >= max_yaml_depth)
            fail(mark, "nests lists and mappings more than " + std::to_string(max_yaml_depth) + " deep");
        count(1, mark);
        if (stack_.empty() && !documents.empty())
            documents.back().line = static_cast<std::size_t>(mark.line) + 1;
        stack_.push_back(Frame{std::move(container), mark, anchor});
    }

    void close()
    {
        Frame frame = std::move(stack_.back());
        stack_.pop_back();
        remember(frame.anchor, frame.value, frame.count);
        place(std::move(frame.value), frame.count);
    }

    // A complete value of `n` values: counted, remembered under its anchor, placed.
    void add(boost::json::value value, const YAML::Mark& mark, YAML::anchor_t anchor, std::size_t n)
    {
        count(n, mark);
        if (stack_.empty() && !documents.empty() && documents.back().line == 0)
            documents.back().line = static_cast<std::size_t>(mark.line) + 1;
        remember(anchor, value, n);
        place(std::move(value), n);
    }

    void remember(YAML::anchor_t anchor, const boost::json::value& value, std::size_t n)
    {
        if (anchor != 0)
            anchors_[anchor] = Anchored{value, n};
    }

    void place(boost::json::value value, std::size_t n)
    {
        if (stack_.empty()) {
            if (!documents.empty())
                documents.back().root = std::move(value);
            return;
        }
        Frame& parent = stack_.back();
        parent.count += n;
        if (parent.value.is_array()) {
            parent.value.get_array().push_back(std::move(value));
        } else {
            parent.object()[parent.key] = std::move(value);
            parent.have_key = false;
        }
    }

    const std::filesystem::path& file_;
    std::size_t budget_;
    std::size_t used_ = 0;
    std::vector<Frame> stack_;
    std::unordered_map<YAML::anchor_t, Anchored> anchors_;
};

// The documents of `text`; throws AssetError naming the file for invalid
// YAML.
std::vector<YamlDocument> parse_yaml_documents(std::string_view text, const std::filesystem::path& file)
{
    // Aliases may repeat what the text holds a few times over, no more.
    JsonBuilder builder(file, 16 * text.size() + 1024);
    try {
        std::istringstream stream{std::string(text)};
        YAML::Parser parser(stream);
        while (parser.HandleNextDocument(builder)) {
            const auto n = builder.documents.size();
            // An empty document where the last one was, or more documents
            // than bytes: the parser makes no progress.
            if (n > text.size() + 1 ||
                (n >= 2 && builder.documents[n - 1].bare_null && builder.documents[n - 2].bare_null &&
                 builder.documents[n - 1].mark.pos == builder.documents[n - 2].mark.pos)) {
                const YAML::Mark& mark = builder.documents.back().mark;
                throw AssetError("The asset card file " + quoted(file) + " is not valid YAML: unexpected character at line " +
                                 std::to_string(mark.line + 1) + ", column " + std::to_string(mark.column + 1) + ".");
            }
        }
    } catch (const YAML::Exception& error) {
        std::string position;
        if (!error.mark.is_null())
            position = " at line " + std::to_string(error.mark.line + 1) + ", column " + std::to_string(error.mark.column + 1);
        throw AssetError("The asset card file " + quoted(file) + " is not valid YAML: " + error.msg + position + ".");
    }
    return std::move(builder.documents);
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
    if (fairseq2::detail::has_control_characters(name->get_string()))
        throw AssetError("The field 'name' of the asset card at " + where(file, line) + " must be a name without control characters, but is '" +
                         fairseq2::detail::printable(name->get_string()) + "'.");
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
    std::vector<AssetCardData> cards;
    for (auto& document : parse_yaml_documents(text, file)) {
        if (document.root.is_null())
            continue;
        if (!document.root.is_object())
            throw AssetError("The document at " + where(file, document.line) + " is not a mapping of fields, so it is not an asset card.");
        cards.push_back(make_card(std::move(document.root.get_object()), file, document.line, on_disk));
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
