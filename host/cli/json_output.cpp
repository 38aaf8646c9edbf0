#include "json_output.hpp"

#include <array>
#include <charconv>

#include <boost/json.hpp>

namespace fairseq2::cli {

namespace {

// Shortest round-trip text of a double, always with a '.' or exponent so it
// reads back as a number with a fraction ("0.1", "1.0", "1e-05").
std::string format_double(double value)
{
    std::array<char, 32> buffer{};
    auto [end, error] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
    std::string text(buffer.data(), end);
    if (text.find_first_of(".eEn") == std::string::npos)
        text += ".0";
    return text;
}

std::string scalar(const boost::json::value& value)
{
    if (value.is_double())
        return format_double(value.get_double());
    return boost::json::serialize(value);
}

void write_compact(std::string& out, const boost::json::value& value)
{
    if (value.is_object()) {
        out += "{";
        bool first = true;
        for (const auto& item : value.get_object()) {
            if (!first)
                out += ',';
            out += boost::json::serialize(boost::json::string(item.key()));
            out += ':';
            write_compact(out, item.value());
            first = false;
        }
        out += "}";
    } else if (value.is_array()) {
        out += "[";
        bool first = true;
        for (const auto& item : value.get_array()) {
            out += first ? "" : ",";
            write_compact(out, item);
            first = false;
        }
        out += "]";
    } else {
        out += scalar(value);
    }
}

void write(std::string& out, const boost::json::value& value, int depth)
{
    const std::string indent(static_cast<std::size_t>(depth + 1) * 2, ' ');
    const std::string closing(static_cast<std::size_t>(depth) * 2, ' ');
    if (value.is_object() && !value.get_object().empty()) {
        out += "{\n";
        bool first = true;
        for (const auto& item : value.get_object()) {
            out += (first ? "" : ",\n") + indent + boost::json::serialize(boost::json::string(item.key())) + ": ";
            write(out, item.value(), depth + 1);
            first = false;
        }
        out += "\n" + closing + "}";
    } else if (value.is_array() && !value.get_array().empty()) {
        out += "[\n";
        bool first = true;
        for (const auto& item : value.get_array()) {
            out += (first ? "" : ",\n") + indent;
            write(out, item, depth + 1);
            first = false;
        }
        out += "\n" + closing + "]";
    } else {
        out += scalar(value);
    }
}

}  // namespace

std::string pretty_json(const boost::json::value& value)
{
    std::string out;
    write(out, value, 0);
    return out;
}

std::string compact_json(const boost::json::value& value)
{
    std::string out;
    write_compact(out, value);
    return out;
}

}  // namespace fairseq2::cli
