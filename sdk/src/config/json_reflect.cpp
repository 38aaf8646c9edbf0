#include "fairseq2/config/json_reflect.hpp"

#include <array>
#include <charconv>

#include <boost/json/serialize.hpp>

#include "../quoted_list.hpp"

namespace fairseq2::config::detail {

std::string join_path(const std::string& parent, const std::string& name)
{
    return parent.empty() ? name : parent + "." + name;
}

std::string describe_path(const std::string& path)
{
    return path.empty() ? "The config" : "The field '" + path + "'";
}

std::string describe_value(const boost::json::value& value)
{
    std::string text;
    if (value.is_double()) {
        std::array<char, 32> buffer{};
        auto result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value.get_double());
        text.assign(buffer.data(), result.ptr);
    } else {
        text = boost::json::serialize(value);
    }
    if (text.size() > 60)
        text = text.substr(0, 57) + "...";
    switch (value.kind()) {
    case boost::json::kind::null:
        return "null";
    case boost::json::kind::bool_:
        return "a boolean (" + text + ")";
    case boost::json::kind::int64:
    case boost::json::kind::uint64:
        return "an integer (" + text + ")";
    case boost::json::kind::double_:
        return "a number (" + text + ")";
    case boost::json::kind::string:
        return "a string (" + text + ")";
    case boost::json::kind::array:
        return "an array (" + text + ")";
    case boost::json::kind::object:
        return "an object (" + text + ")";
    }
    return text;
}

void throw_type_error(const std::string& path, const char* expected, const boost::json::value& found)
{
    throw ConfigError(describe_path(path) + " must be " + expected + ", but is " + describe_value(found) + ".");
}

void throw_unknown_keys(const std::string& path, const std::vector<std::string>& unknown, const std::vector<std::string>& valid)
{
    throw ConfigError(describe_path(path) + " has unknown key" + (unknown.size() == 1 ? " " : "s ") + fairseq2::detail::quoted_list(unknown) +
                      "; valid keys are " + fairseq2::detail::quoted_list(valid) + ".");
}

void throw_missing_field(const std::string& path)
{
    throw ConfigError(describe_path(path) + " is missing.");
}

}  // namespace fairseq2::config::detail
