#include "fairseq2/data/tokenizers/tokenizer_handler.hpp"

#include <boost/json.hpp>

#include "fairseq2/assets/asset_card.hpp"
#include "fairseq2/assets/asset_error.hpp"
#include "fairseq2/assets/asset_store.hpp"
#include "fairseq2/config/overrides.hpp"
#include "fairseq2/runtime/registry.hpp"
#include "fairseq2/runtime/runtime_context.hpp"
#include "../../quoted_list.hpp"

namespace fairseq2::tokenizers {

TokenizerHandler::~TokenizerHandler() = default;

boost::json::object TokenizerHandler::default_config() const
{
    return {};
}

bool TokenizerHandler::config_flag(const boost::json::object& config, const char* key) const
{
    const boost::json::value* value = config.if_contains(key);
    if (value == nullptr)
        return false;
    if (!value->is_bool())
        throw ConfigError(std::string("The '") + key + "' key of the " + family() + " tokenizer config must be true or false, but is " +
                          boost::json::serialize(*value) + ".");
    return value->get_bool();
}

std::shared_ptr<Tokenizer> TokenizerHandler::load(const std::filesystem::path& path, const boost::json::object& config) const
{
    boost::json::object defaults = default_config();
    for (const auto& [key, value] : config)
        if (!defaults.contains(key)) {
            std::vector<std::string> known;
            for (const auto& [k, v] : defaults)
                known.emplace_back(k);
            throw ConfigError("The tokenizer config of the '" + family() + "' family has no key '" + std::string(key) + "'. Known keys: " +
                              (known.empty() ? std::string("none") : fairseq2::detail::quoted_list(known)) + ".");
        }
    std::filesystem::path file = find_tokenizer_file(path);
    return bind_lifetime(do_load(file, detect_tokenizer_format(file), config), lifetime_token());
}

TokenizerHub::TokenizerHub(RuntimeContext& context, std::shared_ptr<const assets::AssetStore> store)
    : context_{context}, store_{std::move(store)}
{
}

TokenizerHub::~TokenizerHub() = default;

const assets::AssetStore& TokenizerHub::store() const
{
    if (!store_)
        store_ = assets::AssetStore::load_default(context_);
    return *store_;
}

std::shared_ptr<TokenizerHandler> TokenizerHub::get_handler(const std::string& family) const
{
    auto handlers = context_.get_registry<TokenizerHandler>();
    if (!handlers.contains(family)) {
        auto known = handlers.keys();
        throw LookupError("'" + family + "' is not a known tokenizer family. Known families: " +
                          (known.empty() ? std::string("none (no plugin loaded)") : fairseq2::detail::quoted_list(known)) + ".");
    }
    return handlers.get(family);
}

LoadedTokenizer TokenizerHub::load(const std::string& name) const
{
    return load(*store().retrieve_card(name));
}

LoadedTokenizer TokenizerHub::load(const assets::AssetCard& card) const
{
    std::string family = card.optional_string_field("tokenizer_family").value_or("");
    if (family.empty())
        family = card.string_field("model_family");
    auto handler = get_handler(family);

    std::filesystem::path path;
    if (card.find_field("tokenizer")) {
        path = card.path_field("tokenizer");
        std::error_code ec;
        if (!std::filesystem::exists(path, ec))
            throw TokenizerError("The tokenizer of the '" + card.name() + "' asset card cannot be found at the '" + path.string() +
                                 "' path its 'tokenizer' field gives.");
    } else if (card.find_field("checkpoint")) {
        // A Hugging Face checkpoint directory carries its own tokenizer files.
        std::filesystem::path checkpoint = card.path_field("checkpoint");
        std::error_code ec;
        std::filesystem::path directory = std::filesystem::is_directory(checkpoint, ec) ? checkpoint : checkpoint.parent_path();
        if (!has_tokenizer_file(directory))
            throw assets::AssetError("The '" + card.name() + "' asset card names no tokenizer (its 'tokenizer' field) and its checkpoint folder '" +
                                     directory.string() + "' has no tokenizer.json or tokenizer.model.");
        path = directory;
    } else {
        throw assets::AssetError("The '" + card.name() + "' asset card names neither a tokenizer nor a checkpoint; set 'tokenizer' (the path of "
                                 "the tokenizer file) in a '" + card.name() + "@user' card in the user asset folder.");
    }

    boost::json::value config = handler->default_config();
    if (auto overrides = card.find_field("tokenizer_config")) {
        if (!overrides.value->is_object())
            throw assets::AssetError("The field 'tokenizer_config' of the " + assets::AssetCard::describe(overrides) +
                                     " must be a mapping of tokenizer config overrides.");
        try {
            config::merge_overrides(config, *overrides.value);
        } catch (const ConfigError& e) {
            throw ConfigError("The field 'tokenizer_config' of the " + assets::AssetCard::describe(overrides) + " does not fit the '" +
                              family + "' tokenizer config: " + e.what());
        }
    }
    std::filesystem::path file = find_tokenizer_file(path);
    return {handler->load(file, config.as_object()), family, file};
}

LoadedTokenizer TokenizerHub::load_from_path(const std::filesystem::path& path, const std::string& family,
                                             const boost::json::object& config_overrides) const
{
    std::filesystem::path file = find_tokenizer_file(path);
    if (family.empty()) {
        if (!config_overrides.empty())
            throw InvalidArgumentError("A tokenizer config needs a tokenizer family to apply to.");
        return {load_tokenizer(file), "", file};
    }
    auto handler = get_handler(family);
    // Keys the family does not know are refused by load(), naming them.
    boost::json::object config = handler->default_config();
    for (const auto& [key, value] : config_overrides)
        config[key] = value;
    return {handler->load(file, config), family, file};
}

}  // namespace fairseq2::tokenizers
