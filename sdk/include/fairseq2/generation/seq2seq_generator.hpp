#pragma once

// Sequence-to-sequence generation with an encoder-decoder model, as
// fairseq2's BeamSearchSeq2SeqGenerator and SamplingSeq2SeqGenerator: the
// sources are encoded once as one padded batch, then the decoder extends
// each target prefix (the prompt, e.g. fairseq's "</s>" or NLLB's
// "</s> __tgt_lang__") one token per step through the state bag.
//
// Beam search keeps `beam_size` hypotheses per source. Each step takes the
// 2 x beam_size best continuations of all of them (log-probabilities plus
// the hypothesis' cumulative score); an EOS among the first beam_size
// finishes a hypothesis, the first beam_size others go on. A source is done
// with beam_size finished hypotheses, or at its length limit, where only EOS
// may follow. Finished scores are divided by (length - 1)^len_penalty,
// length counting the prompt.
//
// Each source's limit, int(max_gen_len_a * its length + max_gen_len_b),
// is its own (fairseq2 uses the longest source of the batch), so a source
// gets the same result in any batch as alone.

#include <cstdint>
#include <vector>

#include "fairseq2/version.hpp"

namespace fairseq2::models {
class EncoderDecoderModel;
}

namespace fairseq2::generation {

struct Seq2SeqGeneratorOptions {
    // Beam search when true; otherwise sampling (temperature, top_p, top_k).
    bool beam_search = true;
    std::int64_t beam_size = 5;
    // Hypotheses returned per source, best first (0: all, up to beam_size).
    std::int64_t nbest = 0;
    std::int64_t min_gen_len = 1;
    // The generated length (EOS included) is at most
    // int(max_gen_len_a * source length + max_gen_len_b), and the prompt
    // plus it at most the model's max_target_seq_len.
    double max_gen_len_a = 1.0;
    std::int64_t max_gen_len_b = 128;
    bool normalize_scores = true;
    double temperature = 1.0;
    // Subtracted from the log-probability of the unknown token.
    double unk_penalty = 0.0;
    double len_penalty = 1.0;
    // Sampling: nucleus (keep the most likely tokens whose preceding
    // cumulative probability is <= top_p) and top-k (0: off).
    double top_p = 1.0;
    std::int64_t top_k = 0;
    std::uint64_t seed = 0;
};

struct Seq2SeqHypothesis {
    // The generated ids, the prompt left out, the final EOS included.
    std::vector<std::int64_t> ids;
    double score = 0.0;
    // The log-probability each id added (the first also holds the prompt's
    // own forced log-probabilities).
    std::vector<double> step_scores;
};

struct Seq2SeqResult {
    // Per source, best first.
    std::vector<std::vector<Seq2SeqHypothesis>> hypotheses;
    double encode_seconds = 0.0;
    double decode_seconds = 0.0;
    std::int64_t decode_steps = 0;
};

// Generates for each of `sources` (token ids, unequal lengths allowed)
// after the target `prompt` (at least one id). Throws InvalidArgumentError
// for an empty source or prompt, ids outside the vocabularies, a model
// vocabulary without EOS, a prompt as long as the model's
// max_target_seq_len, or invalid options.
FAIRSEQ2_API Seq2SeqResult generate_seq2seq(models::EncoderDecoderModel& model, const std::vector<std::vector<std::int64_t>>& sources,
                                            const std::vector<std::int64_t>& prompt, const Seq2SeqGeneratorOptions& options);

}  // namespace fairseq2::generation
