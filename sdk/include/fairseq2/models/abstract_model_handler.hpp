#pragma once

// The base a family derives its handler from. It implements the JSON side of
// ModelHandler with the family's typed config (structured by reflection) and
// the checkpoint loading steps of fairseq2: read, convert keys when not in
// fairseq2 layout, build the model without initialising it, load strictly.
//
// A family provides:
//   std::shared_ptr<Model> create_model(const Config&, const at::TensorOptions&) const
//     -- the model with allocated, uninitialised parameters;
//   StateDict convert_checkpoint(StateDict, const Config&) const (optional)
//     -- foreign layouts to fairseq2 names;
//   std::optional<Config> config_from_files(const std::filesystem::path&) const (optional)
//     -- the config described by foreign files beside a checkpoint;
//   std::optional<Config> config_from_contents(const LoadedCheckpoint&) const (optional)
//     -- the config a checkpoint holds in a foreign form (fairseq's args);
//   std::vector<std::string> export_formats() const and
//   void export_model(const Model&, const Config&, const std::string&, const std::filesystem::path&) const (optional)
//     -- writing foreign layouts.

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include "fairseq2/checkpoint/checkpoint_loader.hpp"
#include "fairseq2/config/config_registry.hpp"
#include "fairseq2/config/json_reflect.hpp"
#include "fairseq2/models/model_handler.hpp"

namespace fairseq2::models {

// Throws LookupError: "The 'FAMILY' family does not have an architecture
// named 'ARCH'." listing the known ones.
[[noreturn]] FAIRSEQ2_API void throw_unknown_arch(const std::string& family, const std::string& arch,
                                                  const std::vector<std::string>& known);

template <typename Config, typename Model>
class AbstractModelHandler : public ModelHandler {
public:
    AbstractModelHandler(std::string family, std::string config_type_name, std::string default_arch,
                         ConfigRegistry<Config> configs)
        : family_{std::move(family)},
          config_type_name_{std::move(config_type_name)},
          default_arch_{std::move(default_arch)},
          configs_{configs}
    {
        if (!configs_.contains(default_arch_))
            throw Error("The default architecture '" + default_arch_ + "' of the '" + family_ +
                        "' family is not registered; register its presets before creating the handler.");
    }

    std::string family() const final { return family_; }
    std::string config_type_name() const final { return config_type_name_; }
    std::string default_arch() const final { return default_arch_; }
    std::vector<std::string> archs() const final { return configs_.names(); }

    boost::json::value get_config(const std::string& arch) const final
    {
        return config::to_json(get_typed_config(arch));
    }

    Config get_typed_config(const std::string& arch) const
    {
        if (!configs_.contains(arch))
            throw_unknown_arch(family_, arch, configs_.names());
        return configs_.get(arch);
    }

    boost::json::value check_config(const boost::json::value& config) const final
    {
        return config::to_json(config::structure_config<Config>(config));
    }

    std::optional<boost::json::value> config_from_checkpoint(const std::filesystem::path& path) const final
    {
        std::optional<Config> config = config_from_files(path);
        if (!config)
            return std::nullopt;
        return check_config(config::to_json(*config));
    }

    std::optional<boost::json::value> config_from_loaded(const checkpoint::LoadedCheckpoint& checkpoint) const final
    {
        std::optional<Config> config = config_from_contents(checkpoint);
        if (!config)
            return config_from_checkpoint(checkpoint.path);
        return check_config(config::to_json(*config));
    }

protected:
    virtual std::shared_ptr<Model> create_model(const Config& config, const at::TensorOptions& options) const = 0;

    virtual checkpoint::StateDict convert_checkpoint(checkpoint::StateDict state_dict, const Config& /*config*/) const
    {
        return state_dict;
    }

    // See ModelHandler::config_from_checkpoint; the result is validated.
    virtual std::optional<Config> config_from_files(const std::filesystem::path& /*path*/) const { return std::nullopt; }

    // The config a read checkpoint describes itself (see
    // ModelHandler::config_from_loaded); nullopt falls back to
    // config_from_files(). The result is validated.
    virtual std::optional<Config> config_from_contents(const checkpoint::LoadedCheckpoint& /*checkpoint*/) const { return std::nullopt; }

    // Writes `model` in `format`, one of export_formats().
    virtual void export_model(const Model& /*model*/, const Config& /*config*/, const std::string& format,
                              const std::filesystem::path& /*out*/) const
    {
        throw InvalidArgumentError("The '" + family_ + "' family lists the export layout '" + format + "' but does not implement it.");
    }

    void do_export_checkpoint(const torch::nn::Module& module, const boost::json::value& json, const std::string& format,
                              const std::filesystem::path& out) const final
    {
        const auto* model = dynamic_cast<const Model*>(&module);
        if (model == nullptr)
            throw InvalidArgumentError("The model given to export as '" + format + "' was not created by the '" + family_ + "' family.");
        export_model(*model, config::structure_config<Config>(json), format, out);
    }

    std::shared_ptr<torch::nn::Module> do_create(const boost::json::value& json, c10::Device device,
                                                 c10::ScalarType dtype) const override
    {
        auto model = create_model(config::structure_config<Config>(json), at::TensorOptions().device(device).dtype(dtype));
        model->reset_parameters();
        return model;
    }

    // Converts foreign layouts, builds the model with uninitialised
    // parameters, and loads the checkpoint strictly (tensors of the model's
    // dtype and device are adopted without a copy).
    std::shared_ptr<torch::nn::Module> do_load_from_checkpoint(checkpoint::LoadedCheckpoint checkpoint, const boost::json::value& json,
                                                               c10::Device device, c10::ScalarType dtype) const override
    {
        Config config = config::structure_config<Config>(json);
        if (!checkpoint.fairseq2_layout)
            checkpoint.state_dict = convert_checkpoint(std::move(checkpoint.state_dict), config);
        auto model = create_model(config, at::TensorOptions().device(device).dtype(dtype));
        checkpoint::load_state_dict(*model, checkpoint.state_dict, checkpoint.path.string());
        return model;
    }

private:
    std::string family_;
    std::string config_type_name_;
    std::string default_arch_;
    ConfigRegistry<Config> configs_;
};

}  // namespace fairseq2::models
