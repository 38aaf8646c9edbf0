// libFuzzer target for the config derivation of every bundled family from
// the files beside a checkpoint: the bytes are parsed as JSON (as
// checkpoint::read_json_file does) and handed to the Hugging Face config.json
// readers of llama, qwen and mistral and to llama's Meta params.json reader.
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
    return 0;
}
