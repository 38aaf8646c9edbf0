#pragma once

// Trying a plugin in a child process before the host loads it, and the cache
// of those results (internal to libfairseq2_host).

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

namespace fairseq2::host::detail {

// What the child made of a plugin: empty `failure` when it loaded, set up
// and unloaded; otherwise what happened, as a clause ("it crashed with
// SIGSEGV during setup_fairseq2_extension()").
struct ScanResult {
    std::string failure;
};

// Runs `scanner FILE` with its standard output and error on /dev/null and a
// report pipe on fd 3; kills it after `timeout`. Throws std::runtime_error
// when the child cannot be started.
ScanResult scan_in_child(const std::filesystem::path& scanner, const std::filesystem::path& file, std::chrono::milliseconds timeout);

// The scanner beside the host library (<libdir>/fairseq2/fairseq2-plugin-scanner),
// or $FAIRSEQ2_PLUGIN_SCANNER.
std::filesystem::path default_scanner_path();

// $FAIRSEQ2_CACHE_DIR/plugin-scan.json, else $XDG_CACHE_HOME/fairseq2/...,
// else ~/.cache/fairseq2/...; empty when there is no home.
std::filesystem::path default_scan_cache_file();

// What identifies a plugin file's content for the cache.
struct FileStamp {
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
    std::string handshake;  // name, version, SDK ABI and libtorch, joined

    bool operator==(const FileStamp&) const = default;
};

// Scan results by canonical path; read from and written to one JSON file
// (written to a temporary name and renamed). A file that is missing starts
// empty; one that cannot be parsed is ignored (and rewritten) with a warning.
class ScanCache {
public:
    explicit ScanCache(std::filesystem::path file);

    std::optional<ScanResult> find(const std::string& path, const FileStamp& stamp) const;
    void store(const std::string& path, const FileStamp& stamp, const ScanResult& result);
    // Writes the file when something was stored; a failure to write is a warning.
    void save() const;

private:
    struct Entry {
        FileStamp stamp;
        ScanResult result;
    };
    std::filesystem::path file_;
    std::map<std::string, Entry> entries_;
    bool dirty_ = false;
};

}  // namespace fairseq2::host::detail
