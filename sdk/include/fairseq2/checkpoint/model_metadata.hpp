#pragma once

// What a fairseq2-layout checkpoint written by this project records about
// its model, so that it loads without naming the family or the arch. In a
// PyTorch archive: "model_family" (str) and "model_config" (dict) beside
// "model"; in a safetensors file: the __metadata__ strings "fs2" ("true"),
// "model_family" and "model_config" (JSON text). Python fairseq2 ignores
// these extra entries.

#include <string>

#include <boost/json/value.hpp>

namespace fairseq2::checkpoint {

struct ModelMetadata {
    std::string family;
    // The config as ModelHandler::check_config returns it.
    boost::json::value config;
};

}  // namespace fairseq2::checkpoint
