#include "fairseq2/models/config_fields.hpp"

#include <cmath>
#include <limits>

#include <boost/json.hpp>

#include "fairseq2/error.hpp"
#include "fairseq2/logging.hpp"

namespace fairseq2::models::hf {

ConfigFields::ConfigFields(const boost::json::value& json, std::filesystem::path file, std::string family)
    : object_{json.if_object()}, file_{std::move(file)}, family_{std::move(family)}
{
    if (object_ == nullptr)
        throw ConfigError("The file '" + file_.string() + "' does not hold a JSON object, so it describes no model.");
}

bool ConfigFields::has(const char* key) const
{
    return find(key) != nullptr;
}

const boost::json::value* ConfigFields::find(const char* key) const
{
    const boost::json::value* value = object_->if_contains(key);
    return value != nullptr && !value->is_null() ? value : nullptr;
}

void ConfigFields::fail(const std::string& key, const std::string& reason) const
{
    throw ConfigError("The field '" + key + "' of '" + file_.string() + "' " + reason + ".");
}

void ConfigFields::require_absent_or(const char* key, const boost::json::value& expected) const
{
    if (const boost::json::value* value = find(key); value != nullptr && *value != expected)
        fail(key, "is " + boost::json::serialize(*value) + ", but " + family_ + " models support only " + boost::json::serialize(expected));
}

std::int64_t ConfigFields::required_int(const char* key) const
{
    std::optional<std::int64_t> value = optional_int(key);
    if (!value)
        throw ConfigError("The file '" + file_.string() + "' has no field '" + key + "', which a " + family_ + " config needs.");
    return *value;
}

std::optional<std::int64_t> ConfigFields::optional_int(const char* key) const
{
    const boost::json::value* value = find(key);
    if (value == nullptr)
        return std::nullopt;
    std::optional<std::int64_t> result;
    if (value->is_int64())
        result = value->get_int64();
    else if (value->is_uint64() && value->get_uint64() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        result = static_cast<std::int64_t>(value->get_uint64());
    else if (value->is_double() && std::floor(value->get_double()) == value->get_double() && std::abs(value->get_double()) < 9.0e15)
        result = static_cast<std::int64_t>(value->get_double());
    else
        fail(key, "is " + boost::json::serialize(*value) + "; expected an integer");
    // Sizes, counts and token ids; bounding them keeps every product of two
    // (heads times head size, ...) inside 64 bits.
    if (*result < -max_int || *result > max_int)
        fail(key, "is " + std::to_string(*result) + ", out of range: a model config's integers are at most " + std::to_string(max_int) +
                      " in magnitude");
    return result;
}

std::optional<double> ConfigFields::optional_double(const char* key) const
{
    const boost::json::value* value = find(key);
    if (value == nullptr)
        return std::nullopt;
    if (value->is_number())
        return value->to_number<double>();
    fail(key, "is " + boost::json::serialize(*value) + "; expected a number");
}

std::optional<bool> ConfigFields::optional_bool(const char* key) const
{
    const boost::json::value* value = find(key);
    if (value == nullptr)
        return std::nullopt;
    if (value->is_bool())
        return value->get_bool();
    fail(key, "is " + boost::json::serialize(*value) + "; expected true or false");
}

std::optional<std::string> ConfigFields::optional_string(const char* key) const
{
    const boost::json::value* value = find(key);
    if (value == nullptr)
        return std::nullopt;
    if (value->is_string())
        return std::string(value->get_string());
    fail(key, "is " + boost::json::serialize(*value) + "; expected a string");
}

std::optional<std::int64_t> ConfigFields::optional_token_id(const char* key, std::string_view override_field) const
{
    const boost::json::value* value = find(key);
    if (value == nullptr || !value->is_array())
        return optional_int(key);
    const boost::json::array& ids = value->get_array();
    if (ids.empty())
        return std::nullopt;
    for (const boost::json::value& id : ids)
        if (!id.is_int64())
            fail(key, "is " + boost::json::serialize(*value) + "; expected a token id or a list of them");
    if (ids.size() > 1)
        log().info("'{}' lists {} ids for '{}'; using the first, {} (override it with --set {}=ID).", file_.string(), ids.size(), key,
                   ids[0].get_int64(), override_field);
    return ids[0].get_int64();
}

CausalLmShape read_causal_lm_shape(const ConfigFields& fields)
{
    CausalLmShape shape;
    shape.model_dim = fields.required_int("hidden_size");
    shape.num_layers = fields.required_int("num_hidden_layers");
    shape.num_attn_heads = fields.required_int("num_attention_heads");
    shape.num_key_value_heads = fields.optional_int("num_key_value_heads").value_or(shape.num_attn_heads);
    shape.head_dim = fields.optional_int("head_dim");
    if (shape.head_dim && shape.num_attn_heads > 0 && *shape.head_dim * shape.num_attn_heads == shape.model_dim)
        shape.head_dim = std::nullopt;  // the default
    shape.ffn_inner_dim = fields.required_int("intermediate_size");
    shape.vocab_size = fields.required_int("vocab_size");
    return shape;
}

}  // namespace fairseq2::models::hf
