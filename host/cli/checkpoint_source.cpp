#include "checkpoint_source.hpp"

#include "fairseq2/config/overrides.hpp"
#include "fairseq2/error.hpp"
#include "fairseq2/logging.hpp"

namespace fairseq2::cli {

namespace {

boost::json::value apply_sets(const models::ModelHandler& handler, boost::json::value config, const std::vector<std::string>& sets)
{
    for (const auto& text : sets) {
        auto [key, value] = config::parse_assignment(text);
        config::set_path(config, key, std::move(value));
    }
    return handler.check_config(config);
}

struct DetectedFamily {
    std::string name;
    boost::json::value config;
};

// The family whose handler derives a config from the files beside `path`,
// with that config.
DetectedFamily detect_family(RuntimeContext& context, const std::filesystem::path& path)
{
    auto handlers = context.get_registry<models::ModelHandler>();
    std::vector<DetectedFamily> recognised;
    std::string errors;
    for (const auto& name : handlers.keys()) {
        try {
            if (auto config = handlers.get(name)->config_from_checkpoint(path))
                recognised.push_back({name, std::move(*config)});
        } catch (const Error& error) {
            errors += std::string(" ") + error.what();
        }
    }
    if (recognised.size() == 1)
        return std::move(recognised.front());
    const std::string dir = checkpoint::checkpoint_directory(path).string();
    if (recognised.size() > 1) {
        std::string names;
        for (const auto& family : recognised)
            names += (names.empty() ? "'" : ", '") + family.name + "'";
        throw LookupError("The files beside the checkpoint '" + path.string() + "' describe a model of several families (" + names +
                          "); give one with --family.");
    }
    throw LookupError("Cannot tell the model family of the checkpoint '" + path.string() +
                      "': it records none, and no plugin recognises a config.json or params.json in '" + dir + "'; give it with --family." +
                      errors);
}

}  // namespace

CheckpointSource open_checkpoint(RuntimeContext& context, models::ModelHub& hub, const std::filesystem::path& path,
                                 const std::string& family, const std::string& arch, const std::vector<std::string>& sets,
                                 const checkpoint::LoadOptions& options)
{
    CheckpointSource source;
    // A family and an arch need nothing from the checkpoint: check the config
    // before reading a large file.
    if (!family.empty() && !arch.empty()) {
        source.handler = hub.get_handler(family);
        source.config = apply_sets(*source.handler, source.handler->get_config(arch), sets);
        source.checkpoint = checkpoint::load_checkpoint(path, options);
        return source;
    }

    source.checkpoint = checkpoint::load_checkpoint(path, options);
    const std::optional<checkpoint::ModelMetadata>& recorded = source.checkpoint.model;
    std::string name = family;
    std::optional<boost::json::value> derived;
    if (name.empty() && recorded) {
        name = recorded->family;
    } else if (name.empty()) {
        DetectedFamily detected = detect_family(context, path);
        name = std::move(detected.name);
        derived = std::move(detected.config);
    }
    source.handler = hub.get_handler(name);

    boost::json::value base;
    if (!arch.empty()) {
        base = source.handler->get_config(arch);
    } else if (recorded && recorded->family == name) {
        log().info("Using the {} config recorded in '{}'.", name, path.string());
        base = recorded->config;
    } else {
        if (!derived)
            derived = source.handler->config_from_checkpoint(path);
        if (derived) {
            base = std::move(*derived);
        } else {
            log().info("'{}' records no config and has no config file beside it; using the {} arch '{}'.", path.string(), name,
                       source.handler->default_arch());
            base = source.handler->get_config(source.handler->default_arch());
        }
    }
    source.config = apply_sets(*source.handler, std::move(base), sets);
    return source;
}

}  // namespace fairseq2::cli
