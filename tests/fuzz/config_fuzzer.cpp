// libFuzzer target for the config derivation of every bundled family from
// the files beside a checkpoint: the bytes are parsed as JSON (as
// checkpoint::read_json_file does) and handed to the Hugging Face config.json
// readers of llama, qwen, mistral and transformer (M2M100), to llama's Meta
// params.json reader, and, as an object, to transformer's reader of fairseq's
// hyperparameters (a checkpoint's "args").
// Each either throws ConfigError naming the file, or returns a config whose
// validate() either passes or throws ConfigError. No arithmetic on the
// fields may overflow (UBSan traps).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "../../plugins/llama/config_files.hpp"
#include "../../plugins/mistral/config_files.hpp"
#include "../../plugins/qwen/config_files.hpp"
#include "../../plugins/transformer/fairseq_config.hpp"
#include "../../plugins/transformer/hf_config.hpp"
#include "fairseq2/error.hpp"
#include "fuzz_support.hpp"

namespace {

template <typename Derive>
void check(Derive derive, const boost::json::value& json)
{
    const std::string file = "fuzz/config.json";
    try {
        auto config = derive(json, file);
        config.validate();
    } catch (const fairseq2::ConfigError& e) {
        fairseq2::fuzz::require(std::string(e.what()).find(file) != std::string::npos ||
                                std::string(e.what()).find("config") != std::string::npos);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    namespace models = fairseq2::models;
    boost::system::error_code error;
    boost::json::value json = boost::json::parse(std::string_view(reinterpret_cast<const char*>(data), size), error);
    if (error)
        return 0;
    check(models::llama::llama_config_from_hf, json);
    check(models::llama::llama_config_from_meta, json);
    check(models::qwen::qwen_config_from_hf, json);
    check(models::mistral::mistral_config_from_hf, json);
    check(models::transformer::transformer_config_from_hf, json);
    if (json.is_object()) {
        // Embedding tables of 64 and 48 rows, as a checkpoint's would give.
        const auto fairseq = [](const boost::json::value& args, const std::string& file) {
            return models::transformer::transformer_config_from_fairseq(args.as_object(), 48, 64, file);
        };
        check(fairseq, json);
        (void)models::transformer::fairseq_model_args(json.as_object());
    }
    return 0;
}
