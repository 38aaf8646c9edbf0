#pragma once

// Token generation with a decoder model: one prefill pass over the prompt,
// then one incremental step per new token through the state bag.

#include <cstdint>
#include <functional>
#include <vector>

#include "fairseq2/version.hpp"

namespace fairseq2::models {
class DecoderModel;
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
};

struct GenerationResult {
    std::vector<std::int64_t> ids;  // new tokens only
    double prefill_seconds = 0.0;   // the prompt pass and the first token
    double decode_seconds = 0.0;    // the incremental steps after it
    std::int64_t prompt_tokens = 0;
    std::int64_t decode_steps = 0;  // tokens produced by incremental steps
};

// Generates up to `options.max_new_tokens` tokens after `prompt` (one
// sequence). Throws InvalidArgumentError for an empty prompt, ids outside
// the vocabulary, or a prompt plus new tokens longer than the model's
// max_seq_len.
FAIRSEQ2_API GenerationResult generate(models::DecoderModel& model, const std::vector<std::int64_t>& prompt,
                                       const GenerationOptions& options);

}  // namespace fairseq2::generation
