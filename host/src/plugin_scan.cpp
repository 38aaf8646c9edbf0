#include "plugin_scan.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#define BOOST_DLL_USE_STD_FS
#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/json.hpp>

#include "fairseq2/checkpoint/atomic_file.hpp"
#include "fairseq2/logging.hpp"

extern char** environ;

namespace fairseq2::host::detail {

namespace {

std::string signal_name(int signal)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
    if (const char* abbrev = sigabbrev_np(signal); abbrev != nullptr)
        return std::string("SIG") + abbrev;
#endif
    return "signal " + std::to_string(signal);
}

// "loading" -> "while loading (in a static initialiser)", ...
std::string stage_clause(const std::string& stage)
{
    if (stage == "setup")
        return "during setup_fairseq2_extension()";
    if (stage == "unloading")
        return "while it was unloaded (in a static destructor)";
    return "while it was loaded (in a static initialiser)";
}

}  // namespace

ScanResult scan_in_child(const std::filesystem::path& scanner, const std::filesystem::path& file, std::chrono::milliseconds timeout)
{
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0)
        throw std::runtime_error(std::string("cannot create a pipe: ") + std::strerror(errno));

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    // dup2 clears O_CLOEXEC on the copy: the child keeps fd 3 only.
    posix_spawn_file_actions_adddup2(&actions, fds[1], 3);
    std::string scanner_path = scanner.string();
    std::string file_path = file.string();
    char* argv[] = {scanner_path.data(), file_path.data(), nullptr};
    pid_t pid = 0;
    int rc = posix_spawn(&pid, scanner_path.c_str(), &actions, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    if (rc != 0) {
        ::close(fds[0]);
        throw std::runtime_error("cannot start the plugin scanner '" + scanner_path + "': " + std::strerror(rc));
    }

    // Read the stages until EOF (the child is gone) or the deadline.
    std::string output;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    bool timed_out = false;
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
        if (left <= 0) {
            timed_out = true;
            break;
        }
        pollfd p{fds[0], POLLIN, 0};
        int ready = ::poll(&p, 1, static_cast<int>(left));
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready == 0) {
            timed_out = true;
            break;
        }
        char buffer[256];
        ssize_t n = ::read(fds[0], buffer, sizeof buffer);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        output.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(fds[0]);
    if (timed_out)
        ::kill(pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }

    std::string stage = "loading";
    bool done = false;
    std::istringstream lines(output);
    for (std::string line; std::getline(lines, line);) {
        if (line == "done")
            done = true;
        else if (!line.empty())
            stage = line;
    }
    ScanResult result;
    const auto seconds = std::chrono::duration<double>(timeout).count();
    std::ostringstream limit;
    limit << seconds;
    if (timed_out)
        result.failure = "it did not finish " + std::string(stage == "setup" ? "setup_fairseq2_extension()" : "loading") + " within " + limit.str() +
                         " s when the host tried it in a separate process (it hangs)";
    else if (WIFSIGNALED(status))
        result.failure = "it crashed with " + signal_name(WTERMSIG(status)) + " " + stage_clause(stage) +
                         " when the host tried it in a separate process";
    else if (!done)
        result.failure = "it called exit(" + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + ") " + stage_clause(stage) +
                         " when the host tried it in a separate process";
    return result;
}

std::filesystem::path default_scanner_path()
{
    if (const char* env = std::getenv("FAIRSEQ2_PLUGIN_SCANNER"); env != nullptr && *env != '\0')
        return env;
    boost::system::error_code error;
    auto location = boost::dll::this_line_location(error);
    if (error)
        return {};
    return (std::filesystem::path(location).parent_path() / "fairseq2" / "fairseq2-plugin-scanner").lexically_normal();
}

std::filesystem::path default_scan_cache_file()
{
    if (const char* dir = std::getenv("FAIRSEQ2_CACHE_DIR"); dir != nullptr && *dir != '\0')
        return std::filesystem::path(dir) / "plugin-scan.json";
    if (const char* dir = std::getenv("XDG_CACHE_HOME"); dir != nullptr && *dir != '\0')
        return std::filesystem::path(dir) / "fairseq2" / "plugin-scan.json";
    if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0')
        return std::filesystem::path(home) / ".cache" / "fairseq2" / "plugin-scan.json";
    return {};
}

ScanCache::ScanCache(std::filesystem::path file) : file_{std::move(file)}
{
    std::error_code error;
    if (file_.empty() || !std::filesystem::exists(file_, error))
        return;
    std::ifstream in(file_, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    boost::system::error_code parse_error;
    boost::json::value root = boost::json::parse(text.str(), parse_error);
    auto corrupt = [&](const std::string& why) {
        log().warn("The plugin scan cache '{}' {}; scanning the plugins again and rewriting it.", file_.string(), why);
        entries_.clear();
        dirty_ = true;
    };
    if (parse_error || !root.is_object() || !root.get_object().contains("plugins") || !root.at("plugins").is_object()) {
        corrupt(parse_error ? "is not valid JSON (" + parse_error.message() + ")" : "does not have the expected shape");
        return;
    }
    for (const auto& [path, entry] : root.at("plugins").get_object()) {
        const auto* object = entry.if_object();
        const boost::json::value* size = object ? object->if_contains("size") : nullptr;
        const boost::json::value* mtime = object ? object->if_contains("mtime_ns") : nullptr;
        const boost::json::value* handshake = object ? object->if_contains("handshake") : nullptr;
        const boost::json::value* failure = object ? object->if_contains("failure") : nullptr;
        if (!size || !size->is_int64() || !mtime || !mtime->is_int64() || !handshake || !handshake->is_string() || !failure ||
            !failure->is_string()) {
            corrupt("has a malformed entry for '" + std::string(path) + "'");
            return;
        }
        Entry e;
        e.stamp = {static_cast<std::uint64_t>(size->get_int64()), mtime->get_int64(), std::string(handshake->get_string())};
        e.result.failure = std::string(failure->get_string());
        entries_.emplace(std::string(path), std::move(e));
    }
}

std::optional<ScanResult> ScanCache::find(const std::string& path, const FileStamp& stamp) const
{
    auto it = entries_.find(path);
    if (it == entries_.end() || !(it->second.stamp == stamp))
        return std::nullopt;
    return it->second.result;
}

void ScanCache::store(const std::string& path, const FileStamp& stamp, const ScanResult& result)
{
    entries_[path] = Entry{stamp, result};
    dirty_ = true;
}

void ScanCache::save() const
{
    if (!dirty_ || file_.empty())
        return;
    boost::json::object plugins;
    for (const auto& [path, e] : entries_)
        plugins[path] = boost::json::object{{"size", static_cast<std::int64_t>(e.stamp.size)},
                                            {"mtime_ns", e.stamp.mtime_ns},
                                            {"handshake", e.stamp.handshake},
                                            {"failure", e.result.failure}};
    const std::string text = boost::json::serialize(boost::json::object{{"version", 1}, {"plugins", std::move(plugins)}}) + "\n";
    try {
        std::filesystem::create_directories(file_.parent_path());
        checkpoint::AtomicFile out(file_);
        out.write(text.data(), text.size());
        out.commit();
    } catch (const std::exception& e) {
        log().warn("The plugin scan cache cannot be written ({}); plugins will be scanned again next time.", e.what());
    }
}

}  // namespace fairseq2::host::detail
