#pragma once

// Named config presets ("archs") of one config type. Every lookup returns a
// fresh copy, so callers may modify what they get.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "fairseq2/runtime/registry.hpp"

namespace fairseq2 {

template <typename Config>
class ConfigRegistry {
public:
    explicit ConfigRegistry(std::shared_ptr<RegistryStore> store) noexcept : registry_{std::move(store)} {}

    void register_(const std::string& arch, Config config)
    {
        registry_.register_(arch, std::make_shared<const Config>(std::move(config)));
    }

    // A copy of the preset; throws LookupError naming `arch` when absent.
    Config get(const std::string& arch) const { return *registry_.get(arch); }

    bool contains(const std::string& arch) const { return registry_.contains(arch); }

    std::vector<std::string> names() const { return registry_.keys(); }

private:
    Registry<const Config> registry_;
};

}  // namespace fairseq2
