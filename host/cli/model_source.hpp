#pragma once

// Finding a family's handler and building a config from an arch and
// `--set KEY=VALUE` overrides; shared by `models config` and `generate`.

#include <memory>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "fairseq2/host/host.hpp"
#include "fairseq2/models/model_handler.hpp"

namespace fairseq2::cli {

// Throws LookupError naming the family and the known ones.
std::shared_ptr<models::ModelHandler> find_handler(host::Host& host, const std::string& family);

// The preset of `arch` (the default arch when empty) with every override
// applied in order, checked by the family's config type.
boost::json::value build_config(const models::ModelHandler& handler, const std::string& arch, const std::vector<std::string>& sets);

}  // namespace fairseq2::cli
