#include "fairseq2/runtime/runtime_context.hpp"

namespace fairseq2 {

RuntimeContext::RuntimeContext(std::string origin) : origin_{std::move(origin)} {}

RuntimeContext::~RuntimeContext() = default;

std::shared_ptr<RegistryStore> RuntimeContext::store(const std::string& key, const std::string& kind)
{
    {
        std::shared_lock lock{mutex_};
        if (auto it = stores_.find(key); it != stores_.end())
            return it->second;
    }
    std::unique_lock lock{mutex_};
    auto& slot = stores_[key];
    if (!slot)
        slot = std::make_shared<RegistryStore>(kind, origin_);
    return slot;
}

void RuntimeContext::merge(RuntimeContext& staged, const LifetimeToken& token)
{
    std::unique_lock lock{mutex_};
    std::shared_lock staged_lock{staged.mutex_};

    // Check every store first so a conflict leaves this context unchanged.
    for (const auto& [key, staged_store] : staged.stores_) {
        auto it = stores_.find(key);
        if (it == stores_.end())
            continue;
        auto conflicts = it->second->conflicts(*staged_store);
        if (!conflicts.empty()) {
            const std::string& name = conflicts.front();
            throw AlreadyExistsError("The " + staged_store->kind() + " registry already contains a '" + name +
                                     "' key (registered by " + it->second->origin_of(name) + "); " +
                                     staged_store->origin_of(name) + " registers it again.");
        }
    }
    for (const auto& [key, staged_store] : staged.stores_) {
        auto& slot = stores_[key];
        if (!slot)
            slot = std::make_shared<RegistryStore>(staged_store->kind(), origin_);
        slot->merge(*staged_store, token);
    }
}

}  // namespace fairseq2
