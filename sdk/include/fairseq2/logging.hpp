#pragma once

// The fairseq2 logger: one process-wide logger that writes each record to
// stderr ("[2026-12-04 10:00:00.000] [warning] message") and to the sinks an
// application adds (a service routing records into its own logging, a test
// collecting them). Its level comes from FAIRSEQ2_LOG_LEVEL (trace, debug,
// info, warn, error, critical, off; default info) unless set_level() or
// set_log_level() overrides it. Messages are formatted with {fmt}; the logger's
// implementation (spdlog) is private to the SDK.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "fairseq2/version.hpp"

namespace fairseq2 {

enum class LogLevel : std::uint8_t { trace, debug, info, warn, error, critical, off };

// The level's name as FAIRSEQ2_LOG_LEVEL and set_log_level() spell it.
FAIRSEQ2_API std::string_view log_level_name(LogLevel level) noexcept;

// The level named `name`; throws fairseq2::InvalidArgumentError naming the
// valid names when it is unknown.
FAIRSEQ2_API LogLevel parse_log_level(std::string_view name);

// Receives every record at or above the logger's level, with its level and
// the formatted message (no time stamp or level prefix). Called on the
// thread that logs, one record at a time; it must not log itself.
using LogSink = std::function<void(LogLevel level, std::string_view message)>;

class FAIRSEQ2_API Logger {
public:
    Logger(const Logger&) = delete;
    Logger& operator=(const Logger&) = delete;

    [[nodiscard]] LogLevel level() const noexcept;
    void set_level(LogLevel level) noexcept;
    [[nodiscard]] bool should_log(LogLevel level) const noexcept { return level >= this->level() && level != LogLevel::off; }

    // Writes one formatted record to stderr and every sink.
    void write(LogLevel level, std::string_view message);

    template <typename... Args>
    void trace(fmt::format_string<Args...> format, Args&&... args) { emit(LogLevel::trace, format, std::forward<Args>(args)...); }
    template <typename... Args>
    void debug(fmt::format_string<Args...> format, Args&&... args) { emit(LogLevel::debug, format, std::forward<Args>(args)...); }
    template <typename... Args>
    void info(fmt::format_string<Args...> format, Args&&... args) { emit(LogLevel::info, format, std::forward<Args>(args)...); }
    template <typename... Args>
    void warn(fmt::format_string<Args...> format, Args&&... args) { emit(LogLevel::warn, format, std::forward<Args>(args)...); }
    template <typename... Args>
    void error(fmt::format_string<Args...> format, Args&&... args) { emit(LogLevel::error, format, std::forward<Args>(args)...); }
    template <typename... Args>
    void critical(fmt::format_string<Args...> format, Args&&... args) { emit(LogLevel::critical, format, std::forward<Args>(args)...); }

    // Adds a sink; returns the id that remove_sink() takes.
    std::uint64_t add_sink(LogSink sink);
    // Removes the sink `id`; an unknown id is ignored. Once it returns, the
    // sink is not called again.
    void remove_sink(std::uint64_t id) noexcept;

private:
    friend FAIRSEQ2_API Logger& log();
    Logger();

    template <typename... Args>
    void emit(LogLevel level, fmt::format_string<Args...> format, Args&&... args)
    {
        if (should_log(level))
            write(level, fmt::vformat(format, fmt::make_format_args(args...)));
    }
};

// The shared logger, created on first use.
FAIRSEQ2_API Logger& log();

// Sets the logger's level by name (see parse_log_level()).
FAIRSEQ2_API void set_log_level(std::string_view level);

// Adds `sink` to the logger for the lifetime of this object.
class FAIRSEQ2_API ScopedLogSink {
public:
    explicit ScopedLogSink(LogSink sink);
    ~ScopedLogSink();
    ScopedLogSink(const ScopedLogSink&) = delete;
    ScopedLogSink& operator=(const ScopedLogSink&) = delete;

private:
    std::uint64_t id_;
};

}  // namespace fairseq2
