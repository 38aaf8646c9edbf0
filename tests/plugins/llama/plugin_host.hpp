#pragma once

// One host per test process with the built plugins loaded (only those of
// FAIRSEQ2_TEST_PLUGIN_DIR: no FAIRSEQ2_PLUGIN_PATH, no default folder), its
// llama handler, and llama configs made small.

#include <cstdint>
#include <memory>
#include <stdexcept>

#include <boost/json.hpp>

#include "fairseq2/config/overrides.hpp"
#include "fairseq2/host/host.hpp"
#include "fairseq2/models/model_handler.hpp"

namespace fairseq2::test {

inline std::shared_ptr<fairseq2::host::Host> plugin_host()
{
    static std::shared_ptr<fairseq2::host::Host> host = [] {
        auto h = std::make_shared<fairseq2::host::Host>(fairseq2::host::HostOptions{
            .plugin_dirs = {FAIRSEQ2_TEST_PLUGIN_DIR}, .use_plugin_path_env = false, .use_default_plugin_dir = false});
        h->load_plugins();
        return h;
    }();
    return host;
}

// The llama family's handler; throws when the plugin did not load.
inline std::shared_ptr<fairseq2::models::ModelHandler> llama_handler()
{
    auto handler = plugin_host()->context().get_registry<fairseq2::models::ModelHandler>().get("llama");
    if (!handler)
        throw std::runtime_error("the llama plugin did not load from " FAIRSEQ2_TEST_PLUGIN_DIR);
    return handler;
}

struct LlamaShape {
    std::int64_t model_dim = 64;
    std::int64_t num_layers = 2;
    std::int64_t num_attn_heads = 8;
    std::int64_t num_key_value_heads = 2;
    std::int64_t ffn_inner_dim = 96;
    std::int64_t ffn_inner_dim_to_multiple = 32;
    std::int64_t vocab_size = 128;
    std::int64_t max_seq_len = 64;
};

// llama3_8b's config with `shape` (and bos 1, eos 2, inside any vocabulary),
// not yet checked: callers may change more before check_config().
inline boost::json::value small_llama_config(const LlamaShape& shape)
{
    boost::json::value config = llama_handler()->get_config("llama3_8b");
    using fairseq2::config::set_path;
    set_path(config, "model_dim", shape.model_dim);
    set_path(config, "num_layers", shape.num_layers);
    set_path(config, "num_attn_heads", shape.num_attn_heads);
    set_path(config, "num_key_value_heads", shape.num_key_value_heads);
    set_path(config, "ffn_inner_dim", shape.ffn_inner_dim);
    set_path(config, "ffn_inner_dim_to_multiple", shape.ffn_inner_dim_to_multiple);
    set_path(config, "vocab_info.size", shape.vocab_size);
    set_path(config, "vocab_info.bos_idx", 1);
    set_path(config, "vocab_info.eos_idx", 2);
    set_path(config, "max_seq_len", shape.max_seq_len);
    return config;
}

}  // namespace fairseq2::test
