#pragma once

// What families share to read and write Hugging Face checkpoints: typed
// access to the fields of a config.json with errors that name the file and
// the field, the config.json beside a checkpoint, the q/k row order of
// rotate-half checkpoints, and the exporter that writes a Hugging Face
// directory from a model's state dict and the family's key map.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "fairseq2/checkpoint/state_dict.hpp"
#include "fairseq2/models/config_fields.hpp"

namespace fairseq2::models::hf {

// A checkpoint's Hugging Face config: config.json in
// checkpoint::checkpoint_directory(path) when it has a model_type.
struct Config {
    boost::json::value json;
    std::filesystem::path file;
    std::string model_type;
};

// nullopt when there is no such file or it has no model_type; throws
// CheckpointError naming the file when it cannot be read or parsed.
FAIRSEQ2_API std::optional<Config> read_config(const std::filesystem::path& checkpoint_path);

// The parameter names of Hugging Face's decoder-only causal language models
// in the shape of LlamaForCausalLM (Llama, Mistral, Qwen2, Qwen3 and many
// more): model.embed_tokens, model.layers.N.{input_layernorm,
// self_attn.{q,k,v,o}_proj, self_attn.{q,k}_norm, post_attention_layernorm,
// mlp.{gate,up,down}_proj}, model.norm and lm_head, mapped to the names of
// models::TransformerDecoderModel. A family whose model has no q/k norms
// simply has no such keys.
FAIRSEQ2_API const checkpoint::KeyMap& causal_lm_key_map();

// Whether `state_dict` uses those names: embed_tokens, lm_head or any layer
// key (a tied file written by safetensors' save_model may keep only one of
// the pair of embedding and projection, so no single key decides).
FAIRSEQ2_API bool is_causal_lm_state_dict(const checkpoint::StateDict& state_dict);

// The attention shape that the q/k row reorderings below need.
struct QueryKeyShape {
    std::int64_t num_heads = 0;
    std::int64_t num_key_value_heads = 0;
    std::int64_t head_dim = 0;
};

// Reorders, in a state dict with either Hugging Face or fairseq2 names, the
// rows of every self_attn.q_proj.weight and self_attn.k_proj.weight from
// rotate-half to consecutive-pair order (pair-rotating families importing a
// Hugging Face checkpoint), or back (exporting one). Only weights of the
// shape `shape` gives are reordered; others are left for the strict loader
// to report as mismatched.
FAIRSEQ2_API void query_key_rows_to_pairs(checkpoint::StateDict& state_dict, const QueryKeyShape& shape);
FAIRSEQ2_API void query_key_rows_to_rotate_half(checkpoint::StateDict& state_dict, const QueryKeyShape& shape);

// Hugging Face stores the q/k projections of pair-rotating families (llama,
// mistral) in rotate-half order. rotate_half_to_pairs reorders a weight of
// shape (heads * d, dim) to fairseq2's consecutive-pair order;
// pairs_to_rotate_half undoes it.
FAIRSEQ2_API at::Tensor rotate_half_to_pairs(const at::Tensor& weight, std::int64_t num_heads);
FAIRSEQ2_API at::Tensor pairs_to_rotate_half(const at::Tensor& weight, std::int64_t num_heads);

// "float32", "bfloat16", "float16" or "float64": torch's Python names.
FAIRSEQ2_API std::string torch_dtype_name(c10::ScalarType dtype);

// Writes the directory `dir` (created when missing; a file there is an
// error): model.safetensors with `state_dict` renamed by the reverse of the
// family's import key map (checkpoint::reverse_key_map), and config.json,
// `config` with "torch_dtype" set to the weights' dtype. Each file is
// written to a temporary name and renamed. Throws CheckpointError naming the
// path when writing fails.
FAIRSEQ2_API void export_checkpoint(const std::filesystem::path& dir, checkpoint::StateDict state_dict, const checkpoint::KeyMap& import_key_map,
                                    boost::json::object config);

}  // namespace fairseq2::models::hf
