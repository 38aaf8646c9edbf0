#include "config.hpp"

#include <string>

#include "fairseq2/error.hpp"

namespace fairseq2::models::qwen {

namespace {

void require(bool condition, const std::string& field, const std::string& expectation)
{
    if (!condition)
        throw ConfigError("The field '" + field + "' of the qwen config is invalid: " + expectation + ".");
}

std::string str(std::int64_t value)
{
    return std::to_string(value);
}

struct Shape {
    std::int64_t model_dim;
    std::int64_t max_seq_len;
    std::int64_t vocab_size;
    bool tied;
    std::int64_t num_layers;
    std::int64_t num_heads;
    std::int64_t num_kv_heads;
    std::optional<std::int64_t> head_dim;
    bool qkv_bias;
    bool qk_norm;
    std::int64_t ffn_inner_dim;
};

QwenConfig make(const Shape& shape)
{
    QwenConfig config;
    config.model_dim = shape.model_dim;
    config.max_seq_len = shape.max_seq_len;
    config.vocab_size = shape.vocab_size;
    config.tied_embeddings = shape.tied;
    config.num_layers = shape.num_layers;
    config.num_attn_heads = shape.num_heads;
    config.num_key_value_heads = shape.num_kv_heads;
    config.head_dim = shape.head_dim;
    config.qkv_proj_bias = shape.qkv_bias;
    config.q_norm = shape.qk_norm;
    config.k_norm = shape.qk_norm;
    config.ffn_inner_dim = shape.ffn_inner_dim;
    config.rope_theta = 1'000'000.0;
    return config;
}

// Qwen 2.5: q/k/v biases, no q/k norms, head_dim model_dim / heads.
QwenConfig qwen25(std::int64_t model_dim, std::int64_t vocab_size, bool tied, std::int64_t num_layers, std::int64_t num_heads,
                  std::int64_t num_kv_heads, std::int64_t ffn_inner_dim)
{
    return make({model_dim, 32768, vocab_size, tied, num_layers, num_heads, num_kv_heads, std::nullopt, true, false, ffn_inner_dim});
}

// Qwen 3: no biases, q/k norms, head_dim 128.
QwenConfig qwen3(std::int64_t model_dim, bool tied, std::int64_t num_layers, std::int64_t num_heads, std::int64_t ffn_inner_dim)
{
    return make({model_dim, 40960, 151936, tied, num_layers, num_heads, 8, 128, false, true, ffn_inner_dim});
}

}  // namespace

void QwenConfig::validate() const
{
    require(model_dim > 0, "model_dim", "it must be positive, but is " + str(model_dim));
    require(max_seq_len > 0, "max_seq_len", "it must be positive, but is " + str(max_seq_len));
    require(vocab_size > 0, "vocab_size", "it must be positive, but is " + str(vocab_size));
    require(num_layers > 0, "num_layers", "it must be positive, but is " + str(num_layers));
    require(num_attn_heads > 0, "num_attn_heads", "it must be positive, but is " + str(num_attn_heads));
    require(num_key_value_heads > 0, "num_key_value_heads", "it must be positive, but is " + str(num_key_value_heads));
    require(num_attn_heads % num_key_value_heads == 0, "num_key_value_heads",
            "it must divide num_attn_heads (" + str(num_attn_heads) + "), but is " + str(num_key_value_heads));
    if (head_dim) {
        require(*head_dim > 0 && *head_dim % 2 == 0, "head_dim", "it must be positive and even for rotary encoding, but is " + str(*head_dim));
    } else {
        require(model_dim % num_attn_heads == 0, "num_attn_heads",
                "it must divide model_dim (" + str(model_dim) + "), but is " + str(num_attn_heads));
        require((model_dim / num_attn_heads) % 2 == 0, "num_attn_heads",
                "the head dimension model_dim / num_attn_heads must be even for rotary encoding, but is " + str(model_dim / num_attn_heads));
    }
    require(ffn_inner_dim > 0, "ffn_inner_dim", "it must be positive, but is " + str(ffn_inner_dim));
    require(rope_theta > 0.0, "rope_theta", "it must be positive, but is " + std::to_string(rope_theta));
    require(dropout_p >= 0.0 && dropout_p < 1.0, "dropout_p", "it must be in [0, 1), but is " + std::to_string(dropout_p));
    require(rms_norm_eps > 0.0, "rms_norm_eps", "it must be positive, but is " + std::to_string(rms_norm_eps));
    if (eos_idx)
        require(*eos_idx >= 0 && *eos_idx < vocab_size, "eos_idx",
                "it must be within the vocabulary (0 to " + str(vocab_size - 1) + "), but is " + str(*eos_idx));
}

void register_qwen_configs(ConfigRegistry<QwenConfig> registry)
{
    // fairseq2's reference table marks qwen25_3b tied, as Qwen's release.
    registry.register_("qwen25_1_5b", qwen25(1536, 151936, true, 28, 12, 2, 8960));
    registry.register_("qwen25_3b", qwen25(2048, 151936, true, 36, 16, 2, 11008));
    registry.register_("qwen25_7b", qwen25(3584, 152064, false, 28, 28, 4, 18944));
    registry.register_("qwen25_14b", qwen25(5120, 152064, false, 48, 40, 8, 13824));
    registry.register_("qwen25_32b", qwen25(5120, 152064, false, 64, 40, 8, 27648));

    registry.register_("qwen3_0.6b", qwen3(1024, true, 28, 16, 3072));
    registry.register_("qwen3_1.7b", qwen3(2048, true, 28, 16, 6144));
    registry.register_("qwen3_4b", qwen3(2560, true, 36, 32, 9728));
    registry.register_("qwen3_8b", qwen3(4096, false, 36, 32, 12288));
    registry.register_("qwen3_14b", qwen3(5120, false, 40, 40, 17408));
    registry.register_("qwen3_32b", qwen3(5120, false, 64, 64, 25600));
}

}  // namespace fairseq2::models::qwen
