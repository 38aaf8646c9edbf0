#include "fairseq2/models/model_handler.hpp"

#include <torch/nn/module.h>

#include "fairseq2/models/abstract_model_handler.hpp"

namespace fairseq2::models {

ModelHandler::~ModelHandler() = default;

std::shared_ptr<torch::nn::Module> ModelHandler::create(const boost::json::value& config, c10::Device device,
                                                        c10::ScalarType dtype) const
{
    auto model = do_create(config, device, dtype);
    model->eval();
    return bind_lifetime(std::move(model), lifetime_token());
}

std::shared_ptr<torch::nn::Module> ModelHandler::load_from_path(const std::filesystem::path& path, const boost::json::value& config,
                                                                c10::Device device, c10::ScalarType dtype) const
{
    auto model = do_load_from_path(path, config, device, dtype);
    model->eval();
    return bind_lifetime(std::move(model), lifetime_token());
}

void throw_unknown_arch(const std::string& family, const std::string& arch, const std::vector<std::string>& known)
{
    std::string list;
    for (const auto& name : known)
        list += (list.empty() ? "'" : ", '") + name + "'";
    throw LookupError("The '" + family + "' family does not have an architecture named '" + arch + "'. Known architectures: " + list + ".");
}

}  // namespace fairseq2::models
