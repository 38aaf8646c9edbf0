#pragma once

// Typed access to the fields of the JSON files that describe a checkpoint
// (Hugging Face config.json, Meta params.json), with errors that name the
// file and the field. No torch: families derive their configs with it in
// torch-free files, which the config fuzzer compiles alone.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "fairseq2/version.hpp"

namespace fairseq2::models::hf {

// Typed access to a JSON object read from `file` (config.json, params.json);
// every problem is a ConfigError naming the file and the field.
class FAIRSEQ2_API ConfigFields {
public:
    // `family` names who reads it in errors ("qwen"). Throws ConfigError
    // when `json` is not an object.
    ConfigFields(const boost::json::value& json, std::filesystem::path file, std::string family);

    bool has(const char* key) const;

    // Integers beyond this magnitude (2^31 - 1) are refused, so that a family
    // may multiply two of them without overflow.
    static constexpr std::int64_t max_int = 2147483647;

    // A field that must be there (ConfigError: "The file 'F' has no field
    // 'K', which a FAMILY config needs."), or nullopt when absent or null.
    std::int64_t required_int(const char* key) const;
    std::optional<std::int64_t> optional_int(const char* key) const;
    std::optional<double> optional_double(const char* key) const;
    std::optional<bool> optional_bool(const char* key) const;
    std::optional<std::string> optional_string(const char* key) const;
    // A token id field (bos_token_id, eos_token_id), which may also be a
    // list of ids (Llama 3 lists several EOS ids): the first is taken, and
    // the choice logged with the config field that overrides it
    // (`override_field`, "vocab_info.eos_idx"). nullopt when absent, null or
    // an empty list.
    std::optional<std::int64_t> optional_token_id(const char* key, std::string_view override_field) const;
    // The field itself, or nullptr when absent or null.
    const boost::json::value* find(const char* key) const;

    // Throws ConfigError: "The field 'KEY' of 'FILE' REASON."
    [[noreturn]] void fail(const std::string& key, const std::string& reason) const;

    // Fails unless the field is absent, null or equal to `expected`
    // ("... is V, but FAMILY models support only E").
    void require_absent_or(const char* key, const boost::json::value& expected) const;

    const std::filesystem::path& file() const noexcept { return file_; }
    const std::string& family() const noexcept { return family_; }

private:
    const boost::json::object* object_;
    std::filesystem::path file_;
    std::string family_;
};

// The shape every config.json of a LlamaForCausalLM-like model gives
// (Llama, Mistral, Qwen2, Qwen3): hidden_size, num_hidden_layers,
// num_attention_heads, num_key_value_heads (default: the heads), head_dim
// (nullopt when absent or equal to hidden_size / heads, the default),
// intermediate_size and vocab_size.
struct CausalLmShape {
    std::int64_t model_dim = 0;
    std::int64_t num_layers = 0;
    std::int64_t num_attn_heads = 0;
    std::int64_t num_key_value_heads = 0;
    std::optional<std::int64_t> head_dim;
    std::int64_t ffn_inner_dim = 0;
    std::int64_t vocab_size = 0;
};

FAIRSEQ2_API CausalLmShape read_causal_lm_shape(const ConfigFields& fields);

}  // namespace fairseq2::models::hf
