#include "model_source.hpp"

namespace fairseq2::cli {

SelectedModel select_model(models::ModelHub& hub, const ModelSelection& selection)
{
    models::ConfigOverrides overrides;
    overrides.assignments = selection.sets;
    SelectedModel selected;
    if (!selection.model.empty()) {
        selected.card = hub.get_card(selection.model);
        selected.handler = hub.get_handler(*selected.card);
        selected.config = hub.load_config(*selected.card, overrides);
    } else {
        selected.handler = hub.get_handler(selection.family);
        selected.config = hub.create_config(selection.family, selection.arch, overrides);
    }
    return selected;
}

}  // namespace fairseq2::cli
