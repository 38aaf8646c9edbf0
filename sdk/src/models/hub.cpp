#include "fairseq2/models/hub.hpp"

#include <algorithm>
#include <cctype>

#include <boost/json.hpp>
#include <torch/nn/module.h>

#include "fairseq2/assets/asset_directories.hpp"
#include "fairseq2/assets/asset_error.hpp"
#include "fairseq2/config/json_reflect.hpp"
#include "fairseq2/config/overrides.hpp"
#include "fairseq2/error.hpp"
#include "fairseq2/logging.hpp"
#include "fairseq2/models/hugging_face.hpp"
#include "fairseq2/runtime/registry.hpp"
#include "fairseq2/runtime/runtime_context.hpp"
#include "../quoted_list.hpp"

namespace fairseq2::models {

namespace {

// "The config has ..." -> "the config has ..." to continue a sentence.
std::string continue_sentence(std::string message)
{
    if (message.size() > 1 && std::isupper(static_cast<unsigned char>(message[0])) &&
        !std::isupper(static_cast<unsigned char>(message[1])))
        message[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(message[0])));
    return message;
}

// One set of overrides of a config, in the order they apply.
struct OverrideStep {
    // Names the source in messages; empty for the caller's overrides, whose
    // errors read as they are.
    std::string description;
    const boost::json::value* tree = nullptr;
    const std::vector<std::string>* assignments = nullptr;
};

void apply_step(boost::json::value& config, const OverrideStep& step)
{
    try {
        if (step.tree != nullptr && !step.tree->is_null())
            config::merge_overrides(config, *step.tree);
        if (step.assignments != nullptr) {
            for (const auto& text : *step.assignments) {
                auto [key, value] = config::parse_assignment(text);
                config::set_path(config, key, std::move(value));
            }
        }
    } catch (const ConfigError& error) {
        if (step.description.empty())
            throw;
        throw ConfigError(step.description + " are invalid: " + continue_sentence(error.what()));
    }
}

// Applies every step to `preset` and checks the result. When the check
// fails, the message names the first step after which the config fails the
// same way (the step that introduced the problem).
boost::json::value build_config(const ModelHandler& handler, const boost::json::value& preset, const std::vector<OverrideStep>& steps)
{
    boost::json::value config = preset;
    for (const auto& step : steps)
        apply_step(config, step);
    try {
        return handler.check_config(config);
    } catch (const ConfigError& final_error) {
        const std::string message = final_error.what();
        boost::json::value replay = preset;
        for (const auto& step : steps) {
            apply_step(replay, step);
            try {
                handler.check_config(replay);
            } catch (const ConfigError& error) {
                if (message == error.what()) {
                    if (step.description.empty())
                        throw;
                    throw ConfigError(step.description + " are invalid: " + continue_sentence(message));
                }
            }
        }
        throw;
    }
}

}  // namespace

ModelHub::ModelHub(RuntimeContext& context, std::shared_ptr<const assets::AssetStore> store)
    : context_{context}, store_{std::move(store)}
{
}

ModelHub::~ModelHub() = default;

const assets::AssetStore& ModelHub::asset_store() const
{
    std::call_once(store_once_, [this] {
        if (!store_)
            store_ = assets::AssetStore::load_default(context_);
    });
    return *store_;
}

std::shared_ptr<ModelHandler> ModelHub::get_handler(const std::string& family) const
{
    auto handlers = context_.get_registry<ModelHandler>();
    if (!handlers.contains(family)) {
        auto known = handlers.keys();
        throw LookupError("'" + family + "' is not a known model family. Known families: " +
                          (known.empty() ? std::string("none (no plugin loaded)") : fairseq2::detail::quoted_list(known)) + ".");
    }
    return handlers.get(family);
}

std::shared_ptr<ModelHandler> ModelHub::get_handler(const assets::AssetCard& card) const
{
    const std::string family = card.string_field("model_family");
    auto handlers = context_.get_registry<ModelHandler>();
    if (!handlers.contains(family)) {
        auto known = handlers.keys();
        throw LookupError("The '" + card.name() + "' model has an unknown family '" + family + "'. Known families: " +
                          (known.empty() ? std::string("none (no plugin loaded)") : fairseq2::detail::quoted_list(known)) + ".");
    }
    return handlers.get(family);
}

