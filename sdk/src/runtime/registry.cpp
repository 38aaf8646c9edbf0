#include "fairseq2/runtime/registry.hpp"

#include <mutex>

#include "../quoted_list.hpp"

namespace fairseq2 {

RegistryStore::RegistryStore(std::string kind, std::string origin) : kind_{std::move(kind)}, origin_{std::move(origin)} {}

RegistryStore::~RegistryStore() = default;

void RegistryStore::add(const std::string& key, std::shared_ptr<void> value, LifetimeBound* bound)
{
    std::unique_lock lock{mutex_};
    if (auto it = entries_.find(key); it != entries_.end())
        throw AlreadyExistsError("The " + kind_ + " registry already contains a '" + key + "' key (registered by " +
                                 it->second.origin + ").");
    entries_.emplace(key, RegistryEntry{std::move(value), bound, origin_});
}

RegistryEntry RegistryStore::get(const std::string& key) const
{
    std::shared_lock lock{mutex_};
    if (auto it = entries_.find(key); it != entries_.end())
        return it->second;
    std::vector<std::string> keys;
    for (const auto& [name, entry] : entries_)
        keys.push_back(name);
    throw LookupError("The " + kind_ + " registry does not contain a '" + key + "' key. Registered keys: " + fairseq2::detail::quoted_list(keys) + ".");
}

bool RegistryStore::contains(const std::string& key) const
{
    std::shared_lock lock{mutex_};
    return entries_.contains(key);
}

std::vector<std::string> RegistryStore::keys() const
{
    std::shared_lock lock{mutex_};
    std::vector<std::string> keys;
    keys.reserve(entries_.size());
    for (const auto& [name, entry] : entries_)
        keys.push_back(name);
    return keys;
}

std::string RegistryStore::origin_of(const std::string& key) const
{
    std::shared_lock lock{mutex_};
    auto it = entries_.find(key);
    return it == entries_.end() ? std::string{} : it->second.origin;
}

std::vector<std::string> RegistryStore::conflicts(const RegistryStore& staged) const
{
    std::shared_lock lock{mutex_};
    std::shared_lock staged_lock{staged.mutex_};
    std::vector<std::string> keys;
    for (const auto& [name, entry] : staged.entries_)
        if (entries_.contains(name))
            keys.push_back(name);
    return keys;
}

void RegistryStore::merge(const RegistryStore& staged, const LifetimeToken& token)
{
    std::unique_lock lock{mutex_};
    std::shared_lock staged_lock{staged.mutex_};
    for (const auto& [name, entry] : staged.entries_)
        if (auto it = entries_.find(name); it != entries_.end())
            throw AlreadyExistsError("The " + kind_ + " registry already contains a '" + name + "' key (registered by " +
                                     it->second.origin + "); " + entry.origin + " registers it again.");
    for (const auto& [name, entry] : staged.entries_) {
        if (entry.bound != nullptr && token)
            entry.bound->set_lifetime_token(token);
        entries_.emplace(name, RegistryEntry{bind_lifetime(entry.value, token), entry.bound, entry.origin});
    }
}

}  // namespace fairseq2
