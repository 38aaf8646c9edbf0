#pragma once

// The per-family model handler: what the host, the CLI and applications use
// to list a family's archs, build configs and create or load its models.
// Configs cross this interface as JSON; the typed config stays inside the
// family (see AbstractModelHandler).

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <boost/json/value.hpp>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "fairseq2/runtime/lifetime.hpp"

namespace torch::nn {
class Module;
}

namespace fairseq2::models {

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

    // A model with the weights of the checkpoint at `path` (converted from
    // the layouts the family knows); every problem is one CheckpointError
    // naming the path.
    std::shared_ptr<torch::nn::Module> load_from_path(const std::filesystem::path& path, const boost::json::value& config,
                                                      c10::Device device, c10::ScalarType dtype) const;

protected:
    virtual std::shared_ptr<torch::nn::Module> do_create(const boost::json::value& config, c10::Device device,
                                                         c10::ScalarType dtype) const = 0;

    virtual std::shared_ptr<torch::nn::Module> do_load_from_path(const std::filesystem::path& path, const boost::json::value& config,
                                                                 c10::Device device, c10::ScalarType dtype) const = 0;
};

}  // namespace fairseq2::models
