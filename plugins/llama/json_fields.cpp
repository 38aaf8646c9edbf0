#include "json_fields.hpp"

#include <cmath>
#include <limits>

#include <boost/json.hpp>

#include "fairseq2/error.hpp"

namespace fairseq2::models::llama {

JsonFields::JsonFields(const boost::json::value& json, std::filesystem::path file) : object_{json.if_object()}, file_{std::move(file)}
{
    if (object_ == nullptr)
        throw ConfigError("The file '" + file_.string() + "' does not hold a JSON object, so it describes no model.");
}

bool JsonFields::has(const char* key) const
{
    return find(key) != nullptr;
}

const boost::json::value* JsonFields::find(const char* key) const
{
    const boost::json::value* value = object_->if_contains(key);
    return value != nullptr && !value->is_null() ? value : nullptr;
}

void JsonFields::fail(const std::string& key, const std::string& reason) const
{
    throw ConfigError("The field '" + key + "' of '" + file_.string() + "' " + reason + ".");
}

std::int64_t JsonFields::required_int(const char* key) const
{
    std::optional<std::int64_t> value = optional_int(key);
    if (!value)
        throw ConfigError("The file '" + file_.string() + "' has no field '" + key + "', which a llama config needs.");
    return *value;
}

std::optional<std::int64_t> JsonFields::optional_int(const char* key) const
{
    const boost::json::value* value = find(key);
    if (value == nullptr)
        return std::nullopt;
    if (value->is_int64())
        return value->get_int64();
    if (value->is_uint64() && value->get_uint64() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        return static_cast<std::int64_t>(value->get_uint64());
    if (value->is_double() && std::floor(value->get_double()) == value->get_double() && std::abs(value->get_double()) < 9.0e15)
        return static_cast<std::int64_t>(value->get_double());
    fail(key, "is " + boost::json::serialize(*value) + "; expected an integer");
}

std::optional<double> JsonFields::optional_double(const char* key) const
{
    const boost::json::value* value = find(key);
    if (value == nullptr)
        return std::nullopt;
    if (value->is_number())
        return value->to_number<double>();
    fail(key, "is " + boost::json::serialize(*value) + "; expected a number");
}

std::optional<bool> JsonFields::optional_bool(const char* key) const
{
    const boost::json::value* value = find(key);
    if (value == nullptr)
        return std::nullopt;
    if (value->is_bool())
        return value->get_bool();
    fail(key, "is " + boost::json::serialize(*value) + "; expected true or false");
}

std::optional<std::string> JsonFields::optional_string(const char* key) const
{
    const boost::json::value* value = find(key);
    if (value == nullptr)
        return std::nullopt;
    if (value->is_string())
        return std::string(value->get_string());
    fail(key, "is " + boost::json::serialize(*value) + "; expected a string");
}

}  // namespace fairseq2::models::llama
