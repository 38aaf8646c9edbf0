#include "fairseq2/generation/generator.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "fairseq2/error.hpp"
#include "fairseq2/models/decoder_model.hpp"
#include "fairseq2/nn/incremental_state.hpp"
#include "../nn/kernels/bfloat16.hpp"

namespace fairseq2::generation {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start)
{
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// The index of the largest of `count` logits (the first of equals; a NaN
// counts as larger than any number, as in at::argmax).
template <typename T>
std::int64_t argmax(const T* logits, std::int64_t count)
{
    std::int64_t best = 0;
    float best_value = nn::detail::widen(logits[0]);
    for (std::int64_t i = 1; i < count && !std::isnan(best_value); ++i) {
        const float value = nn::detail::widen(logits[i]);
        if (value > best_value || std::isnan(value)) {
            best = i;
            best_value = value;
        }
    }
    return best;
}

// Picks the next token from the logits (vocab) of the last position. Greedy
// picks on CPU logits read them in place: a decoding step then creates no
// tensor.
std::int64_t choose(const at::Tensor& logits, const GenerationOptions& options, at::Generator& generator)
{
    if (options.greedy || options.temperature <= 0.0) {
        if (logits.device().is_cpu() && logits.dim() == 1 && logits.stride(0) == 1 && logits.numel() > 0) {
            if (logits.scalar_type() == at::kFloat)
                return argmax(logits.data_ptr<float>(), logits.numel());
            if (logits.scalar_type() == at::kBFloat16)
                return argmax(static_cast<const std::uint16_t*>(logits.data_ptr()), logits.numel());
        }
        return logits.argmax().item<std::int64_t>();
    }
    at::Tensor probs = at::softmax(logits.to(at::kFloat) / options.temperature, -1);
    if (options.top_p < 1.0) {
        auto [sorted, indices] = probs.sort(/*dim=*/-1, /*descending=*/true);
        at::Tensor cumulative = sorted.cumsum(-1);
        // Keep the smallest prefix whose mass reaches top_p (always the first).
        at::Tensor drop = (cumulative - sorted) >= options.top_p;
        sorted.masked_fill_(drop, 0.0);
        at::Tensor pick = at::multinomial(sorted, 1, /*replacement=*/false, generator);
        return indices.index_select(0, pick).item<std::int64_t>();
    }
    return at::multinomial(probs, 1, /*replacement=*/false, generator).item<std::int64_t>();
}

void check_prompt_not_empty(bool empty)
{
    if (empty)
        throw InvalidArgumentError("The prompt is empty; give at least one token id.");
}

void check_prefill_chunk_size(std::int64_t chunk_size)
{
    if (chunk_size < 0)
        throw InvalidArgumentError("The prefill chunk size must not be negative, but is " + std::to_string(chunk_size) + ".");
}

}  // namespace

at::Tensor prefill(models::DecoderModel& model, const at::Tensor& seqs, nn::IncrementalStateBag& state_bag, std::int64_t chunk_size)
{
    check_prefill_chunk_size(chunk_size);
    const std::int64_t seq_len = seqs.size(1);
    check_prompt_not_empty(seq_len == 0);
    const std::int64_t step = chunk_size == 0 ? seq_len : chunk_size;
    at::Tensor hidden;
    for (std::int64_t first = 0; first < seq_len; first += step) {
        const std::int64_t len = std::min(step, seq_len - first);
        hidden = model.decode(seqs.narrow(1, first, len), nullptr, &state_bag);
        state_bag.increment_step_nr(len);
    }
    return model.project(hidden.narrow(1, hidden.size(1) - 1, 1)).select(1, 0);
}

GenerationResult generate(models::DecoderModel& model, const std::vector<std::int64_t>& prompt, const GenerationOptions& options)
{
    check_prompt_not_empty(prompt.empty());
    check_prefill_chunk_size(options.prefill_chunk_size);
    if (options.max_new_tokens < 0)
        throw InvalidArgumentError("The number of new tokens must not be negative, but is " + std::to_string(options.max_new_tokens) + ".");
    const std::int64_t vocab_size = model.vocab_info().size;
    for (std::int64_t id : prompt)
        if (id < 0 || id >= vocab_size)
            throw InvalidArgumentError("The prompt token id " + std::to_string(id) + " is outside the vocabulary (0 to " +
                                       std::to_string(vocab_size - 1) + ").");
    const auto total = static_cast<std::int64_t>(prompt.size()) + options.max_new_tokens;
    if (total > model.max_seq_len())
        throw InvalidArgumentError("The prompt (" + std::to_string(prompt.size()) + " tokens) plus " + std::to_string(options.max_new_tokens) +
                                   " new tokens exceed the model's maximum sequence length of " + std::to_string(model.max_seq_len()) + ".");

    GenerationResult result;
    result.prompt_tokens = static_cast<std::int64_t>(prompt.size());
    if (options.max_new_tokens == 0)
        return result;

    c10::InferenceMode inference_mode;
    at::Generator generator = at::detail::createCPUGenerator(options.seed);
    nn::IncrementalStateBag state_bag(total);
    const at::Device device = model.parameters().empty() ? at::Device(at::kCPU) : model.parameters().front().device();

    auto start = Clock::now();
    at::Tensor seqs = at::tensor(prompt, at::kLong).to(device).unsqueeze(0);
    // Only the last position's logits choose the next token: projecting the
    // whole prompt onto the vocabulary would cost as much as a layer or more.
    at::Tensor logits = prefill(model, seqs, state_bag, options.prefill_chunk_size);
    auto stops = [&](std::int64_t id) {
        return id == options.eos_idx || std::find(options.stop_ids.begin(), options.stop_ids.end(), id) != options.stop_ids.end();
    };
    std::int64_t next = choose(logits[0], options, generator);
    result.ids.push_back(next);
    result.prefill_seconds = seconds_since(start);
    if (options.on_token)
        options.on_token(next);

    start = Clock::now();
    result.ids.reserve(static_cast<std::size_t>(options.max_new_tokens));
    at::Tensor step = at::empty({1, 1}, at::TensorOptions().dtype(at::kLong).device(device));
    // The logits of the one sequence, as a view made once: decode_step()
    // of a TransformerDecoderModel returns the same buffer every step. (A
    // new buffer cannot start where the last began: `row` still holds it.)
    at::Tensor row;
    while (static_cast<std::int64_t>(result.ids.size()) < options.max_new_tokens && !stops(next)) {
        if (device.is_cpu())
            *step.data_ptr<std::int64_t>() = next;
        else
            step.fill_(next);
        logits = model.decode_step(step, state_bag);
        state_bag.increment_step_nr(1);
        if (!row.defined() || row.data_ptr() != logits.data_ptr())
            row = logits.select(0, 0);
        next = choose(row, options, generator);
        result.ids.push_back(next);
        ++result.decode_steps;
        if (options.on_token)
            options.on_token(next);
    }
    result.decode_seconds = seconds_since(start);
    return result;
}

}  // namespace fairseq2::generation
