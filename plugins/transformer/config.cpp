#include "config.hpp"

#include <string>

#include "fairseq2/error.hpp"

namespace fairseq2::models::transformer {

namespace {

void require(bool condition, const std::string& field, const std::string& expectation)
{
    if (!condition)
        throw ConfigError("The field '" + field + "' of the transformer config is invalid: " + expectation + ".");
}

std::string str(std::int64_t value)
{
    return std::to_string(value);
}

void require_index(const std::optional<std::int64_t>& index, const std::string& field, std::int64_t size)
{
    if (index)
        require(*index >= 0 && *index < size, field,
                "it must be within the vocabulary (0 to " + str(size - 1) + "), but is " + str(*index));
}

// NLLB's dense models: pre-norm, one shared embedding over NLLB's
// SentencePiece vocabulary with its language tokens.
TransformerConfig nllb_dense(std::int64_t model_dim, std::int64_t num_layers, std::int64_t ffn_inner_dim, double dropout_p)
{
    TransformerConfig config;
    config.model_dim = model_dim;
    config.max_seq_len = 1024;
    config.vocab_info = VocabularyInfo{256206, 1, 2, 3, 0};
    config.num_encoder_layers = num_layers;
    config.num_decoder_layers = num_layers;
    config.num_encoder_attn_heads = 16;
    config.num_decoder_attn_heads = 16;
    config.ffn_inner_dim = ffn_inner_dim;
    config.norm_order = "pre";
    config.dropout_p = dropout_p;
    return config;
}

}  // namespace

void TransformerConfig::validate() const
{
    require(model_dim > 0 && model_dim % 2 == 0, "model_dim", "it must be positive and even (sinusoidal positions), but is " + str(model_dim));
    require(max_seq_len > 0, "max_seq_len", "it must be positive, but is " + str(max_seq_len));
    require(vocab_info.size > 0, "vocab_info.size", "it must be positive, but is " + str(vocab_info.size));
    require(vocab_info.eos_idx.has_value(), "vocab_info.eos_idx", "an encoder-decoder model needs an EOS token, but it is null");
    require_index(vocab_info.unk_idx, "vocab_info.unk_idx", vocab_info.size);
    require_index(vocab_info.bos_idx, "vocab_info.bos_idx", vocab_info.size);
    require_index(vocab_info.eos_idx, "vocab_info.eos_idx", vocab_info.size);
    require_index(vocab_info.pad_idx, "vocab_info.pad_idx", vocab_info.size);
    if (source_vocab_size) {
        require(*source_vocab_size > 0, "source_vocab_size", "it must be positive, but is " + str(*source_vocab_size));
        require(!shared_embeddings || *source_vocab_size == vocab_info.size, "source_vocab_size",
                "a source vocabulary of another size than the target's (" + str(vocab_info.size) +
                    ") needs shared_embeddings false, but it is " + str(*source_vocab_size));
    }
    require(num_encoder_layers > 0, "num_encoder_layers", "it must be positive, but is " + str(num_encoder_layers));
    require(num_decoder_layers > 0, "num_decoder_layers", "it must be positive, but is " + str(num_decoder_layers));
    require(num_encoder_attn_heads > 0 && model_dim % num_encoder_attn_heads == 0, "num_encoder_attn_heads",
            "it must be positive and divide model_dim (" + str(model_dim) + "), but is " + str(num_encoder_attn_heads));
    require(num_decoder_attn_heads > 0 && model_dim % num_decoder_attn_heads == 0, "num_decoder_attn_heads",
            "it must be positive and divide model_dim (" + str(model_dim) + "), but is " + str(num_decoder_attn_heads));
    require(ffn_inner_dim > 0, "ffn_inner_dim", "it must be positive, but is " + str(ffn_inner_dim));
    require(norm_order == "pre" || norm_order == "post", "norm_order", "it must be \"pre\" or \"post\", but is \"" + norm_order + "\"");
    require(dropout_p >= 0.0 && dropout_p < 1.0, "dropout_p", "it must be in [0, 1), but is " + std::to_string(dropout_p));
}

void register_transformer_configs(ConfigRegistry<TransformerConfig> registry)
{
    // fairseq2 v0.4.5's transformer archs.
    TransformerConfig base;
    registry.register_("base", base);

    TransformerConfig big;
    big.model_dim = 1024;
    big.num_encoder_attn_heads = 16;
    big.num_decoder_attn_heads = 16;
    big.ffn_inner_dim = 4096;
    big.dropout_p = 0.3;
    registry.register_("big", big);

    registry.register_("nllb_dense_300m", nllb_dense(1024, 6, 4096, 0.3));
    registry.register_("nllb_dense_600m", nllb_dense(1024, 12, 4096, 0.1));
    registry.register_("nllb_dense_1b", nllb_dense(1024, 24, 8192, 0.1));
    registry.register_("nllb_dense_3b", nllb_dense(2048, 24, 8192, 0.1));
}

}  // namespace fairseq2::models::transformer
