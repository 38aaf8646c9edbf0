#pragma once

// How commands name a model: an asset card (--model NAME) or a family and an
// arch (--family FAMILY [--arch ARCH]), with `--set KEY=VALUE` overrides
// applied last either way. Shared by `models config` and `generate`.

#include <memory>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "fairseq2/assets/asset_card.hpp"
#include "fairseq2/models/hub.hpp"
#include "fairseq2/models/model_handler.hpp"

namespace fairseq2::cli {

// What the command line says: `model`, or `family` (and `arch`).
struct ModelSelection {
    std::string model;
    std::string family;
    std::string arch;
    std::vector<std::string> sets;
};

struct SelectedModel {
    std::shared_ptr<models::ModelHandler> handler;
    // The card of --model; null for --family.
    std::shared_ptr<const assets::AssetCard> card;
    // Checked, with every override applied.
    boost::json::value config;
};

// The handler and config of `selection` through the hub: for --model the
// card's family, arch and `model_config` overrides along its base chain,
// then --set; for --family the arch preset, then --set. Throws the hub's
// errors (unknown model, family or arch; invalid overrides).
SelectedModel select_model(models::ModelHub& hub, const ModelSelection& selection);

}  // namespace fairseq2::cli
