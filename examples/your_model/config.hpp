#pragma once

// The your_model family's config and its named presets ("archs").

#include <cstdint>

#include <boost/describe/class.hpp>

#include "fairseq2/config/config_registry.hpp"
#include "fairseq2/data/vocabulary_info.hpp"

namespace your_model {

inline constexpr const char* family_name = "your_model";

// The hyperparameters of a YourModel, with documented defaults.
struct YourModelConfig {
    // The width of the embeddings and of every layer.
    std::int64_t model_dim = 512;
    // The longest sequence (prompt plus generated tokens) the model handles.
    std::int64_t max_seq_len = 2048;
    fairseq2::VocabularyInfo vocab_info{32000, 0, 1, 2, std::nullopt};
    std::int64_t num_layers = 6;
    std::int64_t num_attn_heads = 8;
    // Grouped-query attention: must divide num_attn_heads.
    std::int64_t num_key_value_heads = 8;
    // The inner width of the GLU feed-forward network, before 2/3 scaling.
    std::int64_t ffn_inner_dim = 2048;
    double rope_theta = 10000.0;
    // Multiply the embeddings by sqrt(model_dim) before the first layer.
    bool scale_embeddings = true;

    // Throws fairseq2::ConfigError naming the first invalid field.
    void validate() const;
};

BOOST_DESCRIBE_STRUCT(YourModelConfig, (),
                      (model_dim, max_seq_len, vocab_info, num_layers, num_attn_heads, num_key_value_heads, ffn_inner_dim, rope_theta,
                       scale_embeddings))

inline constexpr const char* default_your_model_arch = "base";

// Registers the presets "tiny", "base" and "large".
void register_your_model_configs(fairseq2::ConfigRegistry<YourModelConfig> registry);

}  // namespace your_model
