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
