#pragma once

// The contract between the host and a plugin library.
//
// A plugin exports two extern "C" symbols:
//   fairseq2_plugin_info      -- a Fairseq2PluginInfo record of plain bytes,
//                                placed in the ELF section ".fairseq2_plugin",
//                                which the host checks before calling anything;
//   setup_fairseq2_extension  -- void(fairseq2::RuntimeContext&), which
//                                registers the plugin's handlers and presets.
//
// In the plugin's extension.cpp:
//
//   FAIRSEQ2_PLUGIN_INFO();
//
//   FAIRSEQ2_PLUGIN_EXPORT void setup_fairseq2_extension(fairseq2::RuntimeContext& context) { ... }
//
// FAIRSEQ2_PLUGIN_NAME and FAIRSEQ2_PLUGIN_VERSION are defined by
// fairseq2_add_plugin() from the CMake target.

#include <cstdint>

#include <torch/version.h>

#include "fairseq2/version.hpp"

#define FAIRSEQ2_PLUGIN_MAGIC 0x32736166u  // "fas2"

extern "C" {

// Fixed-size, pointer-free, so it can be read from the file without loading it.
struct Fairseq2PluginInfo {
    std::uint32_t magic;        // FAIRSEQ2_PLUGIN_MAGIC
    std::uint32_t abi_version;  // FAIRSEQ2_SDK_ABI_VERSION the plugin was built for
    char name[64];
    char version[32];
    char sdk_version[16];     // FAIRSEQ2_SDK_VERSION_STRING
    char torch_version[16];   // "1.13"
    std::int32_t cxx11_abi;   // _GLIBCXX_USE_CXX11_ABI
    std::uint32_t reserved;
};

}  // extern "C"

namespace fairseq2 {
class RuntimeContext;
}

// The signature of setup_fairseq2_extension.
using Fairseq2SetupFunction = void(fairseq2::RuntimeContext&);

#define FAIRSEQ2_PLUGIN_EXPORT extern "C" __attribute__((visibility("default")))

#define FAIRSEQ2_DETAIL_STR2(x) #x
#define FAIRSEQ2_DETAIL_STR(x) FAIRSEQ2_DETAIL_STR2(x)
#define FAIRSEQ2_TORCH_VERSION_STRING FAIRSEQ2_DETAIL_STR(TORCH_VERSION_MAJOR) "." FAIRSEQ2_DETAIL_STR(TORCH_VERSION_MINOR)

#ifndef FAIRSEQ2_PLUGIN_VERSION
#define FAIRSEQ2_PLUGIN_VERSION "0.0.0"
#endif

#define FAIRSEQ2_PLUGIN_INFO()                                                                        \
    extern "C" __attribute__((visibility("default"), used, section(".fairseq2_plugin")))            \
    const Fairseq2PluginInfo fairseq2_plugin_info = {FAIRSEQ2_PLUGIN_MAGIC,                          \
                                                     FAIRSEQ2_SDK_ABI_VERSION,                       \
                                                     FAIRSEQ2_PLUGIN_NAME,                           \
                                                     FAIRSEQ2_PLUGIN_VERSION,                        \
                                                     FAIRSEQ2_SDK_VERSION_STRING,                    \
                                                     FAIRSEQ2_TORCH_VERSION_STRING,                  \
                                                     _GLIBCXX_USE_CXX11_ABI,                         \
                                                     0u}
