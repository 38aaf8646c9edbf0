#pragma once

// The model hub: models by name. A name is an asset card giving the family,
// the arch, config overrides and the checkpoint; the hub finds the family's
// handler, builds the config (the arch preset, then the `model_config` of
// every card of the base chain from the root down, then the caller's
// overrides, checked strictly once at the end) and loads the checkpoint.

#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/value.hpp>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "fairseq2/assets/asset_card.hpp"
#include "fairseq2/assets/asset_store.hpp"
#include "fairseq2/models/model_handler.hpp"

namespace fairseq2 {
class RuntimeContext;
}

namespace fairseq2::models {

// Overrides a caller applies after those of the cards, in this order.
struct ConfigOverrides {
    // Merged like a card's `model_config` (config::merge_overrides): plain
    // nested keys or the _set_/_add_/_del_ directives; null for none.
    boost::json::value tree;
    // "a.b=VALUE" assignments (the CLI's --set), applied with config::set_path.
    std::vector<std::string> assignments;
};

// A checkpoint opened by path, without an asset card: read once, with the
// family and config it loads as.
struct OpenedCheckpoint {
    std::shared_ptr<ModelHandler> handler;
    // Checked, with every override applied.
    boost::json::value config;
    checkpoint::LoadedCheckpoint checkpoint;
};

class FAIRSEQ2_API ModelHub {
public:
    // Handlers come from `context`; cards from `store`, or when it is null
    // from AssetStore::load_default(context), read the first time a card is
    // needed.
    explicit ModelHub(RuntimeContext& context, std::shared_ptr<const assets::AssetStore> store = nullptr);
    ModelHub(const ModelHub&) = delete;
    ModelHub& operator=(const ModelHub&) = delete;
    ~ModelHub();

    const assets::AssetStore& asset_store() const;

    // Throws LookupError: "'FAMILY' is not a known model family. Known families: ...".
    std::shared_ptr<ModelHandler> get_handler(const std::string& family) const;

    // The handler of the card's `model_family`; throws LookupError:
    // "The 'NAME' model has an unknown family 'FAMILY'. Known families: ...".
    std::shared_ptr<ModelHandler> get_handler(const assets::AssetCard& card) const;

    // Throws LookupError: "'NAME' is not a known model." (and AssetError for
    // a broken base chain).
    std::shared_ptr<const assets::AssetCard> get_card(const std::string& name) const;

    // The card's `model_arch`, else the family's default arch; throws
    // LookupError: "The 'FAMILY' family of the 'NAME' model does not have an
    // architecture named 'ARCH'. Known architectures: ...".
    std::string get_arch(const assets::AssetCard& card) const;

    // The model's config in canonical form. A card override that does not fit
    // throws ConfigError naming the card, its file and the field path.
    boost::json::value load_config(const std::string& name, const ConfigOverrides& overrides = {}) const;
    boost::json::value load_config(const assets::AssetCard& card, const ConfigOverrides& overrides = {}) const;

    // The preset of `arch` (the family's default when empty) with `overrides`.
    boost::json::value create_config(const std::string& family, const std::string& arch, const ConfigOverrides& overrides = {}) const;

    // The card's `checkpoint` (see AssetCard::path_field), checked to exist;
    // throws CheckpointError "The 'NAME' model cannot be found at the 'PATH'
    // path." when it does not, and AssetError when the card has none.
    std::filesystem::path checkpoint_path(const assets::AssetCard& card) const;

    // The model of a card with its checkpoint loaded, in `dtype`; without
    // one, in the checkpoint's dtype (see ModelHandler::load_from_path).
    std::shared_ptr<torch::nn::Module> load_model(const std::string& name, c10::Device device = c10::kCPU,
                                                  std::optional<c10::ScalarType> dtype = std::nullopt,
                                                  const ConfigOverrides& overrides = {}) const;
    std::shared_ptr<torch::nn::Module> load_model(const assets::AssetCard& card, c10::Device device = c10::kCPU,
                                                  std::optional<c10::ScalarType> dtype = std::nullopt,
                                                  const ConfigOverrides& overrides = {}) const;

    // The family of the checkpoint at `path` (a file or a directory): the one
    // a checkpoint written by this SDK records, else the one handler whose
    // recognizes_checkpoint() claims it (asked with the config.json beside
    // it and, when `checkpoint` is given, its tensors). Throws LookupError
    // naming both families when two claim it, and saying what was looked at
    // when none does.
    std::string detect_family(const std::filesystem::path& path, const checkpoint::LoadedCheckpoint* checkpoint = nullptr) const;

    // Reads the checkpoint at `path` and resolves what it is:
    //   family: `family` when given, else detect_family();
    //   config: the preset of `arch` when given; else the config the
    //     checkpoint records; else the one the handler derives from the files
    //     beside it (config.json, params.json); else the family's default
    //     arch; then `overrides`.
    // With a family and an arch the config is checked before the file is read.
    OpenedCheckpoint open_checkpoint(const std::filesystem::path& path, const std::string& family = {}, const std::string& arch = {},
                                     const ConfigOverrides& overrides = {}, const checkpoint::LoadOptions& options = {}) const;

    // open_checkpoint(path, family) loaded in `dtype` (the checkpoint's own
    // when none): any checkpoint a registered family recognises, with the
    // detection the CLI has.
    std::shared_ptr<torch::nn::Module> load_model_from_path(const std::filesystem::path& path, c10::Device device = c10::kCPU,
                                                            std::optional<c10::ScalarType> dtype = std::nullopt,
                                                            const ConfigOverrides& overrides = {}, const std::string& family = {},
                                                            const checkpoint::LoadOptions& options = {}) const;

    // A model of `family` and `arch` (the default when empty) with random weights.
    std::shared_ptr<torch::nn::Module> create_model(const std::string& family, const std::string& arch,
                                                    const ConfigOverrides& overrides = {}, c10::Device device = c10::kCPU,
                                                    c10::ScalarType dtype = c10::kFloat) const;

private:
    RuntimeContext& context_;
    mutable std::once_flag store_once_;
    mutable std::shared_ptr<const assets::AssetStore> store_;
};

}  // namespace fairseq2::models
