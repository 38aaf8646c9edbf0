#pragma once

// The key/value cache of one self-attention layer, kept in the incremental
// state bag under the MultiheadAttention module: keys and values of the
// positions decoded so far, (N, H_kv, capacity, d) each. The storage grows
// in steps (doubling, at most to the bag's limit) rather than per token.
// With a sliding window W it holds only the last W positions, in a ring:
// position t lives in slot t % W, so memory is bounded by the window, not
// the sequence. Attention over the cached keys does not depend on their
// order (positions are encoded before caching), so a decoding step reads
// slots [0, size()) as they lie. Internal to the SDK: MultiheadAttention
// appends tensors to it, the fused decoding step
// (models/transformer_decode_step.cpp) writes rows in place.

#include <cstdint>

#include <ATen/ATen.h>

#include "fairseq2/nn/incremental_state.hpp"

namespace fairseq2::nn::detail {

class KeyValueCache final : public IncrementalState {
public:
    // 0: unbounded. Set before the first append; throws InvalidArgumentError
    // when it changes while positions are cached.
    void set_window(std::int64_t window);
    std::int64_t window() const noexcept { return window_; }

    // Appends k and v, (N, H_kv, S, d), after the cached positions (with a
    // window, the last W of them overwrite the oldest).
    void append(const at::Tensor& k, const at::Tensor& v, std::int64_t max_num_steps);

    // Makes room for `count` more positions of N sequences of H_kv heads of
    // d values of `options` (allocating the first storage when empty), so
    // that slots slot(total()) ... can be written in place; then
    // commit(count) counts them in. Throws InvalidArgumentError when the
    // batch size differs from the cached one.
    void reserve(std::int64_t batch, std::int64_t kv_heads, std::int64_t head_dim, const at::TensorOptions& options, std::int64_t count,
                 std::int64_t max_num_steps);
    void commit(std::int64_t count) { total_ += count; }

    // The rows of the sequences new_order[i], in that order (the ring
    // layout is kept: every sequence has seen the same positions). Only the
    // held slots are copied, not the whole capacity.
    void reorder(const at::Tensor& new_order, const at::Tensor& source_order) override;

    // The slot of position t.
    std::int64_t slot(std::int64_t position) const noexcept { return window_ > 0 ? position % window_ : position; }

    // The cached keys (values), (N, H_kv, size(), d), oldest first: views
    // when the ring has not wrapped, copies when it has.
    at::Tensor keys() const { return ordered(keys_); }
    at::Tensor values() const { return ordered(values_); }

    // The storage, (N, H_kv, capacity, d) each, contiguous.
    const at::Tensor& key_buffer() const { return keys_; }
    const at::Tensor& value_buffer() const { return values_; }

    // The positions seen, and how many of them the cache holds (the last
    // ones): positions total() - size() ... total() - 1.
    std::int64_t total() const { return total_; }
    std::int64_t size() const { return window_ > 0 ? std::min(total_, window_) : total_; }

private:
    void check_batch(std::int64_t batch) const;
    at::Tensor ordered(const at::Tensor& buffer) const;

    // Copies position s of `x` (N, H_kv, S, d) into slot `slot` of `buffer`
    // for s in [first, S), position first at slot(total()); false
    // (nothing written) when the dtypes differ or autograd would record.
    bool write_rows(const at::Tensor& buffer, const at::Tensor& x, std::int64_t first) const;

    at::Tensor keys_;
    at::Tensor values_;
    std::int64_t total_ = 0;
    std::int64_t window_ = 0;
};

}  // namespace fairseq2::nn::detail
