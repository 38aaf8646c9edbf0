#include "fairseq2/models/model_handler.hpp"

#include <algorithm>

#include <torch/nn/module.h>

#include "fairseq2/logging.hpp"
#include "fairseq2/models/abstract_model_handler.hpp"
#include "fairseq2/nn/parameter_packing.hpp"
#include "../runtime/weight_allocations.hpp"

namespace fairseq2::models {

ModelHandler::~ModelHandler() = default;

std::shared_ptr<torch::nn::Module> ModelHandler::create(const boost::json::value& config, c10::Device device,
                                                        c10::ScalarType dtype) const
{
    // The parameters are created in the heap and then packed (see
    // MappedWeightAllocations); the scope ends before the model is used.
    detail::MappedWeightAllocations mapped;
    auto model = do_create(config, device, dtype);
    model->eval();
    nn::pack_parameters(*model);
    return bind_lifetime(std::move(model), lifetime_token());
}

std::shared_ptr<torch::nn::Module> ModelHandler::load_from_path(const std::filesystem::path& path, const boost::json::value& config,
                                                                c10::Device device, std::optional<c10::ScalarType> dtype,
                                                                const checkpoint::LoadOptions& options) const
{
    return load_from_checkpoint(checkpoint::load_checkpoint(path, options), config, device, dtype);
}

std::shared_ptr<torch::nn::Module> ModelHandler::load_from_checkpoint(checkpoint::LoadedCheckpoint checkpoint, const boost::json::value& config,
                                                                      c10::Device device, std::optional<c10::ScalarType> dtype) const
{
    // The uninitialised parameters, the conversions and the checkpoint's
    // tensors are all freed by the time the model is packed.
    detail::MappedWeightAllocations mapped;
    const c10::ScalarType stored = checkpoint::checkpoint_dtype(checkpoint.state_dict);
    if (dtype && *dtype != stored)
        log().info("Converting the {} weights of '{}' to {}, as asked.", c10::toString(stored), checkpoint.path.string(), c10::toString(*dtype));
    auto model = do_load_from_checkpoint(std::move(checkpoint), config, device, dtype.value_or(stored));
    model->eval();
    // The checkpoint's own storages are gone by now, so each one packed is
    // freed as it is copied.
    nn::pack_parameters(*model);
    return bind_lifetime(std::move(model), lifetime_token());
}

std::optional<boost::json::value> ModelHandler::config_from_checkpoint(const std::filesystem::path& /*path*/) const
{
    return std::nullopt;
}

std::optional<boost::json::value> ModelHandler::config_from_loaded(const checkpoint::LoadedCheckpoint& checkpoint) const
{
    return config_from_checkpoint(checkpoint.path);
}

bool ModelHandler::recognizes_checkpoint(const CheckpointDescription& /*checkpoint*/) const
{
    return false;
}

std::vector<std::string> ModelHandler::export_formats() const
{
    return {};
}

void ModelHandler::export_checkpoint(const torch::nn::Module& model, const boost::json::value& config, const std::string& format,
                                     const std::filesystem::path& out) const
{
    const std::vector<std::string> formats = export_formats();
    if (std::find(formats.begin(), formats.end(), format) == formats.end()) {
        std::string known;
        for (const auto& name : formats)
            known += (known.empty() ? "'" : ", '") + name + "'";
        throw InvalidArgumentError("The '" + family() + "' family cannot export checkpoints in the '" + format + "' layout; it exports " +
                                   (known.empty() ? std::string("none") : known) + ".");
    }
    do_export_checkpoint(model, config, format, out);
}

void ModelHandler::do_export_checkpoint(const torch::nn::Module& /*model*/, const boost::json::value& /*config*/,
                                        const std::string& format, const std::filesystem::path& /*out*/) const
{
    throw InvalidArgumentError("The '" + family() + "' family lists the export layout '" + format + "' but does not implement it.");
}

void throw_unknown_arch(const std::string& family, const std::string& arch, const std::vector<std::string>& known)
{
    std::string list;
    for (const auto& name : known)
        list += (list.empty() ? "'" : ", '") + name + "'";
    throw LookupError("The '" + family + "' family does not have an architecture named '" + arch + "'. Known architectures: " + list + ".");
}

}  // namespace fairseq2::models
