#pragma once

// The key/value cache of one attention layer, kept in the incremental state
// bag under the MultiheadAttention module: keys and values of the positions
// decoded so far, (N, H_kv, capacity, d) each. The storage grows in steps
// (doubling, at most to the bag's limit) rather than per token. Internal to
// the SDK: MultiheadAttention appends tensors to it, the fused decoding step
// (models/transformer_decode_step.cpp) writes rows in place.

#include <cstdint>

#include <ATen/ATen.h>

#include "fairseq2/nn/incremental_state.hpp"

namespace fairseq2::nn::detail {

class KeyValueCache final : public IncrementalState {
public:
    // Appends k and v, (N, H_kv, S, d), after the cached positions.
    void append(const at::Tensor& k, const at::Tensor& v, std::int64_t max_num_steps);

    // Makes room for `count` more positions of N sequences of H_kv heads of
    // d values of `options` (allocating the first storage when empty), so
    // that rows size() .. size() + count - 1 can be written in place; then
    // commit(count) counts them in. Throws InvalidArgumentError when the
    // batch size differs from the cached one.
    void reserve(std::int64_t batch, std::int64_t kv_heads, std::int64_t head_dim, const at::TensorOptions& options, std::int64_t count,
                 std::int64_t max_num_steps);
    void commit(std::int64_t count) { size_ += count; }

    at::Tensor keys() const { return keys_.narrow(2, 0, size_); }
    at::Tensor values() const { return values_.narrow(2, 0, size_); }

    // The storage, (N, H_kv, capacity, d) each, contiguous, and how many
    // positions it holds.
    const at::Tensor& key_buffer() const { return keys_; }
    const at::Tensor& value_buffer() const { return values_; }
    std::int64_t size() const { return size_; }

private:
    void check_batch(std::int64_t batch) const;

    // Copies the rows of `x` (N, H_kv, S, d) after the cached positions of
    // `buffer` with memcpy: false (nothing written) when the dtypes differ
    // or autograd would have to record.
    bool write_rows(const at::Tensor& buffer, const at::Tensor& x) const;

    at::Tensor keys_;
    at::Tensor values_;
    std::int64_t size_ = 0;
};

}  // namespace fairseq2::nn::detail
