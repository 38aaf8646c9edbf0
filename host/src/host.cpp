#include "fairseq2/host/host.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <atomic>
#include <thread>

#define BOOST_DLL_USE_STD_FS
#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>

#include "fairseq2/error.hpp"
#include "fairseq2/host/plugin_inspector.hpp"
#include "fairseq2/logging.hpp"
#include "fairseq2/models/model_handler.hpp"
#include "fairseq2/plugin/plugin_api.hpp"
#include "plugin_scan.hpp"

namespace fairseq2::host {

namespace {

using Library = boost::dll::shared_library;

// The text dlerror() gave for a failed load, from Boost.DLL's message
// "... (dlerror system message: TEXT): ...".
std::string loader_message(const std::string& what)
{
    const std::string marker = "(dlerror system message: ";
    const auto begin = what.find(marker);
    const auto end = what.rfind(')');
    if (begin == std::string::npos || end == std::string::npos || end < begin + marker.size())
        return what;
    return what.substr(begin + marker.size(), end - begin - marker.size());
}

// Opens a plugin whose handshake was checked; throws PluginFileError with
// the loader's cause and what to do.
std::shared_ptr<Library> open_library(const std::filesystem::path& file)
{
    try {
        return std::make_shared<Library>(file, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
    } catch (const std::exception& error) {
        const std::string message = loader_message(error.what());
        static const std::regex missing_library(R"(^(.+): cannot open shared object file: (.+)$)");
        static const std::regex undefined_symbol(R"(undefined symbol: (\S+))");
        std::smatch match;
        if (std::regex_search(message, match, missing_library) && match[1].str() != file.string())
            throw PluginFileError(file, "it needs the shared library '" + match[1].str() + "', which cannot be found (" + match[2].str() +
                                            "); install it, or add the folder that holds it to LD_LIBRARY_PATH.");
        if (std::regex_search(message, match, undefined_symbol))
            throw PluginFileError(file, "it cannot be loaded because the symbol '" + match[1].str() +
                                            "' it uses is not defined by this host's libraries (" + message +
                                            "); rebuild the plugin against this host's fairseq2 SDK and libtorch.");
        throw PluginFileError(file, "it cannot be loaded (" + message + "); rebuild or reinstall the plugin.");
    }
}

// "... Known ..." -> "... known ..." to continue a sentence after a colon,
// without its final period.
std::string as_clause(std::string message)
{
    if (message.size() > 1 && std::isupper(static_cast<unsigned char>(message[0])) &&
        !std::isupper(static_cast<unsigned char>(message[1])))
        message[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(message[0])));
    while (!message.empty() && (message.back() == '.' || message.back() == ' '))
        message.pop_back();
    return message;
}

std::optional<bool> parse_yes_no(std::string text)
{
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (text == "1" || text == "true" || text == "yes" || text == "on")
        return true;
    if (text.empty() || text == "0" || text == "false" || text == "no" || text == "off")
        return false;
    return std::nullopt;
}

}  // namespace

struct Host::Impl {
    HostOptions options;
    RuntimeContext context{"host"};
    std::vector<PluginRecord> records;
    bool loaded = false;

    // Plugin vetting (HostOptions::scan_plugins), set up by load_plugins().
    bool scan = false;
    std::chrono::milliseconds scan_timeout{0};
    std::filesystem::path scanner;
    std::unique_ptr<detail::ScanCache> cache;
    std::set<std::string> fresh;  // scanned by this host, not read from the cache

    // A plugin file found in a plugin folder, with its handshake read once
    // for both the scan and the load (or why it could not be read).
    struct Candidate {
        std::filesystem::path file;
        std::optional<PluginHandshake> handshake;
        std::exception_ptr error;  // set when inspect_plugin() threw
    };

