#pragma once

// The per-family model handler: what the host, the CLI and applications use
// to list a family's archs, build configs and create or load its models.
// Configs cross this interface as JSON; the typed config stays inside the
// family (see AbstractModelHandler).

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/value.hpp>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "fairseq2/checkpoint/checkpoint_loader.hpp"
#include "fairseq2/runtime/lifetime.hpp"

namespace torch::nn {
class Module;
}

namespace fairseq2::models {

// What a handler is shown of a checkpoint when asked whether it holds a
// model of its family (ModelHub::detect_family).
struct CheckpointDescription {
    // The file or directory given.
    std::filesystem::path path;
    // checkpoint::checkpoint_directory(path).
    std::filesystem::path directory;
    // Its Hugging Face config.json, when it has one with a model_type.
    std::optional<boost::json::value> hf_config;
    std::string hf_model_type;  // empty without
    // The checkpoint's tensors (fairseq2 or foreign names), when read.
    const checkpoint::StateDict* state_dict = nullptr;
    // What it holds besides (LoadedCheckpoint::extras), when read.
    const boost::json::object* extras = nullptr;
};

class FAIRSEQ2_API ModelHandler : public LifetimeBound {
public:
    static constexpr const char* registry_kind = "model handler";

    ~ModelHandler() override;

    // The family name the handler is registered under ("llama").
    virtual std::string family() const = 0;

    // The name of the family's config type ("LLaMAConfig").
    virtual std::string config_type_name() const = 0;

    virtual std::string default_arch() const = 0;

    // Registered arch names, sorted.
    virtual std::vector<std::string> archs() const = 0;

    // The preset of `arch` as JSON; throws LookupError naming the family and
    // the arch when it is unknown.
    virtual boost::json::value get_config(const std::string& arch) const = 0;

    // Structures `config` strictly, validates it, and returns it in canonical
    // form; throws ConfigError naming the field.
    virtual boost::json::value check_config(const boost::json::value& config) const = 0;

    // Whether models can be built without allocating weights.
    virtual bool supports_meta() const = 0;

    // A model with random weights.
    std::shared_ptr<torch::nn::Module> create(const boost::json::value& config, c10::Device device, c10::ScalarType dtype) const;

    // A model with the weights of the checkpoint at `path` (any format
    // checkpoint::load_checkpoint reads, converted from the layouts the
    // family knows); every problem is one CheckpointError naming the path.
    // Without `dtype` the model takes the checkpoint's dtype
    // (checkpoint::checkpoint_dtype), so nothing is converted; with it,
    // tensors of another dtype are converted while loading.
    std::shared_ptr<torch::nn::Module> load_from_path(const std::filesystem::path& path, const boost::json::value& config,
                                                      c10::Device device, std::optional<c10::ScalarType> dtype = std::nullopt,
                                                      const checkpoint::LoadOptions& options = {}) const;

    // The same for a checkpoint already read (e.g. to derive its config
    // first); its tensors move into the model.
    std::shared_ptr<torch::nn::Module> load_from_checkpoint(checkpoint::LoadedCheckpoint checkpoint, const boost::json::value& config,
                                                            c10::Device device, std::optional<c10::ScalarType> dtype = std::nullopt) const;

    // The config of the checkpoint at `path` (a file or a directory) derived
    // from the files describing it that the family knows (llama: a Hugging
    // Face config.json or a Meta params.json in checkpoint_directory(path)),
    // in canonical form; nullopt when there are none. Throws ConfigError
    // naming the file when one exists but describes no model of this family
    // or is invalid.
    virtual std::optional<boost::json::value> config_from_checkpoint(const std::filesystem::path& path) const;

    // The same for a checkpoint already read, which may also describe its
    // model itself (fairseq's "args" or "cfg" in LoadedCheckpoint::extras).
    // The default is config_from_checkpoint(checkpoint.path).
    virtual std::optional<boost::json::value> config_from_loaded(const checkpoint::LoadedCheckpoint& checkpoint) const;

    // Whether the checkpoint described holds a model of this family, told
    // by what the family's own files say (a config.json model_type, a Meta
    // params.json, keys only its layout has). Detection asks every
    // handler; exactly one must answer yes. The default answers no.
    virtual bool recognizes_checkpoint(const CheckpointDescription& checkpoint) const;

    // The foreign checkpoint layouts export_checkpoint() writes ("hf").
    virtual std::vector<std::string> export_formats() const;

    // Writes `model` (created or loaded by this handler with `config`) to
    // `out` in `format`, one of export_formats(); files are written to a
    // temporary name and renamed. Throws InvalidArgumentError for another
    // format and CheckpointError naming the file when writing fails.
    void export_checkpoint(const torch::nn::Module& model, const boost::json::value& config, const std::string& format,
                           const std::filesystem::path& out) const;

protected:
    virtual std::shared_ptr<torch::nn::Module> do_create(const boost::json::value& config, c10::Device device,
                                                         c10::ScalarType dtype) const = 0;

    virtual std::shared_ptr<torch::nn::Module> do_load_from_checkpoint(checkpoint::LoadedCheckpoint checkpoint,
                                                                       const boost::json::value& config, c10::Device device,
                                                                       c10::ScalarType dtype) const = 0;

    // Called by export_checkpoint() with a format of export_formats().
    virtual void do_export_checkpoint(const torch::nn::Module& model, const boost::json::value& config, const std::string& format,
                                      const std::filesystem::path& out) const;
};

}  // namespace fairseq2::models
