// The llama configs read from config.json and params.json, on the inputs the
// config fuzzer (tests/fuzz/config_fuzzer.cpp) found: values so large that
// deriving the config overflowed (undefined behaviour) are refused with one
// ConfigError naming the file and the field.

#include <gtest/gtest.h>

#include <string>

#include <boost/json.hpp>

#include "config_files.hpp"
#include "fairseq2/error.hpp"

namespace fairseq2::models::llama {
namespace {

std::string error_of(LLaMAConfig (*derive)(const boost::json::value&, const std::filesystem::path&), const std::string& text)
{
    try {
        derive(boost::json::parse(text), "dir/params.json");
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "(no error)";
}

const std::string params = R"("dim": 4096, "n_layers": 32, "n_heads": 32, "vocab_size": 32000)";

TEST(LlamaConfigFilesTest, MetaParamsAreDerivedAsTheReferenceDoes)
{
    LLaMAConfig config = llama_config_from_meta(boost::json::parse("{" + params + R"(, "ffn_dim_multiplier": 1.3, "multiple_of": 1024})"),
                                                "params.json");
    // int(2 * 4 * 4096 / 3) = 10922, times 1.3 = 14198, rounded up to 1024s: 14336.
    EXPECT_EQ(config.ffn_inner_dim, 14336);
    EXPECT_EQ(config.max_seq_len, 4096);
}

TEST(LlamaConfigFilesTest, FuzzerFindingsAreErrors)
{
    // ffn_dim_multiplier 1.9e127: the GLU width no longer fit an integer.
    EXPECT_EQ(error_of(llama_config_from_meta, "{" + params + R"(, "ffn_dim_multiplier": 1.91742e127})"),
              "The field 'ffn_dim_multiplier' of 'dir/params.json' is 1.91742E127, but llama models support only positive factors up to "
              "1000.");
    EXPECT_EQ(error_of(llama_config_from_meta, "{" + params + R"(, "ffn_dim_multiplier": -2})"),
              "The field 'ffn_dim_multiplier' of 'dir/params.json' is -2E0, but llama models support only positive factors up to 1000.");
    // dim 2^62: 2 * (4 * dim) overflowed.
    EXPECT_EQ(error_of(llama_config_from_meta, R"({"dim": 4611686018427387904, "n_layers": 1, "n_heads": 1, "vocab_size": 8})"),
              "The field 'dim' of 'dir/params.json' is 4611686018427387904, out of range: a model config's integers are at most "
              "2147483647 in magnitude.");
    // head_dim * num_attention_heads overflowed.
    EXPECT_EQ(error_of(llama_config_from_hf, R"({"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 1,
                                               "num_attention_heads": 4, "head_dim": 4611686018427387904,
                                               "intermediate_size": 8, "vocab_size": 8})"),
              "The field 'head_dim' of 'dir/params.json' is 4611686018427387904, out of range: a model config's integers are at most "
              "2147483647 in magnitude.");
    // The largest accepted values multiply without overflow.
    LLaMAConfig config = llama_config_from_hf(boost::json::parse(R"({"model_type": "llama", "hidden_size": 2147483647,
        "num_hidden_layers": 1, "num_attention_heads": 2147483647, "head_dim": 2147483647, "intermediate_size": 8, "vocab_size": 8})"),
                                              "config.json");
    EXPECT_EQ(config.head_dim, 2147483647);
}

}  // namespace
}  // namespace fairseq2::models::llama
