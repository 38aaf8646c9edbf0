#pragma once

// The runtime context: the typed registries a plugin fills during
// setup_fairseq2_extension() and the host and applications read afterwards.

#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <typeinfo>

#include "fairseq2/config/config_registry.hpp"
#include "fairseq2/runtime/registry.hpp"

namespace fairseq2 {

namespace detail {

template <typename T>
concept HasRegistryKind = requires { T::registry_kind; };

template <typename T>
const char* registry_kind()
{
    if constexpr (HasRegistryKind<T>)
        return T::registry_kind;
    else
        return typeid(T).name();
}

}  // namespace detail

class FAIRSEQ2_API RuntimeContext {
public:
    // `origin` names who registers through this context ("host", or the
    // plugin file the host is setting up); it is recorded with every entry.
    explicit RuntimeContext(std::string origin = "host");
    RuntimeContext(const RuntimeContext&) = delete;
    RuntimeContext& operator=(const RuntimeContext&) = delete;
    ~RuntimeContext();

    // The registry of std::shared_ptr<T> values, e.g. get_registry<models::ModelHandler>().
    template <typename T>
    Registry<T> get_registry()
    {
        return Registry<T>(store(typeid(T).name(), detail::registry_kind<T>()));
    }

    // The registry of named presets of config type T.
    template <typename T>
    ConfigRegistry<T> get_config_registry()
    {
        return ConfigRegistry<T>(store(std::string("config:") + typeid(T).name(), "architecture"));
    }

    // The store under `key`, created on first use.
    std::shared_ptr<RegistryStore> store(const std::string& key, const std::string& kind);

    // Copies every registration of `staged` into this context, all or
    // nothing: when any key is already taken, throws AlreadyExistsError
    // naming the key and both origins and changes nothing. Every moved value
    // holds `token` (the plugin library) for as long as it lives.
    void merge(RuntimeContext& staged, const LifetimeToken& token);

    const std::string& origin() const noexcept { return origin_; }

private:
    std::string origin_;
    mutable std::shared_mutex mutex_;
    std::map<std::string, std::shared_ptr<RegistryStore>> stores_;
};

}  // namespace fairseq2