    void load_one(const Candidate& candidate);
    void start_scanning();
    void prescan(const std::vector<Candidate>& candidates);
    detail::FileStamp stamp_of(const std::filesystem::path& file, const PluginHandshake& handshake) const;
    // What the child made of the plugin ("" when it passed).
    std::string vet(const std::filesystem::path& file, const PluginHandshake& handshake);
};

void Host::Impl::start_scanning()
{
    scan = options.scan_plugins;
    if (scan && options.use_plugin_scan_env)
        if (const char* env = std::getenv("FAIRSEQ2_PLUGIN_SCAN"); env != nullptr && *env != '\0') {
            auto value = parse_yes_no(env);
            if (!value)
                throw InvalidArgumentError(std::string("FAIRSEQ2_PLUGIN_SCAN is '") + env +
                                           "', which is not a yes/no value; set it to 0 to load plugins without trying them in a child "
                                           "process, or to 1.");
            scan = *value;
        }
    if (!scan)
        return;
    scan_timeout = options.scan_timeout;
    if (const char* env = std::getenv("FAIRSEQ2_PLUGIN_SCAN_TIMEOUT"); env != nullptr && *env != '\0') {
        char* end = nullptr;
        double seconds = std::strtod(env, &end);
        if (end == env || *end != '\0' || !(seconds > 0))
            throw InvalidArgumentError(std::string("FAIRSEQ2_PLUGIN_SCAN_TIMEOUT is '") + env + "'; give a positive number of seconds.");
        scan_timeout = std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000));
    }
    scanner = detail::default_scanner_path();
    std::error_code error;
    if (scanner.empty() || !std::filesystem::is_regular_file(scanner, error)) {
        log().warn("The plugin scanner '{}' is missing, so plugins are loaded without being tried in a separate process first; a plugin "
                   "that crashes will take this process down. Reinstall fairseq2, or set FAIRSEQ2_PLUGIN_SCAN=0 to silence this.",
                   scanner.string());
        scan = false;
        return;
    }
    cache = std::make_unique<detail::ScanCache>(options.scan_cache_file.empty() ? detail::default_scan_cache_file() : options.scan_cache_file);
}

detail::FileStamp Host::Impl::stamp_of(const std::filesystem::path& file, const PluginHandshake& handshake) const
{
    std::error_code error;
    detail::FileStamp stamp;
    stamp.size = std::filesystem::file_size(file, error);
    stamp.mtime_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::filesystem::last_write_time(file, error).time_since_epoch()).count();
    stamp.handshake = handshake.name + "|" + handshake.version + "|" + std::to_string(handshake.abi_version) + "|" + handshake.torch_version +
                      "|" + handshake.sdk_version;
    return stamp;
}

void Host::Impl::prescan(const std::vector<Candidate>& candidates)
{
    // The plugins a child must try: compatible, and not in the cache.
    struct Job {
        std::filesystem::path file;
        std::string canonical;
        detail::FileStamp stamp;
        std::optional<detail::ScanResult> result;
        double seconds = 0;
    };
    std::vector<Job> jobs;
    for (const auto& candidate : candidates) {
        // An unreadable or incompatible file is load_one()'s to report.
        if (!candidate.handshake || !incompatibility(*candidate.handshake).empty())
            continue;
        std::error_code error;
        Job job{candidate.file, std::filesystem::weakly_canonical(candidate.file, error).string(),
                stamp_of(candidate.file, *candidate.handshake), std::nullopt, 0};
        if (!cache->find(job.canonical, job.stamp))
            jobs.push_back(std::move(job));
    }
    if (jobs.empty())
        return;
    // As many children at once as the machine has hardware threads.
    const std::size_t width = std::max<std::size_t>(1, std::min<std::size_t>(std::thread::hardware_concurrency(), jobs.size()));
    std::atomic<std::size_t> next{0};
    std::vector<std::thread> workers;
    for (std::size_t w = 0; w < width; ++w)
        workers.emplace_back([&] {
            for (std::size_t i; (i = next.fetch_add(1)) < jobs.size();) {
                const auto start = std::chrono::steady_clock::now();
                try {
                    jobs[i].result = detail::scan_in_child(scanner, jobs[i].file, scan_timeout);
                } catch (const std::exception&) {
                    // vet() tries again and reports it.
                }
                jobs[i].seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            }
        });
    for (auto& w : workers)
        w.join();
    for (const auto& job : jobs)
        if (job.result) {
            log().debug("Plugin {}: tried in a separate process in {:.3f} s ({}).", job.file.string(), job.seconds,
                        job.result->failure.empty() ? "passed" : job.result->failure);
            cache->store(job.canonical, job.stamp, *job.result);
            fresh.insert(job.canonical);
        }
}

