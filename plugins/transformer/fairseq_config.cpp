// fairseq hyperparameters to TransformerConfig: outside input, read field by
// field with errors that name the checkpoint and the field. No torch here.

#include <string>

#include <boost/json.hpp>

#include "fairseq2/error.hpp"
#include "fairseq2/models/config_fields.hpp"
#include "fairseq_config.hpp"

namespace fairseq2::models::transformer {

namespace {

std::int64_t int_or(const hf::ConfigFields& fields, const char* key, std::int64_t fallback)
{
    const std::optional<std::int64_t> value = fields.optional_int(key);
    if (value && *value <= 0)
        fields.fail(key, "is " + std::to_string(*value) + ", but it must be positive");
    return value.value_or(fallback);
}

bool bool_or(const hf::ConfigFields& fields, const char* key, bool fallback)
{
    return fields.optional_bool(key).value_or(fallback);
}

void require_false(const hf::ConfigFields& fields, const char* key, const std::string& why)
{
    if (bool_or(fields, key, false))
        fields.fail(key, "is true, but " + why);
}

}  // namespace

const boost::json::object* fairseq_model_args(const boost::json::object& extras)
{
    if (const auto* args = extras.if_contains("args"); args != nullptr && args->is_object())
        return &args->as_object();
    if (const auto* cfg = extras.if_contains("cfg"); cfg != nullptr && cfg->is_object())
        if (const auto* model = cfg->as_object().if_contains("model"); model != nullptr && model->is_object())
            return &model->as_object();
    return nullptr;
}

TransformerConfig transformer_config_from_fairseq(const boost::json::object& args, std::int64_t source_vocab_size,
                                                  std::int64_t target_vocab_size, const std::filesystem::path& file)
{
    const boost::json::value json(args);  // ConfigFields keeps a reference
    const hf::ConfigFields fields(json, file, "transformer (fairseq args)");
    if (const std::optional<std::string> arch = fields.optional_string("arch"); arch && arch->rfind("transformer", 0) != 0)
        fields.fail("arch", "is '" + *arch + "', but the transformer family loads fairseq's transformer architectures only");

    TransformerConfig config;
    config.model_dim = int_or(fields, "encoder_embed_dim", 512);
    if (int_or(fields, "decoder_embed_dim", config.model_dim) != config.model_dim)
        fields.fail("decoder_embed_dim", "differs from encoder_embed_dim (" + std::to_string(config.model_dim) +
                                             "); the transformer family needs one model width");
    if (int_or(fields, "decoder_output_dim", config.model_dim) != config.model_dim)
        fields.fail("decoder_output_dim", "differs from the model width " + std::to_string(config.model_dim));
    config.num_encoder_layers = int_or(fields, "encoder_layers", 6);
    config.num_decoder_layers = int_or(fields, "decoder_layers", 6);
    config.num_encoder_attn_heads = int_or(fields, "encoder_attention_heads", 8);
    config.num_decoder_attn_heads = int_or(fields, "decoder_attention_heads", 8);
    config.ffn_inner_dim = int_or(fields, "encoder_ffn_embed_dim", 2048);
    if (int_or(fields, "decoder_ffn_embed_dim", config.ffn_inner_dim) != config.ffn_inner_dim)
        fields.fail("decoder_ffn_embed_dim", "differs from encoder_ffn_embed_dim (" + std::to_string(config.ffn_inner_dim) +
                                                 "); the transformer family needs one feed-forward width");
    const bool encoder_pre = bool_or(fields, "encoder_normalize_before", false);
    if (bool_or(fields, "decoder_normalize_before", false) != encoder_pre)
        fields.fail("decoder_normalize_before", "differs from encoder_normalize_before; the transformer family needs one norm order");
    config.norm_order = encoder_pre ? "pre" : "post";
    if (const std::optional<double> dropout = fields.optional_double("dropout"))
        config.dropout_p = *dropout;
    if (const std::optional<std::string> activation = fields.optional_string("activation_fn"); activation && *activation != "relu")
        fields.fail("activation_fn", "is '" + *activation + "', but the transformer family supports only 'relu'");
    require_false(fields, "encoder_learned_pos", "the transformer family has sinusoidal positions only");
    require_false(fields, "decoder_learned_pos", "the transformer family has sinusoidal positions only");
    require_false(fields, "no_token_positional_embeddings", "the transformer family always adds positions");
    require_false(fields, "no_scale_embedding", "the transformer family scales embeddings by sqrt(model_dim)");
    require_false(fields, "layernorm_embedding", "the transformer family has no embedding layer norm");
    require_false(fields, "cross_self_attention", "the transformer family has standard encoder-decoder attention");
    if (const auto* cutoff = fields.find("adaptive_softmax_cutoff"))
        fields.fail("adaptive_softmax_cutoff", "is set, but the transformer family has a plain output projection");

    const std::int64_t max_source = int_or(fields, "max_source_positions", 1024);
    const std::int64_t max_target = int_or(fields, "max_target_positions", 1024);
    config.max_seq_len = std::max(max_source, max_target);

    const bool share_all = bool_or(fields, "share_all_embeddings", false);
    config.shared_embeddings = share_all;
    config.tied_final_proj = share_all || bool_or(fields, "share_decoder_input_output_embed", false);
    config.vocab_info = VocabularyInfo{target_vocab_size, fairseq_unk_idx, fairseq_bos_idx, fairseq_eos_idx, fairseq_pad_idx};
    if (source_vocab_size != target_vocab_size) {
        if (share_all)
            fields.fail("share_all_embeddings", "is true, but the source and target embeddings have " + std::to_string(source_vocab_size) +
                                                    " and " + std::to_string(target_vocab_size) + " rows");
        config.source_vocab_size = source_vocab_size;
    }
    if (target_vocab_size <= fairseq_unk_idx)
        throw ConfigError("The checkpoint '" + file.string() + "' has a target embedding of " + std::to_string(target_vocab_size) +
                          " rows, fewer than fairseq's four special symbols.");
    return config;
}

}  // namespace fairseq2::models::transformer
