#pragma once

// Token generation with a decoder model: a prefill over the prompt (in
// chunks of positions), then one incremental step per new token through the
// state bag.

#include <cstdint>
#include <functional>
#include <vector>

#include "fairseq2/version.hpp"

namespace at {
class Tensor;
}

namespace fairseq2::models {
class DecoderModel;
}

namespace fairseq2::nn {
class IncrementalStateBag;
}

namespace fairseq2::generation {

struct GenerationOptions {
    std::int64_t max_new_tokens = 32;
    // Greedy (argmax) when true; otherwise temperature and nucleus sampling.
    bool greedy = true;
    double temperature = 1.0;
    double top_p = 1.0;
    std::uint64_t seed = 0;
    // Stop when this token is generated (it is included in the output).
    std::int64_t eos_idx = -1;
    // Further ids that stop generation the same way (a tokenizer's
    // stop_ids(): EOS and the end-of-turn token).
    std::vector<std::int64_t> stop_ids;
    // Called with each new token as soon as it is chosen (streaming output).
    std::function<void(std::int64_t)> on_token;
    // Prompt positions run through the decoder at a time (0: all at once).
    // Chunks bound the memory of the activations whatever the prompt length
    // (a 512-token prompt of a 125M-parameter llama: about 70 MB of
    // temporaries at once, 30 MB in chunks of 128) at a few percent of
    // prefill speed.
    std::int64_t prefill_chunk_size = 128;
};

struct GenerationResult {
    std::vector<std::int64_t> ids;  // new tokens only
    double prefill_seconds = 0.0;   // the prompt pass and the first token
    double decode_seconds = 0.0;    // the incremental steps after it
    std::int64_t prompt_tokens = 0;
    std::int64_t decode_steps = 0;  // tokens produced by incremental steps
};

// Runs the prompts `seqs` (int64, (N, S)) through `model` into
// `state_bag`, `chunk_size` positions at a time (all at once when 0),
// advancing the bag's step number, and returns the logits of the last
// position, (N, vocab_size): no other position is projected onto the
// vocabulary. Throws InvalidArgumentError for a negative chunk size.
FAIRSEQ2_API at::Tensor prefill(models::DecoderModel& model, const at::Tensor& seqs, nn::IncrementalStateBag& state_bag,
                                std::int64_t chunk_size);

// Generates up to `options.max_new_tokens` tokens after `prompt` (one
// sequence). Throws InvalidArgumentError for an empty prompt, ids outside
// the vocabulary, a prompt plus new tokens longer than the model's
// max_seq_len, or a negative prefill_chunk_size.
FAIRSEQ2_API GenerationResult generate(models::DecoderModel& model, const std::vector<std::int64_t>& prompt,
                                       const GenerationOptions& options);

}  // namespace fairseq2::generation
