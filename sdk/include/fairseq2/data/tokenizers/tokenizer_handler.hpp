#pragma once

// Tokenizer families, registered like model families: a plugin's
// setup_fairseq2_extension() adds its TokenizerHandler next to its
// ModelHandler, and TokenizerHub finds tokenizers by asset card or path.

#include <filesystem>
#include <memory>
#include <string>

#include <boost/json/object.hpp>

#include "fairseq2/data/tokenizers/tokenizer.hpp"
#include "fairseq2/data/tokenizers/tokenizer_loaders.hpp"
#include "fairseq2/runtime/lifetime.hpp"

namespace fairseq2 {
class RuntimeContext;
}

namespace fairseq2::assets {
class AssetCard;
class AssetStore;
}  // namespace fairseq2::assets

namespace fairseq2::tokenizers {

class FAIRSEQ2_API TokenizerHandler : public LifetimeBound {
public:
    static constexpr const char* registry_kind = "tokenizer handler";

    ~TokenizerHandler() override;

    // The family name the handler is registered under ("llama").
    virtual std::string family() const = 0;

    // The family's tokenizer config: what a card's `tokenizer_config`
    // overrides ({"use_eot": false, ...}); every key it may set is here.
    virtual boost::json::object default_config() const;

    // The tokenizer at `path` (a file, or a directory holding one) with
    // `config` (default_config() with a card's overrides merged). A key the
    // family does not know is a ConfigError naming it; problems with the
    // files are a TokenizerError naming the file.
    std::shared_ptr<Tokenizer> load(const std::filesystem::path& path, const boost::json::object& config) const;
    std::shared_ptr<Tokenizer> load(const std::filesystem::path& path) const { return load(path, default_config()); }

protected:
    // The boolean `key` of `config`, false when absent; anything but true
    // or false is a ConfigError naming the key and the family.
    bool config_flag(const boost::json::object& config, const char* key) const;

    // `file` is find_tokenizer_file(path), `format` its detected format.
    virtual std::shared_ptr<Tokenizer> do_load(const std::filesystem::path& file, TokenizerFormat format,
                                               const boost::json::object& config) const = 0;
};

// Where a tokenizer came from, for messages and the CLI.
struct LoadedTokenizer {
    std::shared_ptr<Tokenizer> tokenizer;
    std::string family;  // empty: the files alone, no family defaults
    std::filesystem::path file;
};

class FAIRSEQ2_API TokenizerHub {
public:
    // Handlers come from `context`; cards from `store` (see ModelHub).
    explicit TokenizerHub(RuntimeContext& context, std::shared_ptr<const assets::AssetStore> store = nullptr);
    ~TokenizerHub();

    // Throws LookupError: "'F' is not a known tokenizer family. Known families: ...".
    std::shared_ptr<TokenizerHandler> get_handler(const std::string& family) const;

    // The tokenizer of a card: its `tokenizer` path (relative to the card
    // file), else the tokenizer files of its checkpoint directory; of the
    // card's `tokenizer_family`, else its `model_family`; with its
    // `tokenizer_config` merged over the family's default config. Throws
    // AssetError naming the card when it names no tokenizer and its
    // checkpoint has none, LookupError for an unknown family.
    LoadedTokenizer load(const assets::AssetCard& card) const;
    LoadedTokenizer load(const std::string& name) const;

    // The tokenizer at `path` (a file or a directory) of `family`; with an
    // empty family the files alone decide (no family defaults).
    LoadedTokenizer load_from_path(const std::filesystem::path& path, const std::string& family = {},
                                   const boost::json::object& config_overrides = {}) const;

private:
    const assets::AssetStore& store() const;

    RuntimeContext& context_;
    mutable std::shared_ptr<const assets::AssetStore> store_;
};

}  // namespace fairseq2::tokenizers
