#pragma once

// Named registries: a family name maps to its handler, an arch name to its
// config preset. Lookups of missing keys and second registrations of a key
// are errors that name the key. Safe to read from several threads.

#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <type_traits>
#include <vector>

#include "fairseq2/error.hpp"
#include "fairseq2/runtime/lifetime.hpp"

namespace fairseq2 {

// One registered value with the origin that registered it (a plugin file
// name, or "host").
struct RegistryEntry {
    std::shared_ptr<void> value;
    LifetimeBound* bound = nullptr;  // set when the value hands out objects
    std::string origin;
};

// The type-erased storage behind every Registry<T>. It lives in the SDK
// library so no registry code belongs to a plugin that may be unloaded.
class FAIRSEQ2_API RegistryStore {
public:
    RegistryStore(std::string kind, std::string origin);
    RegistryStore(const RegistryStore&) = delete;
    RegistryStore& operator=(const RegistryStore&) = delete;
    ~RegistryStore();

    // What the registry holds, for messages ("model handler", ...).
    const std::string& kind() const noexcept { return kind_; }

    // Throws AlreadyExistsError when `key` is taken.
    void add(const std::string& key, std::shared_ptr<void> value, LifetimeBound* bound);

    // Throws LookupError naming `key` and the registered keys.
    RegistryEntry get(const std::string& key) const;

    bool contains(const std::string& key) const;

    // Sorted keys.
    std::vector<std::string> keys() const;

    // Throws AlreadyExistsError, changing nothing, when a key of `staged`
    // is already here; otherwise adds all entries of `staged`, each bound to
    // `token`. `staged` keeps its entries for whoever still reads it.
    void merge(const RegistryStore& staged, const LifetimeToken& token);

    // The keys `merge` would reject.
    std::vector<std::string> conflicts(const RegistryStore& staged) const;

    // Origin of a key already registered ("" when absent).
    std::string origin_of(const std::string& key) const;

private:
    std::string kind_;
    std::string origin_;
    mutable std::shared_mutex mutex_;
    std::map<std::string, RegistryEntry> entries_;
};

// A typed view of a RegistryStore holding std::shared_ptr<T> values.
template <typename T>
class Registry {
public:
    explicit Registry(std::shared_ptr<RegistryStore> store) noexcept : store_{std::move(store)} {}

    void register_(const std::string& key, std::shared_ptr<T> value)
    {
        if (!value)
            throw InvalidArgumentError("The value registered under '" + key + "' in the " + store_->kind() + " registry is null.");
        LifetimeBound* bound = nullptr;
        if constexpr (std::is_base_of_v<LifetimeBound, T>)
            bound = value.get();
        store_->add(key, std::const_pointer_cast<void>(std::static_pointer_cast<const void>(std::move(value))), bound);
    }

    std::shared_ptr<T> get(const std::string& key) const
    {
        return std::static_pointer_cast<T>(store_->get(key).value);
    }

    bool contains(const std::string& key) const { return store_->contains(key); }

    std::vector<std::string> keys() const { return store_->keys(); }

    // Origin (plugin file or "host") that registered `key`.
    std::string origin_of(const std::string& key) const { return store_->origin_of(key); }

private:
    std::shared_ptr<RegistryStore> store_;
};

}  // namespace fairseq2
