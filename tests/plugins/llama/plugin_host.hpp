#pragma once

// One host per test process with the built plugins loaded (only those of
// FAIRSEQ2_TEST_PLUGIN_DIR: no FAIRSEQ2_PLUGIN_PATH, no default folder).

#include <memory>

#include "fairseq2/host/host.hpp"

namespace fairseq2::test {

inline std::shared_ptr<fairseq2::host::Host> plugin_host()
{
    static std::shared_ptr<fairseq2::host::Host> host = [] {
        auto h = std::make_shared<fairseq2::host::Host>(fairseq2::host::HostOptions{
            .plugin_dirs = {FAIRSEQ2_TEST_PLUGIN_DIR}, .use_plugin_path_env = false, .use_default_plugin_dir = false});
        h->load_plugins();
        return h;
    }();
    return host;
}

}  // namespace fairseq2::test
