#include "fairseq2/logging.hpp"

#include <array>
#include <cstdlib>
#include <string>

#include <spdlog/sinks/stdout_color_sinks.h>

#include "fairseq2/error.hpp"

namespace fairseq2 {

namespace {

constexpr std::array<std::pair<std::string_view, spdlog::level::level_enum>, 7> level_names{{
    {"trace", spdlog::level::trace},
    {"debug", spdlog::level::debug},
    {"info", spdlog::level::info},
    {"warn", spdlog::level::warn},
    {"error", spdlog::level::err},
    {"critical", spdlog::level::critical},
    {"off", spdlog::level::off},
}};

spdlog::level::level_enum parse_level(std::string_view name)
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

std::shared_ptr<spdlog::logger> make_logger()
{
    auto logger = std::make_shared<spdlog::logger>("fairseq2", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    logger->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%^%l%$] %v");
    logger->set_level(spdlog::level::info);
    if (const char* env = std::getenv("FAIRSEQ2_LOG_LEVEL"); env != nullptr && *env != '\0') {
        try {
            logger->set_level(parse_level(env));
        } catch (const InvalidArgumentError& error) {
            logger->warn("FAIRSEQ2_LOG_LEVEL: {} Using 'info'.", error.what());
        }
    }
    return logger;
}

}  // namespace

spdlog::logger& log()
{
    static const std::shared_ptr<spdlog::logger> logger = make_logger();
    return *logger;
}

void set_log_level(std::string_view level)
{
    log().set_level(parse_level(level));
}

}  // namespace fairseq2