std::string Host::Impl::vet(const std::filesystem::path& file, const PluginHandshake& handshake)
{
    std::error_code error;
    const auto canonical = std::filesystem::weakly_canonical(file, error).string();
    const detail::FileStamp stamp = stamp_of(file, handshake);
    if (auto cached = cache->find(canonical, stamp)) {
        if (!fresh.count(canonical))
            log().debug("Plugin {}: scan result from the cache ({}).", file.string(), cached->failure.empty() ? "passed" : "failed");
        return cached->failure;
    }
    const auto start = std::chrono::steady_clock::now();
    detail::ScanResult result;
    try {
        result = detail::scan_in_child(scanner, file, scan_timeout);
    } catch (const std::exception& e) {
        // Not the plugin's fault: load it as without scanning, uncached.
        log().warn("Plugin {} could not be tried in a separate process ({}); loading it directly.", file.string(), e.what());
        return {};
    }
    log().debug("Plugin {}: tried in a separate process in {:.3f} s ({}).", file.string(),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
                result.failure.empty() ? "passed" : result.failure);
    cache->store(canonical, stamp, result);
    return result.failure;
}

Host::Host(HostOptions options) : impl_{std::make_unique<Impl>()}
{
    impl_->options = std::move(options);
}

Host::~Host() = default;

RuntimeContext& Host::context() noexcept
{
    return impl_->context;
}

const std::vector<PluginRecord>& Host::plugins() const noexcept
{
    return impl_->records;
}

std::filesystem::path Host::default_plugin_dir()
{
    boost::system::error_code error;
    auto location = boost::dll::this_line_location(error);
    if (error)
        return {};
    // The loader may have found the library through a run path such as
    // $ORIGIN/../lib; report <prefix>/lib/..., not <prefix>/bin/../lib/....
    return (std::filesystem::path(location).parent_path() / "fairseq2" / "plugins").lexically_normal();
}

std::vector<std::filesystem::path> Host::plugin_search_path() const
{
    std::vector<std::filesystem::path> dirs = impl_->options.plugin_dirs;
    if (impl_->options.use_plugin_path_env) {
        if (const char* env = std::getenv("FAIRSEQ2_PLUGIN_PATH"); env != nullptr) {
            std::stringstream stream(env);
            std::string item;
            while (std::getline(stream, item, ':'))
                if (!item.empty())
                    dirs.emplace_back(item);
        }
    }
    if (impl_->options.use_default_plugin_dir) {
        auto dir = default_plugin_dir();
        if (!dir.empty())
            dirs.push_back(dir);
    }
    std::vector<std::filesystem::path> unique;
    std::set<std::filesystem::path> seen;
    for (auto& dir : dirs) {
        std::error_code error;
        auto canonical = std::filesystem::weakly_canonical(dir, error);
        if (seen.insert(error ? dir : canonical).second)
            unique.push_back(dir);
    }
    return unique;
}

void Host::load_plugins()
{
    if (impl_->loaded)
        return;
    impl_->loaded = true;
    impl_->start_scanning();
    std::vector<std::filesystem::path> all;
    for (const auto& dir : plugin_search_path()) {
        std::error_code error;
        if (!std::filesystem::is_directory(dir, error)) {
            log().warn("The plugin folder '{}' does not exist; skipping it.", dir.string());
            continue;
        }
        // Every `.so` file is a candidate, whatever its name.
        std::vector<std::filesystem::path> files;
        std::filesystem::directory_iterator it(dir, error), end;
        for (; !error && it != end; it.increment(error)) {
            std::error_code type_error;
            if (it->path().extension() == ".so" && !it->is_directory(type_error))
                files.push_back(it->path());
        }
        if (error) {
            log().warn("The plugin folder '{}' cannot be read ({}); skipping it.", dir.string(), error.message());
            continue;
        }
        std::sort(files.begin(), files.end());
        all.insert(all.end(), files.begin(), files.end());
    }
    std::vector<Impl::Candidate> candidates;
    candidates.reserve(all.size());
    for (const auto& file : all) {
        Impl::Candidate candidate{file, std::nullopt, nullptr};
        try {
            candidate.handshake = inspect_plugin(file);
        } catch (...) {
            candidate.error = std::current_exception();
        }
        candidates.push_back(std::move(candidate));
    }
    // The children of the plugins not in the scan cache run side by side;
    // the plugins are then loaded one by one, in order.
    if (impl_->scan)
        impl_->prescan(candidates);
    for (const auto& candidate : candidates)
        impl_->load_one(candidate);
    if (impl_->cache)
        impl_->cache->save();
    if (strict_plugins())
        require_all_plugins_loaded();
}

