// fairseq2-plugin-scanner: tries one plugin in a process of its own, so that
// a plugin that crashes, exits or hangs while it loads or sets up takes down
// this process and not the host (GStreamer's gst-plugin-scanner is the
// model). The host runs it as
//
//   fairseq2-plugin-scanner FILE
//
// with a pipe on file descriptor 3, and reads the stages it reaches, one
// line each: "loading" (before dlopen: static initialisers run), "setup"
// (before setup_fairseq2_extension), "unloading" (the setup returned or
// threw; a throw is the host's to report), "done". The host marks the
// plugin failed unless "done" arrives and the scanner exits 0. Output of the
// plugin goes wherever the host sent standard output and error.

#include <dlfcn.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string_view>

#include "fairseq2/plugin/plugin_api.hpp"
#include "fairseq2/runtime/runtime_context.hpp"

namespace {

constexpr int report_fd = 3;

void report(std::string_view stage)
{
    std::string line(stage);
    line += '\n';
    // The host reads until EOF; a short write here only loses the report.
    [[maybe_unused]] ssize_t n = ::write(report_fd, line.data(), line.size());
}

}  // namespace

int main(int argc, char** argv)
{
    if (argc != 2) {
        std::fprintf(stderr, "usage: fairseq2-plugin-scanner FILE (run by the fairseq2 host with a pipe on fd 3)\n");
        return 2;
    }
    report("loading");
    void* library = ::dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (library == nullptr) {
        // A library that does not load is a polite failure: the host's own
        // dlopen reports it with its cause.
        report("done");
        ::_exit(0);
    }
    auto setup = reinterpret_cast<Fairseq2SetupFunction*>(::dlsym(library, "setup_fairseq2_extension"));
    if (setup != nullptr) {
        report("setup");
        try {
            fairseq2::RuntimeContext scratch(argv[1]);
            setup(scratch);
        } catch (...) {
            // A throw is reported by the host when it loads the plugin itself.
        }
    }
    report("unloading");
    ::dlclose(library);
    report("done");
    // Nothing of the plugin is left to run; skip the exit handlers (a
    // sanitizer's leak check would judge the plugin's leaks, not its safety).
    std::fflush(nullptr);
    ::_exit(0);
}
