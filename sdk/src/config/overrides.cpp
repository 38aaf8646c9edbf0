#include "fairseq2/config/overrides.hpp"

#include <boost/json.hpp>

#include "fairseq2/config/json_reflect.hpp"
#include "fairseq2/error.hpp"

namespace fairseq2::config {

namespace {

std::vector<std::string> keys_of(const boost::json::object& object)
{
    std::vector<std::string> keys;
    for (const auto& item : object)
        keys.emplace_back(item.key());
    return keys;
}

std::string describe_level(const std::string& path)
{
    return path.empty() ? "The config" : "The field '" + path + "'";
}

boost::json::object& require_object(boost::json::value& value, const std::string& path)
{
    if (!value.is_object())
        throw ConfigError(describe_level(path) + " is " + detail::describe_value(value) + ", not an object, so it has no keys to set.");
    return value.get_object();
}

}  // namespace

std::pair<std::string, boost::json::value> parse_assignment(std::string_view text)
{
    auto equals = text.find('=');
    if (equals == std::string_view::npos)
        throw ConfigError("The override '" + std::string(text) + "' must have the form KEY=VALUE.");
    std::string key(text.substr(0, equals));
    std::string_view raw = text.substr(equals + 1);
    if (key.empty())
        throw ConfigError("The override '" + std::string(text) + "' has an empty key; it must have the form KEY=VALUE.");
    boost::system::error_code error;
    boost::json::value value = boost::json::parse(raw, error);
    if (error)
        value = boost::json::string(raw);
    return {std::move(key), std::move(value)};
}

void set_path(boost::json::value& tree, std::string_view path, boost::json::value value)
{
    boost::json::value* node = &tree;
    std::string walked;
    std::size_t start = 0;
    while (true) {
        std::size_t dot = path.find('.', start);
        std::string segment(path.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
        if (segment.empty())
            throw ConfigError("The override key '" + std::string(path) + "' has an empty segment.");
        auto& object = require_object(*node, walked);
        std::string here = detail::join_path(walked, segment);
        auto* child = object.if_contains(segment);
        if (child == nullptr)
            detail::throw_unknown_keys(walked, {segment}, keys_of(object));
        if (dot == std::string_view::npos) {
            if (child->is_object() && !value.is_object())
                throw ConfigError("The field '" + here + "' is an object; set its keys ('" + here + ".KEY=VALUE') instead of replacing it with " +
                                  detail::describe_value(value) + ".");
            if (child->is_object())
                merge_overrides(*child, value, here);
            else
                *child = std::move(value);
            return;
        }
        node = child;
        walked = here;
        start = dot + 1;
    }
}

void merge_overrides(boost::json::value& tree, const boost::json::value& overrides, const std::string& path)
{
    if (!overrides.is_object()) {
        tree = overrides;
        return;
    }
    auto& object = require_object(tree, path);
    for (const auto& item : overrides.get_object()) {
        std::string key(item.key());
        const auto& value = item.value();
        if (key == "_set_") {
            merge_overrides(tree, value, path);
        } else if (key == "_del_") {
            if (!value.is_array())
                throw ConfigError("The '_del_' directive at " + (path.empty() ? std::string("the top level") : "'" + path + "'") +
                                  " must be an array of keys, but is " + detail::describe_value(value) + ".");
            for (const auto& name : value.get_array()) {
                if (!name.is_string() || object.erase(name.get_string()) == 0)
                    throw ConfigError("The '_del_' directive names " + detail::describe_value(name) +
                                      ", which is not a key of " + (path.empty() ? std::string("the config") : "'" + path + "'") + ".");
            }
        } else if (key == "_add_") {
            if (!value.is_object())
                throw ConfigError("The '_add_' directive must be an object, but is " + detail::describe_value(value) + ".");
            for (const auto& added : value.get_object())
                object[added.key()] = added.value();
        } else {
            auto* child = object.if_contains(key);
            std::string here = detail::join_path(path, key);
            if (child == nullptr)
                detail::throw_unknown_keys(path, {key}, keys_of(object));
            if (value.is_object() && child->is_object())
                merge_overrides(*child, value, here);
            else if (child->is_object())
                throw ConfigError("The field '" + here + "' is an object, but the override gives " + detail::describe_value(value) + ".");
            else
                *child = value;
        }
    }
}

}  // namespace fairseq2::config
