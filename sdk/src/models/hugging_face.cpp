#include "fairseq2/models/hugging_face.hpp"

#include <cmath>
#include <limits>

#include <ATen/ATen.h>
#include <boost/json.hpp>

#include "fairseq2/checkpoint/atomic_file.hpp"
#include "fairseq2/checkpoint/checkpoint_loader.hpp"
#include "fairseq2/checkpoint/json_file.hpp"
#include "fairseq2/checkpoint/safetensors.hpp"
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
    if (value->is_int64())
        return value->get_int64();
    if (value->is_uint64() && value->get_uint64() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        return static_cast<std::int64_t>(value->get_uint64());
    if (value->is_double() && std::floor(value->get_double()) == value->get_double() && std::abs(value->get_double()) < 9.0e15)
        return static_cast<std::int64_t>(value->get_double());
    fail(key, "is " + boost::json::serialize(*value) + "; expected an integer");
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

std::optional<Config> read_config(const std::filesystem::path& checkpoint_path)
{
    const std::filesystem::path file = checkpoint::checkpoint_directory(checkpoint_path) / "config.json";
    std::error_code error;
    if (!std::filesystem::is_regular_file(file, error))
        return std::nullopt;
    boost::json::value json = checkpoint::read_json_file(file);
    const boost::json::object* object = json.if_object();
    if (object == nullptr)
        return std::nullopt;
    const boost::json::value* type = object->if_contains("model_type");
    if (type == nullptr || !type->is_string())
        return std::nullopt;
    std::string model_type(type->get_string());
    return Config{std::move(json), file, std::move(model_type)};
}

const checkpoint::KeyMap& causal_lm_key_map()
{
    static const checkpoint::KeyMap map{
        {R"(^model\.layers\.([0-9]+)\.self_attn\.q_proj\.)", R"(decoder.layers.\1.self_attn.q_proj.)"},
        {R"(^model\.layers\.([0-9]+)\.self_attn\.k_proj\.)", R"(decoder.layers.\1.self_attn.k_proj.)"},
        {R"(^model\.layers\.([0-9]+)\.self_attn\.v_proj\.)", R"(decoder.layers.\1.self_attn.v_proj.)"},
        {R"(^model\.layers\.([0-9]+)\.self_attn\.q_norm\.)", R"(decoder.layers.\1.self_attn.q_norm.)"},
        {R"(^model\.layers\.([0-9]+)\.self_attn\.k_norm\.)", R"(decoder.layers.\1.self_attn.k_norm.)"},
        {R"(^model\.layers\.([0-9]+)\.self_attn\.o_proj\.)", R"(decoder.layers.\1.self_attn.output_proj.)"},
        {R"(^model\.layers\.([0-9]+)\.input_layernorm\.)", R"(decoder.layers.\1.self_attn_layer_norm.)"},
        {R"(^model\.layers\.([0-9]+)\.post_attention_layernorm\.)", R"(decoder.layers.\1.ffn_layer_norm.)"},
        {R"(^model\.layers\.([0-9]+)\.mlp\.gate_proj\.)", R"(decoder.layers.\1.ffn.gate_proj.)"},
        {R"(^model\.layers\.([0-9]+)\.mlp\.up_proj\.)", R"(decoder.layers.\1.ffn.inner_proj.)"},
        {R"(^model\.layers\.([0-9]+)\.mlp\.down_proj\.)", R"(decoder.layers.\1.ffn.output_proj.)"},
        {R"(^model\.norm\.)", R"(decoder.layer_norm.)"},
        {R"(^model\.embed_tokens\.)", R"(decoder_frontend.embed.)"},
        {R"(^lm_head\.)", R"(final_proj.)"},
    };
    return map;
}

bool is_causal_lm_state_dict(const checkpoint::StateDict& state_dict)
{
    if (state_dict.contains("lm_head.weight"))
        return true;
    for (const char* prefix : {"model.layers.", "model.embed_tokens."}) {
        const auto it = state_dict.lower_bound(prefix);
        if (it != state_dict.end() && it->first.starts_with(prefix))
            return true;
    }
    return false;
}

namespace {

template <typename Reorder>
void reorder_query_key_rows(checkpoint::StateDict& state_dict, const QueryKeyShape& shape, Reorder reorder)
{
    for (auto& [key, tensor] : state_dict) {
        if (key.ends_with("self_attn.q_proj.weight") && tensor.dim() == 2 && tensor.size(0) == shape.num_heads * shape.head_dim)
            tensor = reorder(tensor, shape.num_heads);
        else if (key.ends_with("self_attn.k_proj.weight") && tensor.dim() == 2 &&
                 tensor.size(0) == shape.num_key_value_heads * shape.head_dim)
            tensor = reorder(tensor, shape.num_key_value_heads);
    }
}

}  // namespace

void query_key_rows_to_pairs(checkpoint::StateDict& state_dict, const QueryKeyShape& shape)
{
    reorder_query_key_rows(state_dict, shape, rotate_half_to_pairs);
}

void query_key_rows_to_rotate_half(checkpoint::StateDict& state_dict, const QueryKeyShape& shape)
{
    reorder_query_key_rows(state_dict, shape, pairs_to_rotate_half);
}

at::Tensor rotate_half_to_pairs(const at::Tensor& weight, std::int64_t num_heads)
{
    const std::int64_t rows = weight.size(0);
    const std::int64_t cols = weight.size(1);
    return weight.view({num_heads, 2, rows / num_heads / 2, cols}).transpose(1, 2).reshape({rows, cols});
}

at::Tensor pairs_to_rotate_half(const at::Tensor& weight, std::int64_t num_heads)
{
    const std::int64_t rows = weight.size(0);
    const std::int64_t cols = weight.size(1);
    return weight.view({num_heads, rows / num_heads / 2, 2, cols}).transpose(1, 2).reshape({rows, cols});
}

std::string torch_dtype_name(c10::ScalarType dtype)
{
    switch (dtype) {
    case c10::kFloat:
        return "float32";
    case c10::kBFloat16:
        return "bfloat16";
    case c10::kHalf:
        return "float16";
    case c10::kDouble:
        return "float64";
    default:
        throw InvalidArgumentError(std::string("Hugging Face checkpoints have no name for the dtype ") + c10::toString(dtype) + ".");
    }
}

void export_checkpoint(const std::filesystem::path& dir, checkpoint::StateDict state_dict, const checkpoint::KeyMap& import_key_map,
                       boost::json::object config)
{
    std::error_code error;
    if (std::filesystem::exists(dir, error) && !std::filesystem::is_directory(dir, error))
        throw CheckpointError("Cannot export to '" + dir.string() + "': it is a file, but a Hugging Face checkpoint is a directory.");
    std::filesystem::create_directories(dir, error);
    if (error)
        throw CheckpointError("Cannot export to '" + dir.string() + "': the directory cannot be created (" + error.message() + ").");

    config["torch_dtype"] = torch_dtype_name(checkpoint::checkpoint_dtype(state_dict));
    state_dict = checkpoint::convert_state_dict(std::move(state_dict), checkpoint::reverse_key_map(import_key_map));
    checkpoint::write_safetensors(dir / "model.safetensors", state_dict, {{"format", "pt"}});

    const std::string text = boost::json::serialize(config) + "\n";
    checkpoint::AtomicFile file(dir / "config.json");
    file.write(text.data(), text.size());
    file.commit();
}

}  // namespace fairseq2::models::hf
