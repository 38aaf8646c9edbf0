#include "json_output.hpp"

#include <boost/json.hpp>

namespace fairseq2::cli {

namespace {

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
        out += boost::json::serialize(value);
    }
}

}  // namespace

std::string pretty_json(const boost::json::value& value)
{
    std::string out;
    write(out, value, 0);
    return out;
}

}  // namespace fairseq2::cli
