#include "fairseq2/runtime/lifetime.hpp"

namespace fairseq2 {

namespace {

// Releases the object before the token: members are destroyed in reverse
// order of declaration.
struct LifetimeHolder {
    LifetimeToken token;
    std::shared_ptr<void> object;
};

}  // namespace

std::shared_ptr<void> bind_lifetime(std::shared_ptr<void> object, LifetimeToken token)
{
    if (!token || !object)
        return object;
    void* raw = object.get();
    auto holder = std::make_shared<LifetimeHolder>(LifetimeHolder{std::move(token), std::move(object)});
    return std::shared_ptr<void>(std::move(holder), raw);
}

LifetimeBound::~LifetimeBound() = default;

}  // namespace fairseq2
