#pragma once

// The fairseq2 logger: one spdlog logger named "fairseq2", writing to stderr.
// Its level comes from FAIRSEQ2_LOG_LEVEL (trace, debug, info, warn, error,
// critical, off; default info) unless set_log_level() overrides it.

#include <memory>
#include <string_view>

#include <spdlog/spdlog.h>

#include "fairseq2/version.hpp"

namespace fairseq2 {

// The shared logger, created on first use.
FAIRSEQ2_API spdlog::logger& log();

// Sets the level by name; throws fairseq2::InvalidArgumentError naming the
// valid levels when the name is unknown.
FAIRSEQ2_API void set_log_level(std::string_view level);

}  // namespace fairseq2
