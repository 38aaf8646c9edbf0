#pragma once

// Attention of one query position per sequence (a decoding step) over a
// key/value cache, in raw memory: softmax(q k^T * scale) v for each query
// head, in float32, with grouped-query heads reading their shared key/value
// head in place (nothing repeated or copied, bfloat16 widened in
// registers). The ATen formulation of the same step takes about twenty
// operations per layer, two of them batched BLAS products that cost more
// than the arithmetic at these sizes. Internal to the SDK; torch-free.

#include <cstdint>

namespace fairseq2::nn::detail {

template <typename T>
struct DecodeAttentionArgs {
    // Query head h of sequence n: head_dim values at queries + n * query_stride + h * head_dim.
    const T* queries = nullptr;
    std::int64_t query_stride = 0;
    // Key (and value) of key/value head j at position t of sequence n:
    // head_dim values at keys + n * cache_stride + j * head_stride + t * head_dim.
    const T* keys = nullptr;
    const T* values = nullptr;
    std::int64_t cache_stride = 0;
    std::int64_t head_stride = 0;
    // Output of query head h of sequence n: head_dim values at out + n * out_stride + h * head_dim.
    T* out = nullptr;
    std::int64_t out_stride = 0;
    std::int64_t num_heads = 0;  // query heads per sequence
    std::int64_t group = 1;      // query heads per key/value head: head h reads key/value head h / group
    std::int64_t num_keys = 0;   // positions 0 .. num_keys - 1, all visible
    std::int64_t head_dim = 0;
    float scale = 1.0f;
};

// Scratch floats attend_one_position() needs per call.
inline std::int64_t decode_attention_scratch(std::int64_t num_keys, std::int64_t head_dim)
{
    return num_keys + 2 * head_dim;
}

// Heads [first, last) of the flattened (sequence, query head) index
// n * num_heads + h; `scratch` holds decode_attention_scratch() floats.
void attend_one_position(const DecodeAttentionArgs<float>& args, std::int64_t first, std::int64_t last, float* scratch);
void attend_one_position(const DecodeAttentionArgs<std::uint16_t>& args, std::int64_t first, std::int64_t last, float* scratch);

}  // namespace fairseq2::nn::detail
