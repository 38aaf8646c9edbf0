#include "fairseq2/logging.hpp"

#include <array>
#include <atomic>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "fairseq2/error.hpp"

namespace fairseq2 {

namespace {

constexpr std::array<std::pair<std::string_view, LogLevel>, 7> level_names{{
    {"trace", LogLevel::trace},
    {"debug", LogLevel::debug},
    {"info", LogLevel::info},
    {"warn", LogLevel::warn},
    {"error", LogLevel::error},
    {"critical", LogLevel::critical},
    {"off", LogLevel::off},
}};

spdlog::level::level_enum to_spdlog(LogLevel level) noexcept
{
    switch (level) {
    case LogLevel::trace: return spdlog::level::trace;
    case LogLevel::debug: return spdlog::level::debug;
    case LogLevel::info: return spdlog::level::info;
    case LogLevel::warn: return spdlog::level::warn;
    case LogLevel::error: return spdlog::level::err;
    case LogLevel::critical: return spdlog::level::critical;
    case LogLevel::off: break;
    }
    return spdlog::level::off;
}

// What the logger holds: the level read on every call (atomic, so that
// checking it takes no lock), stderr through spdlog, and the added sinks.
struct LoggerState {
    std::atomic<LogLevel> level{LogLevel::info};
    std::shared_ptr<spdlog::logger> stderr_logger;
    std::mutex sinks_mutex;
    std::map<std::uint64_t, LogSink> sinks;
    std::uint64_t next_sink_id = 1;

    LoggerState()
    {
        stderr_logger = std::make_shared<spdlog::logger>("fairseq2", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
        stderr_logger->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%^%l%$] %v");
        // The level is ours; spdlog passes everything it is given.
        stderr_logger->set_level(spdlog::level::trace);
    }
};

LoggerState& state()
{
    static LoggerState instance;
    return instance;
}

}  // namespace

std::string_view log_level_name(LogLevel level) noexcept
{
    for (const auto& [name, candidate] : level_names)
        if (candidate == level)
            return name;
    return "off";
}

LogLevel parse_log_level(std::string_view name)
{
    for (const auto& [candidate, level] : level_names)
        if (candidate == name)
            return level;
    std::string message = "'";
    message.append(name).append("' is not a log level; expected one of ");
    bool first = true;
    for (const auto& [candidate, level] : level_names) {
        message.append(first ? "" : ", ").append(candidate);
        first = false;
    }
    message.append(".");
    throw InvalidArgumentError(message);
}

Logger::Logger()
{
    if (const char* env = std::getenv("FAIRSEQ2_LOG_LEVEL"); env != nullptr && *env != '\0') {
        try {
            set_level(parse_log_level(env));
        } catch (const InvalidArgumentError& error) {
            warn("FAIRSEQ2_LOG_LEVEL: {} Using 'info'.", error.what());
        }
    }
}

LogLevel Logger::level() const noexcept
{
    return state().level.load(std::memory_order_relaxed);
}

void Logger::set_level(LogLevel level) noexcept
{
    state().level.store(level, std::memory_order_relaxed);
}

void Logger::write(LogLevel level, std::string_view message)
{
    if (level == LogLevel::off)
        return;
    LoggerState& logger = state();
    logger.stderr_logger->log(to_spdlog(level), "{}", message);
    std::lock_guard lock(logger.sinks_mutex);
    for (const auto& [id, sink] : logger.sinks)
        sink(level, message);
}

std::uint64_t Logger::add_sink(LogSink sink)
{
    LoggerState& logger = state();
    std::lock_guard lock(logger.sinks_mutex);
    const std::uint64_t id = logger.next_sink_id++;
    logger.sinks.emplace(id, std::move(sink));
    return id;
}

void Logger::remove_sink(std::uint64_t id) noexcept
{
    LoggerState& logger = state();
    std::lock_guard lock(logger.sinks_mutex);
    logger.sinks.erase(id);
}

Logger& log()
{
    static Logger logger;
    return logger;
}

void set_log_level(std::string_view level)
{
    log().set_level(parse_log_level(level));
}

ScopedLogSink::ScopedLogSink(LogSink sink) : id_{log().add_sink(std::move(sink))} {}

ScopedLogSink::~ScopedLogSink()
{
    log().remove_sink(id_);
}

}  // namespace fairseq2
