// libFuzzer target for the asset card loader: the same bytes are parsed as
// a YAML card file and as a JSON card file. Each either throws AssetError
// (naming the file) or returns cards that each have a name.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fairseq2/assets/asset_error.hpp"
#include "fairseq2/assets/card_loader.hpp"
#include "fuzz_support.hpp"

namespace {

template <typename Parse>
void check(Parse parse, std::string_view text, const char* file)
{
    try {
        for (const auto& card : parse(text, file, false))
            fairseq2::fuzz::require(!card.name.empty());
    } catch (const fairseq2::assets::AssetError& e) {
        fairseq2::fuzz::require(std::string(e.what()).find(file) != std::string::npos);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    using namespace fairseq2::assets;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    check(parse_yaml_cards, text, "fuzz.yaml");
    check(parse_json_cards, text, "fuzz.json");
    return 0;
}
