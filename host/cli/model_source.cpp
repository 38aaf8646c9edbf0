#include "model_source.hpp"

#include "fairseq2/config/overrides.hpp"
#include "fairseq2/error.hpp"

namespace fairseq2::cli {

std::shared_ptr<models::ModelHandler> find_handler(host::Host& host, const std::string& family)
{
    auto handlers = host.context().get_registry<models::ModelHandler>();
    if (!handlers.contains(family)) {
        std::string known;
        for (const auto& name : handlers.keys())
            known += (known.empty() ? "'" : ", '") + name + "'";
        throw LookupError("'" + family + "' is not a known model family. Known families: " + (known.empty() ? "none (no plugin loaded)" : known) +
                          ".");
    }
    return handlers.get(family);
}

boost::json::value build_config(const models::ModelHandler& handler, const std::string& arch, const std::vector<std::string>& sets)
{
    boost::json::value config = handler.get_config(arch.empty() ? handler.default_arch() : arch);
    for (const auto& text : sets) {
        auto [key, value] = config::parse_assignment(text);
        config::set_path(config, key, std::move(value));
    }
    return handler.check_config(config);
}

}  // namespace fairseq2::cli
