#pragma once

// Keeps the code that created an object loaded while the object lives.
// Objects a plugin creates (handlers, models) hold a token to the plugin's
// library; the host sets the token when it commits the plugin's registrations.

#include <memory>

#include "fairseq2/version.hpp"

namespace fairseq2 {

// A type-erased token; releasing the last copy may unload a library.
using LifetimeToken = std::shared_ptr<const void>;

// Returns a pointer to the same object that also holds `token`, released
// only after `object` is. The control block lives in libfairseq2_sdk, so the
// release never runs code of the library the token keeps loaded.
FAIRSEQ2_API std::shared_ptr<void> bind_lifetime(std::shared_ptr<void> object, LifetimeToken token);

template <typename T>
std::shared_ptr<T> bind_lifetime(std::shared_ptr<T> object, LifetimeToken token)
{
    if (!token || !object)
        return object;
    T* raw = object.get();
    return std::shared_ptr<T>(bind_lifetime(std::shared_ptr<void>(std::move(object)), std::move(token)), raw);
}

// Base of objects that hand out further objects (a model handler creates
// models): it carries the token of its own library to bind them with.
class FAIRSEQ2_API LifetimeBound {
public:
    virtual ~LifetimeBound();

    void set_lifetime_token(LifetimeToken token) { token_ = std::move(token); }
    const LifetimeToken& lifetime_token() const noexcept { return token_; }

private:
    LifetimeToken token_;
};

}  // namespace fairseq2