std::shared_ptr<const assets::AssetCard> ModelHub::get_card(const std::string& name) const
{
    try {
        return asset_store().retrieve_card(name);
    } catch (const assets::AssetCardNotFoundError& error) {
        if (error.name() != name)
            throw;
        std::string message = error.what();
        const std::string generic = "'" + name + "' is not a known asset card";
        if (message.rfind(generic, 0) == 0)
            message = "'" + name + "' is not a known model" + message.substr(generic.size());
        throw LookupError(message);
    }
}

std::string ModelHub::get_arch(const assets::AssetCard& card) const
{
    auto handler = get_handler(card);
    const std::string arch = card.optional_string_field("model_arch").value_or(handler->default_arch());
    const auto archs = handler->archs();
    if (std::find(archs.begin(), archs.end(), arch) == archs.end())
        throw LookupError("The '" + handler->family() + "' family of the '" + card.name() + "' model does not have an architecture named '" +
                          arch + "'. Known architectures: " + fairseq2::detail::quoted_list(archs) + ".");
    return arch;
}

boost::json::value ModelHub::load_config(const std::string& name, const ConfigOverrides& overrides) const
{
    return load_config(*get_card(name), overrides);
}

boost::json::value ModelHub::load_config(const assets::AssetCard& card, const ConfigOverrides& overrides) const
{
    auto handler = get_handler(card);
    const std::string arch = get_arch(card);

    std::vector<OverrideStep> steps;
    auto chain = card.chain();
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
        const auto& layers = (*it)->layers();
        for (auto layer = layers.rbegin(); layer != layers.rend(); ++layer) {
            const boost::json::value* value = layer->data->fields.if_contains("model_config");
            if (value == nullptr || value->is_null())
                continue;
            const std::string where = "'" + layer->data->name + "' asset card (" + layer->data->location() + ")";
            if (!value->is_object())
                throw assets::AssetError("The field 'model_config' of the " + where + " must be a mapping of config overrides, but is " +
                                         config::detail::describe_value(*value) + ".");
            steps.push_back(OverrideStep{"The 'model_config' overrides of the " + where, value, nullptr});
        }
    }
    steps.push_back(OverrideStep{"", &overrides.tree, &overrides.assignments});
    return build_config(*handler, handler->get_config(arch), steps);
}

boost::json::value ModelHub::create_config(const std::string& family, const std::string& arch, const ConfigOverrides& overrides) const
{
    auto handler = get_handler(family);
    boost::json::value preset = handler->get_config(arch.empty() ? handler->default_arch() : arch);
    return build_config(*handler, preset, {OverrideStep{"", &overrides.tree, &overrides.assignments}});
}

std::filesystem::path ModelHub::checkpoint_path(const assets::AssetCard& card) const
{
    if (auto shards = card.find_field("num_shards")) {
        const boost::json::value& value = *shards.value;
        if (!value.is_int64() || value.get_int64() < 1)
            throw assets::AssetError("The field 'num_shards' of the " + assets::AssetCard::describe(shards) +
                                     " must be a positive integer, but is " + config::detail::describe_value(value) + ".");
        if (value.get_int64() > 1)
            throw CheckpointError("The '" + card.name() + "' model has " + std::to_string(value.get_int64()) +
                                  " checkpoint shards, but this program runs with a tensor parallel size of 1; the number of shards must "
                                  "match it.");
    }
    if (!card.find_field("checkpoint"))
        throw assets::AssetError("The '" + card.name() + "' asset card does not have a field named 'checkpoint'; set it in a '" + card.name() +
                                 std::string(assets::user_overlay_suffix) + "' card in the user asset folder '" +
                                 assets::user_asset_dir().string() + "'.");
    // With a single shard, "{shard_idx}" in the path is 0.
    const std::string written = card.path_field("checkpoint").string();
    const std::string_view placeholder = "{shard_idx}";
    std::string path;
    for (std::size_t start = 0;;) {
        const std::size_t at = written.find(placeholder, start);
        path.append(written, start, at == std::string::npos ? std::string::npos : at - start);
        if (at == std::string::npos)
            break;
        path += '0';
        start = at + placeholder.size();
    }
    std::error_code error;
    if (!std::filesystem::exists(path, error))
        throw CheckpointError("The '" + card.name() + "' model cannot be found at the '" + path + "' path.");
    return path;
}

std::shared_ptr<torch::nn::Module> ModelHub::load_model(const std::string& name, c10::Device device, std::optional<c10::ScalarType> dtype,
                                                        const ConfigOverrides& overrides) const
{
    return load_model(*get_card(name), device, dtype, overrides);
}

