#include "fairseq2/nn/incremental_state.hpp"

#include <string>

#include <ATen/ATen.h>

#include "fairseq2/error.hpp"

namespace fairseq2::nn {

IncrementalState::~IncrementalState() = default;

void IncrementalState::reorder(const at::Tensor& /*new_order*/)
{
    throw InvalidArgumentError("A module state of this incremental state bag cannot be reordered.");
}

IncrementalStateBag::IncrementalStateBag(std::int64_t max_num_steps) : max_num_steps_{max_num_steps}
{
    if (max_num_steps <= 0)
        throw InvalidArgumentError("The maximum number of steps of a state bag must be positive, but is " +
                                   std::to_string(max_num_steps) + ".");
}

IncrementalStateBag::~IncrementalStateBag() = default;

void IncrementalStateBag::increment_step_nr(std::int64_t count)
{
    if (step_nr_ + count > max_num_steps_)
        throw InvalidArgumentError("The state bag would reach step " + std::to_string(step_nr_ + count) +
                                   ", past its maximum of " + std::to_string(max_num_steps_) + " steps.");
    step_nr_ += count;
}

IncrementalState* IncrementalStateBag::get_state(const void* module) const
{
    auto it = states_.find(module);
    return it == states_.end() ? nullptr : it->second.get();
}

void IncrementalStateBag::reorder(const at::Tensor& new_order)
{
    if (new_order.dim() != 1 || new_order.scalar_type() != at::kLong)
        throw InvalidArgumentError("The new order of a state bag must be a 1-D int64 tensor, but has shape " + c10::str(new_order.sizes()) +
                                   " and type " + std::string(c10::toString(new_order.scalar_type())) + ".");
    for (auto& [module, state] : states_)
        state->reorder(new_order);
}

void IncrementalStateBag::set_state(const void* module, std::unique_ptr<IncrementalState> state)
{
    states_[module] = std::move(state);
}

}  // namespace fairseq2::nn
