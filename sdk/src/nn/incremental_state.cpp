#include "fairseq2/nn/incremental_state.hpp"

#include <string>

#include <ATen/ATen.h>

#include "fairseq2/error.hpp"

namespace fairseq2::nn {

IncrementalState::~IncrementalState() = default;

void IncrementalState::reorder(const at::Tensor& /*new_order*/, const at::Tensor& /*source_order*/)
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
    reorder(new_order, at::Tensor());
}

void IncrementalStateBag::reorder(const at::Tensor& new_order, const at::Tensor& source_order)
{
    const auto check = [](const at::Tensor& order, const char* what) {
        if (order.dim() != 1 || order.scalar_type() != at::kLong)
            throw InvalidArgumentError(std::string("The ") + what + " of a state bag must be a 1-D int64 tensor, but has shape " +
                                       c10::str(order.sizes()) + " and type " + std::string(c10::toString(order.scalar_type())) + ".");
    };
    check(new_order, "new order");
    if (source_order.defined()) {
        check(source_order, "source order");
        if (source_order.numel() == 0 || new_order.numel() % source_order.numel() != 0)
            throw InvalidArgumentError("The source order of a state bag must divide its new order: " + std::to_string(source_order.numel()) +
                                       " sources for " + std::to_string(new_order.numel()) + " sequences.");
    }
    for (auto& [module, state] : states_)
        state->reorder(new_order, source_order);
}

void IncrementalStateBag::set_state(const void* module, std::unique_ptr<IncrementalState> state)
{
    states_[module] = std::move(state);
}

}  // namespace fairseq2::nn