std::shared_ptr<torch::nn::Module> ModelHub::load_model(const assets::AssetCard& card, c10::Device device, std::optional<c10::ScalarType> dtype,
                                                        const ConfigOverrides& overrides) const
{
    auto handler = get_handler(card);
    boost::json::value config = load_config(card, overrides);
    return handler->load_from_path(checkpoint_path(card), config, device, dtype);
}

std::shared_ptr<torch::nn::Module> ModelHub::create_model(const std::string& family, const std::string& arch,
                                                          const ConfigOverrides& overrides, c10::Device device, c10::ScalarType dtype) const
{
    return get_handler(family)->create(create_config(family, arch, overrides), device, dtype);
}

std::string ModelHub::detect_family(const std::filesystem::path& path, const checkpoint::LoadedCheckpoint* checkpoint) const
{
    if (checkpoint != nullptr && checkpoint->model)
        return checkpoint->model->family;
    CheckpointDescription description;
    description.path = path;
    description.directory = checkpoint::checkpoint_directory(path);
    if (std::optional<hf::Config> config = hf::read_config(path)) {
        description.hf_config = std::move(config->json);
        description.hf_model_type = std::move(config->model_type);
    }
    if (checkpoint != nullptr) {
        description.state_dict = &checkpoint->state_dict;
        description.extras = &checkpoint->extras;
    }

    auto handlers = context_.get_registry<ModelHandler>();
    std::vector<std::string> claimed;
    for (const auto& name : handlers.keys())
        if (handlers.get(name)->recognizes_checkpoint(description))
            claimed.push_back(name);
    if (claimed.size() == 1)
        return claimed.front();
    if (claimed.size() > 1)
        throw LookupError("The checkpoint '" + path.string() + "' is claimed by several model families (" + fairseq2::detail::quoted_list(claimed) +
                          "); give one with --family.");
    std::string seen = description.hf_model_type.empty() ? "no config.json with a model_type"
                                                          : "a config.json of model_type '" + description.hf_model_type + "'";
    throw LookupError("Cannot tell the model family of the checkpoint '" + path.string() + "': it records none, '" +
                      description.directory.string() + "' has " + seen + ", and no registered family (" + fairseq2::detail::quoted_list(handlers.keys()) +
                      ") recognises it; give the family with --family.");
}

OpenedCheckpoint ModelHub::open_checkpoint(const std::filesystem::path& path, const std::string& family, const std::string& arch,
                                           const ConfigOverrides& overrides, const checkpoint::LoadOptions& options) const
{
    const OverrideStep caller{"", &overrides.tree, &overrides.assignments};
    OpenedCheckpoint opened;
    // A family and an arch need nothing from the checkpoint: check the config
    // before reading a large file.
    if (!family.empty() && !arch.empty()) {
        opened.handler = get_handler(family);
        opened.config = build_config(*opened.handler, opened.handler->get_config(arch), {caller});
        opened.checkpoint = checkpoint::load_checkpoint(path, options);
        return opened;
    }

    opened.checkpoint = checkpoint::load_checkpoint(path, options);
    const std::string name = !family.empty() ? family : detect_family(path, &opened.checkpoint);
    opened.handler = get_handler(name);
    const std::optional<checkpoint::ModelMetadata>& recorded = opened.checkpoint.model;

    boost::json::value base;
    if (!arch.empty()) {
        base = opened.handler->get_config(arch);
    } else if (recorded && recorded->family == name) {
        log().info("Using the {} config recorded in '{}'.", name, path.string());
        base = recorded->config;
    } else if (std::optional<boost::json::value> derived = opened.handler->config_from_loaded(opened.checkpoint)) {
        base = std::move(*derived);
    } else {
        log().info("'{}' records no config and has no config file beside it; using the {} arch '{}'.", path.string(), name,
                   opened.handler->default_arch());
        base = opened.handler->get_config(opened.handler->default_arch());
    }
    opened.config = build_config(*opened.handler, std::move(base), {caller});
    return opened;
}

std::shared_ptr<torch::nn::Module> ModelHub::load_model_from_path(const std::filesystem::path& path, c10::Device device,
                                                                  std::optional<c10::ScalarType> dtype, const ConfigOverrides& overrides,
                                                                  const std::string& family, const checkpoint::LoadOptions& options) const
{
    OpenedCheckpoint opened = open_checkpoint(path, family, {}, overrides, options);
    return opened.handler->load_from_checkpoint(std::move(opened.checkpoint), opened.config, device, dtype);
}

}  // namespace fairseq2::models