void Host::Impl::load_one(const Candidate& candidate)
{
    const std::filesystem::path& file = candidate.file;
    PluginRecord record;
    record.file = file;
    try {
        // The handshake was read from the file first: a plugin built for
        // another SDK or libtorch is refused with that cause before the
        // loader sees its undefined symbols.
        if (candidate.error)
            std::rethrow_exception(candidate.error);
        const PluginHandshake& handshake = *candidate.handshake;
        record.name = handshake.name;
        record.version = handshake.version;
        if (std::string reason = incompatibility(handshake); !reason.empty())
            throw PluginFileError(file, reason);
        if (scan)
            if (std::string failure = vet(file, handshake); !failure.empty())
                throw PluginFileError(file, failure + ", so it was not loaded into this one; fix the plugin or remove it from the plugin folder.");

        std::shared_ptr<Library> library = open_library(file);
        // The loaded image must be the file inspected (it may have been
        // replaced in between).
        if (!library->has("fairseq2_plugin_info") || !library->has("setup_fairseq2_extension") ||
            library->get<const Fairseq2PluginInfo>("fairseq2_plugin_info").abi_version != handshake.abi_version)
            throw PluginFileError(file, "it changed while it was being loaded; load the plugins again.");
        auto& setup = library->get<Fairseq2SetupFunction>("setup_fairseq2_extension");

        // Stage the plugin's registrations, then commit them all or none.
        {
            RuntimeContext staged(file.string());
            std::string failure;
            try {
                setup(staged);
            } catch (const std::exception& error) {
                failure = std::string("its setup_fairseq2_extension() threw \"") + error.what() + "\"";
            } catch (...) {
                failure = "its setup_fairseq2_extension() threw an exception that is not a std::exception";
            }
            if (!failure.empty())
                throw PluginFileError(file, failure + ", so nothing it registered was kept; fix the plugin or remove it from the plugin folder.");
            record.families = staged.get_registry<models::ModelHandler>().keys();
            // A family registered twice is the usual conflict; name it and
            // both files. Other keys are reported by merge() below.
            const auto handlers = context.get_registry<models::ModelHandler>();
            for (const auto& family : record.families)
                if (handlers.contains(family))
                    throw PluginFileError(file, "its model family '" + family + "' is already registered by " + handlers.origin_of(family) +
                                                    ", so " + file.string() +
                                                    " cannot register it too; remove one of the two plugins from the plugin search path.");
            try {
                context.merge(staged, std::static_pointer_cast<const void>(library));
            } catch (const Error& error) {
                throw PluginFileError(file, "its registrations conflict with those of a plugin loaded before it: " + as_clause(error.what()) +
                                                "; remove one of the two plugins from the plugin search path.");
            }
        }
        record.status = PluginStatus::loaded;
        log().debug("Loaded plugin '{}' {} from {} (families: {}).", record.name, record.version, file.string(),
                    record.families.empty() ? std::string("none") : [&] {
                        std::string list;
                        for (const auto& family : record.families)
                            list += (list.empty() ? "" : ", ") + family;
                        return list;
                    }());
    } catch (const PluginFileError& error) {
        record.error = error.reason();
    } catch (const std::exception& error) {
        record.error = std::string("loading it failed unexpectedly (") + error.what() + "); report this as a fairseq2 bug.";
    }
    if (record.status != PluginStatus::loaded) {
        record.families.clear();
        log().error("Skipping plugin {}: {}", file.string(), record.error);
    }
    records.push_back(std::move(record));
}

bool Host::strict_plugins() const
{
    if (impl_->options.strict_plugins)
        return true;
    if (!impl_->options.use_strict_plugins_env)
        return false;
    const char* env = std::getenv("FAIRSEQ2_STRICT_PLUGINS");
    if (env == nullptr)
        return false;
    if (auto value = parse_yes_no(env))
        return *value;
    throw InvalidArgumentError(std::string("FAIRSEQ2_STRICT_PLUGINS is '") + env +
                               "', which is not a yes/no value; set it to 1 (or true, yes, on) or 0 (or false, no, off).");
}

void Host::require_all_plugins_loaded() const
{
    std::vector<const PluginRecord*> failed;
    for (const auto& record : impl_->records)
        if (record.status != PluginStatus::loaded)
            failed.push_back(&record);
    if (failed.empty())
        return;
    std::string message = std::to_string(failed.size()) + (failed.size() == 1 ? " plugin" : " plugins") +
                          " failed to load and strict plugin loading is on (--strict-plugins or FAIRSEQ2_STRICT_PLUGINS): ";
    for (std::size_t i = 0; i < failed.size(); ++i)
        message += (i == 0 ? "" : "; ") + failed[i]->file.string() + " (" + as_clause(failed[i]->error) + ")";
    throw PluginError(message + "; fix or remove them, or load without strict mode.");
}

}  // namespace fairseq2::host
