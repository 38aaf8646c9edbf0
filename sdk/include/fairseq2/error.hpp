#pragma once

// The fairseq2 error hierarchy. Every error the SDK, the host or a plugin
// raises on purpose derives from fairseq2::Error, and its message is one
// complete sentence naming the key, field or file involved.

#include <stdexcept>
#include <string>

#include "fairseq2/version.hpp"

namespace fairseq2 {

class FAIRSEQ2_API Error : public std::runtime_error {
public:
    explicit Error(const std::string& message);
    ~Error() override;
};

// A name that is not in a registry (model family, arch, asset, ...).
class FAIRSEQ2_API LookupError : public Error {
public:
    using Error::Error;
    ~LookupError() override;
};

// A name registered twice.
class FAIRSEQ2_API AlreadyExistsError : public Error {
public:
    using Error::Error;
    ~AlreadyExistsError() override;
};

// A config that cannot be structured from JSON or fails validation.
class FAIRSEQ2_API ConfigError : public Error {
public:
    using Error::Error;
    ~ConfigError() override;
};

// A checkpoint that cannot be read, or whose tensors do not fit the model.
class FAIRSEQ2_API CheckpointError : public Error {
public:
    using Error::Error;
    ~CheckpointError() override;
};

// A plugin that cannot be loaded or set up.
class FAIRSEQ2_API PluginError : public Error {
public:
    using Error::Error;
    ~PluginError() override;
};

// Invalid arguments to an SDK call (bad shapes, bad options).
class FAIRSEQ2_API InvalidArgumentError : public Error {
public:
    using Error::Error;
    ~InvalidArgumentError() override;
};

}  // namespace fairseq2
