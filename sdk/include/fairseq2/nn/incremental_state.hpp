#pragma once

// State carried between the steps of incremental decoding: the step number
// (the position of the next token) and each module's own state, such as the
// key/value cache of an attention layer.

#include <cstdint>
#include <memory>
#include <unordered_map>

#include "fairseq2/version.hpp"

namespace at {
class Tensor;
}

namespace fairseq2::nn {

// Base of the per-module states a bag holds.
class FAIRSEQ2_API IncrementalState {
public:
    virtual ~IncrementalState();

    // Keeps, for each entry i of `new_order` (int64, (M)), the state of
    // sequence new_order[i] as the state of sequence i (beam search picks,
    // repeats and drops sequences). States of what several sequences share
    // (the keys and values an encoder-decoder attention projected from one
    // source, which all hypotheses of that source attend to) keep one copy
    // per source: with `source_order` (int64, (K), K dividing M), they keep
    // sources source_order[k], and the caller promises that sequences
    // k * M/K ... (k + 1) * M/K - 1 are those of source k (and passes those
    // K sources next); without it, each sequence gets its own copy of its
    // source's. The default throws InvalidArgumentError: a state must say
    // how it reorders.
    virtual void reorder(const at::Tensor& new_order, const at::Tensor& source_order);
};

class FAIRSEQ2_API IncrementalStateBag {
public:
    // `max_num_steps` bounds the total number of positions (prompt plus
    // generated tokens); modules size their caches from it.
    explicit IncrementalStateBag(std::int64_t max_num_steps);
    IncrementalStateBag(const IncrementalStateBag&) = delete;
    IncrementalStateBag& operator=(const IncrementalStateBag&) = delete;
    ~IncrementalStateBag();

    std::int64_t step_nr() const noexcept { return step_nr_; }
    std::int64_t max_num_steps() const noexcept { return max_num_steps_; }

    // Advances the step number by the number of positions just processed;
    // throws InvalidArgumentError when that passes max_num_steps.
    void increment_step_nr(std::int64_t count = 1);

    // The state of `module`, or nullptr.
    IncrementalState* get_state(const void* module) const;

    void set_state(const void* module, std::unique_ptr<IncrementalState> state);

    // Reorders every module's state along the batch (see
    // IncrementalState::reorder; `source_order` may be undefined); the step
    // number is unchanged. Throws InvalidArgumentError for orders that are
    // not 1-D int64 tensors or a source order that does not divide the new
    // batch.
    void reorder(const at::Tensor& new_order, const at::Tensor& source_order);
    void reorder(const at::Tensor& new_order);

    template <typename State>
    State* get_state_as(const void* module) const
    {
        return static_cast<State*>(get_state(module));
    }

    // The state of `module`, a new default-constructed State when it has
    // none yet.
    template <typename State>
    State& get_or_add_state(const void* module)
    {
        if (auto* state = get_state_as<State>(module))
            return *state;
        auto owned = std::make_unique<State>();
        State& state = *owned;
        set_state(module, std::move(owned));
        return state;
    }

private:
    std::int64_t step_nr_ = 0;
    std::int64_t max_num_steps_;
    std::unordered_map<const void*, std::unique_ptr<IncrementalState>> states_;
};

}  // namespace fairseq2::nn
