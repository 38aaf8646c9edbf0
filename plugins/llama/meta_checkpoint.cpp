#include "meta_checkpoint.hpp"

#include "fairseq2/error.hpp"
#include "fairseq2/models/hugging_face.hpp"

namespace fairseq2::models::llama {

const checkpoint::KeyMap& meta_key_map()
{
    static const checkpoint::KeyMap map{
        {R"(^layers\.([0-9]+)\.attention\.wq\.)", R"(decoder.layers.\1.self_attn.q_proj.)"},
        {R"(^layers\.([0-9]+)\.attention\.wk\.)", R"(decoder.layers.\1.self_attn.k_proj.)"},
        {R"(^layers\.([0-9]+)\.attention\.wv\.)", R"(decoder.layers.\1.self_attn.v_proj.)"},
        {R"(^layers\.([0-9]+)\.attention\.wo\.)", R"(decoder.layers.\1.self_attn.output_proj.)"},
        {R"(^layers\.([0-9]+)\.attention_norm\.)", R"(decoder.layers.\1.self_attn_layer_norm.)"},
        {R"(^layers\.([0-9]+)\.feed_forward\.w1\.)", R"(decoder.layers.\1.ffn.gate_proj.)"},
        {R"(^layers\.([0-9]+)\.feed_forward\.w2\.)", R"(decoder.layers.\1.ffn.output_proj.)"},
        {R"(^layers\.([0-9]+)\.feed_forward\.w3\.)", R"(decoder.layers.\1.ffn.inner_proj.)"},
        {R"(^layers\.([0-9]+)\.ffn_norm\.)", R"(decoder.layers.\1.ffn_layer_norm.)"},
        {R"(^norm\.)", R"(decoder.layer_norm.)"},
        {R"(^tok_embeddings\.)", R"(decoder_frontend.embed.)"},
        {R"(^output\.)", R"(final_proj.)"},
    };
    return map;
}

bool is_meta_state_dict(const checkpoint::StateDict& state_dict)
{
    return state_dict.contains("tok_embeddings.weight");
}

checkpoint::StateDict convert_meta_state_dict(checkpoint::StateDict state_dict, const LLaMAConfig& config)
{
    std::erase_if(state_dict, [](const auto& item) { return item.first.find("rope.freqs") != std::string::npos; });
    state_dict = checkpoint::convert_state_dict(std::move(state_dict), meta_key_map());
    if (!config.tied_embeddings && !state_dict.contains("final_proj.weight") && state_dict.contains("decoder_frontend.embed.weight"))
        state_dict.emplace("final_proj.weight", state_dict.at("decoder_frontend.embed.weight"));
    return state_dict;
}

LLaMAConfig llama_config_from_meta(const boost::json::value& json, const std::filesystem::path& file)
{
    hf::ConfigFields fields(json, file, "llama");
    LLaMAConfig config;
    config.model_dim = fields.required_int("dim");
    config.num_layers = fields.required_int("n_layers");
    config.num_attn_heads = fields.required_int("n_heads");
    config.num_key_value_heads = fields.optional_int("n_kv_heads").value_or(config.num_attn_heads);

    const std::int64_t vocab_size = fields.required_int("vocab_size");
    if (vocab_size <= 0)
        fields.fail("vocab_size", "is " + std::to_string(vocab_size) +
                                      ", so the vocabulary size is unknown; give it with --set vocab_info.size=N (32000 for LLaMA 1)");
    const bool llama3_vocab = vocab_size >= 128000;
    if (llama3_vocab)
        config.vocab_info = VocabularyInfo{vocab_size, std::nullopt, 128000, 128001, std::nullopt};
    else
        config.vocab_info = VocabularyInfo{vocab_size, 0, 1, 2, std::nullopt};

    // The GLU width of Meta's reference FeedForward.
    const std::int64_t multiple_of = fields.optional_int("multiple_of").value_or(256);
    if (multiple_of <= 0)
        fields.fail("multiple_of", "is " + std::to_string(multiple_of) + "; expected a positive integer");
    auto hidden = static_cast<std::int64_t>(2 * (4 * config.model_dim) / 3);
    if (auto multiplier = fields.optional_double("ffn_dim_multiplier"))
        hidden = static_cast<std::int64_t>(*multiplier * static_cast<double>(hidden));
    hidden = multiple_of * ((hidden + multiple_of - 1) / multiple_of);
    config.ffn_inner_dim = hidden;
    config.ffn_inner_dim_scale = 1.0;
    config.ffn_inner_dim_multiplier = 1.0;
    config.ffn_inner_dim_to_multiple = 1;

    config.rope_theta = fields.optional_double("rope_theta").value_or(10000.0);
    config.use_scaled_rope = fields.optional_bool("use_scaled_rope").value_or(false);
    config.rope_scaling.factor = fields.optional_double("rope_scaling_factor").value_or(8.0);
    config.max_seq_len = fields.optional_int("max_seq_len").value_or(config.use_scaled_rope ? 131072 : llama3_vocab ? 8192 : 4096);

    // Meta's reference RMSNorm default.
    config.rms_norm_eps = fields.optional_double("norm_eps").value_or(1e-5);
    return config;
}

}  // namespace fairseq2::models::llama
