#include "fairseq2/error.hpp"

namespace fairseq2 {

// Out-of-line destructors anchor the type information in libfairseq2_sdk, so
// a plugin and the host catch the same types.
Error::Error(const std::string& message) : std::runtime_error(message) {}
Error::~Error() = default;
LookupError::~LookupError() = default;
AlreadyExistsError::~AlreadyExistsError() = default;
ConfigError::~ConfigError() = default;
CheckpointError::~CheckpointError() = default;
PluginError::~PluginError() = default;
InvalidArgumentError::~InvalidArgumentError() = default;

}  // namespace fairseq2
