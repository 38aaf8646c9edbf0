// M2M100 config.json to and from TransformerConfig: outside input, read
// field by field with errors that name the file and the field. No torch.

#include <string>

#include <boost/json.hpp>

#include "fairseq2/error.hpp"
#include "fairseq2/models/config_fields.hpp"
#include "hf_config.hpp"

namespace fairseq2::models::transformer {

namespace {

// transformers' NLLB ids of <s>, <pad>, </s>.
constexpr std::int64_t hf_bos = 0;
constexpr std::int64_t hf_pad = 1;
constexpr std::int64_t hf_eos = 2;

VocabularyInfo nllb_layout(std::int64_t size)
{
    return VocabularyInfo{size, 1, 2, 3, 0};
}

std::int64_t positive(const hf::ConfigFields& fields, const char* key)
{
    const std::int64_t value = fields.required_int(key);
    if (value <= 0)
        fields.fail(key, "is " + std::to_string(value) + ", but it must be positive");
    return value;
}

}  // namespace

bool is_m2m100_model_type(const std::string& model_type)
{
    return model_type == "m2m_100";
}

TransformerConfig transformer_config_from_hf(const boost::json::value& json, const std::filesystem::path& file)
{
    const hf::ConfigFields fields(json, file, family_name);
    const std::optional<std::string> type = fields.optional_string("model_type");
    if (!type || !is_m2m100_model_type(*type))
        fields.fail("model_type", "is '" + type.value_or("(none)") + "', but the transformer family loads only model_type 'm2m_100'");
    fields.require_absent_or("activation_function", "relu");
    fields.require_absent_or("scale_embedding", true);
    fields.require_absent_or("tie_word_embeddings", true);
    fields.require_absent_or("pad_token_id", hf_pad);
    fields.require_absent_or("bos_token_id", hf_bos);
    fields.require_absent_or("eos_token_id", hf_eos);
    fields.require_absent_or("decoder_start_token_id", hf_eos);

    TransformerConfig config;
    config.model_dim = positive(fields, "d_model");
    config.num_encoder_layers = positive(fields, "encoder_layers");
    config.num_decoder_layers = positive(fields, "decoder_layers");
    config.num_encoder_attn_heads = positive(fields, "encoder_attention_heads");
    config.num_decoder_attn_heads = positive(fields, "decoder_attention_heads");
    config.ffn_inner_dim = positive(fields, "encoder_ffn_dim");
    if (fields.has("decoder_ffn_dim") && fields.required_int("decoder_ffn_dim") != config.ffn_inner_dim)
        fields.fail("decoder_ffn_dim", "differs from encoder_ffn_dim (" + std::to_string(config.ffn_inner_dim) +
                                           "); the transformer family needs one feed-forward width");
    config.max_seq_len = positive(fields, "max_position_embeddings");
    config.vocab_info = nllb_layout(positive(fields, "vocab_size"));
    if (config.vocab_info.size < 4)
        fields.fail("vocab_size", "is " + std::to_string(config.vocab_info.size) + ", fewer than the four special tokens");
    config.norm_order = "pre";
    config.shared_embeddings = true;
    config.tied_final_proj = true;
    if (const std::optional<double> dropout = fields.optional_double("dropout"))
        config.dropout_p = *dropout;
    return config;
}

boost::json::object hf_config_from_transformer(const TransformerConfig& config)
{
    const auto refuse = [](const std::string& why) {
        throw InvalidArgumentError("The transformer config " + why + ", which M2M100ForConditionalGeneration cannot hold, so it cannot be " +
                                   "exported as 'hf'.");
    };
    if (!config.pre_norm())
        refuse("is post-norm");
    if (!config.shared_embeddings || !config.tied_final_proj || config.source_vocab_size)
        refuse("has embeddings that are not one shared, tied table");
    const VocabularyInfo& v = config.vocab_info;
    if (v.pad_idx != 0 || v.unk_idx != 1 || v.bos_idx != 2 || v.eos_idx != 3)
        refuse("has special tokens other than NLLB's (pad 0, unk 1, bos 2, eos 3)");
    return boost::json::object{
        {"architectures", boost::json::array{"M2M100ForConditionalGeneration"}},
        {"model_type", "m2m_100"},
        {"d_model", config.model_dim},
        {"encoder_layers", config.num_encoder_layers},
        {"decoder_layers", config.num_decoder_layers},
        {"encoder_attention_heads", config.num_encoder_attn_heads},
        {"decoder_attention_heads", config.num_decoder_attn_heads},
        {"encoder_ffn_dim", config.ffn_inner_dim},
        {"decoder_ffn_dim", config.ffn_inner_dim},
        {"vocab_size", v.size},
        {"max_position_embeddings", config.max_seq_len},
        {"scale_embedding", true},
        {"activation_function", "relu"},
        {"dropout", config.dropout_p},
        {"pad_token_id", hf_pad},
        {"bos_token_id", hf_bos},
        {"eos_token_id", hf_eos},
        {"decoder_start_token_id", hf_eos},
        {"tie_word_embeddings", true},
        {"is_encoder_decoder", true},
    };
}

}  // namespace fairseq2::models::transformer
