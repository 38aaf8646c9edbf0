#include "fairseq2/checkpoint/load_progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "fairseq2/logging.hpp"

namespace fairseq2::checkpoint {

namespace {

constexpr int bar_width = 30;
constexpr auto redraw_interval = std::chrono::milliseconds(100);

double seconds_since(std::chrono::steady_clock::time_point start)
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

std::string format_bytes(std::uint64_t bytes)
{
    const char* units[] = {"B", "KB", "MB", "GB", "TB"};
    double value = static_cast<double>(bytes);
    int unit = 0;
    while (value >= 1000.0 && unit < 4) {
        value /= 1000.0;
        ++unit;
    }
    char text[32];
    if (unit == 0)
        std::snprintf(text, sizeof text, "%llu B", static_cast<unsigned long long>(bytes));
    else
        std::snprintf(text, sizeof text, "%.2f %s", value, units[unit]);
    return text;
}

LoadProgress::LoadProgress(std::string what, std::uint64_t total_bytes)
    : LoadProgress(std::move(what), total_bytes, Options{::isatty(STDERR_FILENO) == 1, 1.0, stderr})
{
}

LoadProgress::LoadProgress(std::string what, std::uint64_t total_bytes, Options options)
    : what_{std::move(what)}, total_{total_bytes}, options_{options}, start_{std::chrono::steady_clock::now()}
{
}

LoadProgress::~LoadProgress()
{
    // Reading failed: end the bar's line so the error starts on its own.
    if (drawn_ && !finished_) {
        std::fputc('\n', options_.stream);
        std::fflush(options_.stream);
    }
}

void LoadProgress::advance(std::uint64_t bytes)
{
    done_ += bytes;
    if (!options_.terminal || finished_)
        return;
    auto now = std::chrono::steady_clock::now();
    if (std::chrono::duration<double>(now - start_).count() < options_.delay_s)
        return;
    if (drawn_ && now - last_draw_ < redraw_interval)
        return;
    draw(false);
}

void LoadProgress::finish(std::size_t tensors)
{
    if (finished_)
        return;
    if (drawn_) {
        done_ = std::max(done_, total_);
        draw(true);
    } else {
        log().info("Read {} tensors ({}) from '{}' in {:.2f} s.", tensors, format_bytes(done_), what_, seconds_since(start_));
    }
    finished_ = true;
}

void LoadProgress::draw(bool final)
{
    const double fraction = total_ == 0 ? 1.0 : std::min(1.0, static_cast<double>(done_) / static_cast<double>(total_));
    const int filled = static_cast<int>(fraction * bar_width);
    std::string bar(static_cast<std::size_t>(filled), '=');
    if (filled < bar_width)
        bar += '>' + std::string(static_cast<std::size_t>(bar_width - filled - 1), ' ');
    const double elapsed = seconds_since(start_);
    const double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0.0;
    std::fprintf(options_.stream, "\r\x1b[KLoading %s [%s] %3d%% %s / %s, %s/s, %.1f s%s", what_.c_str(), bar.c_str(),
                 static_cast<int>(fraction * 100.0), format_bytes(done_).c_str(), format_bytes(total_).c_str(),
                 format_bytes(static_cast<std::uint64_t>(rate)).c_str(), elapsed, final ? "\n" : "");
    std::fflush(options_.stream);
    drawn_ = true;
    last_draw_ = std::chrono::steady_clock::now();
}

}  // namespace fairseq2::checkpoint
