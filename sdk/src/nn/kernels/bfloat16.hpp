#pragma once

// bfloat16 <-> float32 for the SDK's kernels, which hold bfloat16 values as
// their bit patterns. Widening is exact; narrowing rounds to nearest, ties
// to even (as LibTorch does) and keeps a NaN a NaN. Internal to the SDK;
// torch-free.

#include <cstdint>
#include <cstring>

namespace fairseq2::nn::detail {

inline float bf16_to_float(std::uint16_t bits)
{
    const std::uint32_t wide = static_cast<std::uint32_t>(bits) << 16;
    float value;
    std::memcpy(&value, &wide, sizeof value);
    return value;
}

inline std::uint16_t float_to_bf16(float value)
{
    std::uint32_t bits;
    std::memcpy(&bits, &value, sizeof bits);
    if ((bits & 0x7fffffffu) > 0x7f800000u)
        return static_cast<std::uint16_t>((bits >> 16) | 0x0040u);  // NaN stays a (quiet) NaN
    bits += 0x7fffu + ((bits >> 16) & 1u);
    return static_cast<std::uint16_t>(bits >> 16);
}

// The kernels' element access, for templates over both storage types.
inline float widen(float value)
{
    return value;
}

inline float widen(std::uint16_t bits)
{
    return bf16_to_float(bits);
}

inline void store(float* out, float value)
{
    *out = value;
}

inline void store(std::uint16_t* out, float value)
{
    *out = float_to_bf16(value);
}

}  // namespace fairseq2::nn::detail

// Kernels marked FAIRSEQ2_CLONES are compiled twice on x86-64, for AVX2 with
// FMA (x86-64-v3) and for the baseline; the loader picks the one the CPU
// supports. (Not "arch=haswell": that clone runs only on CPUs that are a
// Haswell, not on those that merely support its instructions.)
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define FAIRSEQ2_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define FAIRSEQ2_CLONES
#endif
