#pragma once

// Versions of the fairseq2 SDK. A plugin records FAIRSEQ2_SDK_ABI_VERSION at
// build time; the host refuses plugins built for another ABI.

#define FAIRSEQ2_SDK_VERSION_MAJOR 0
#define FAIRSEQ2_SDK_VERSION_MINOR 1
#define FAIRSEQ2_SDK_VERSION_PATCH 0
#define FAIRSEQ2_SDK_VERSION_STRING "0.1.0"

// Bumped whenever a public SDK type changes layout or a virtual signature.
#define FAIRSEQ2_SDK_ABI_VERSION 7

// Marks symbols of libfairseq2_sdk that plugins and embedders link against;
// the library is built with hidden visibility, so nothing else is exported.
#define FAIRSEQ2_API __attribute__((visibility("default")))
