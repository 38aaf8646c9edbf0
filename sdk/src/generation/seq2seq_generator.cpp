#include "fairseq2/generation/seq2seq_generator.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <optional>
#include <string>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>

#include "fairseq2/error.hpp"
#include "fairseq2/models/encoder_decoder_model.hpp"
#include "fairseq2/nn/incremental_state.hpp"
#include "fairseq2/nn/padding_mask.hpp"

namespace fairseq2::generation {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start)
{
    return std::chrono::duration<double>(Clock::now() - start).count();
}

constexpr float minus_inf = -std::numeric_limits<float>::infinity();

void check_options(const Seq2SeqGeneratorOptions& options)
{
    const auto fail = [](const std::string& what) { throw InvalidArgumentError("Invalid generation option: " + what + "."); };
    if (options.beam_search && options.beam_size < 1)
        fail("the beam size must be at least 1, but is " + std::to_string(options.beam_size));
    if (options.nbest < 0)
        fail("nbest must not be negative, but is " + std::to_string(options.nbest));
    if (options.beam_search && options.nbest > options.beam_size)
        fail("nbest (" + std::to_string(options.nbest) + ") must not exceed the beam size (" + std::to_string(options.beam_size) + ")");
    if (options.min_gen_len < 1)
        fail("the minimum generation length must be at least 1, but is " + std::to_string(options.min_gen_len));
    if (!std::isfinite(options.max_gen_len_a) || options.max_gen_len_a < 0.0)
        fail("max_gen_len_a must be a finite number >= 0, but is " + std::to_string(options.max_gen_len_a));
    if (!(options.temperature > 0.0) || !std::isfinite(options.temperature))
        fail("the temperature must be positive, but is " + std::to_string(options.temperature));
    if (!std::isfinite(options.len_penalty) || !std::isfinite(options.unk_penalty))
        fail("the length and unknown-token penalties must be finite");
    if (!(options.top_p > 0.0 && options.top_p <= 1.0))
        fail("top_p must be in (0, 1], but is " + std::to_string(options.top_p));
    if (options.top_k < 0)
        fail("top_k must not be negative, but is " + std::to_string(options.top_k));
}

// One hypothesis being extended.
struct Row {
    std::size_t source = 0;
    std::vector<std::int64_t> seq;  // prompt included
    std::vector<double> cum;        // cumulative score at each position
};

class Generation {
public:
    Generation(models::EncoderDecoderModel& model, const std::vector<std::vector<std::int64_t>>& sources,
               const std::vector<std::int64_t>& prompt, const Seq2SeqGeneratorOptions& options)
        : model_{model}, sources_{sources}, prompt_{prompt}, options_{options}
    {
    }

    Seq2SeqResult run();

private:
    void encode();
    void prefill_prompt();
    // The logits (R, V) of the next token of each row at position `step`,
    // divided by the temperature and processed (the unknown-token penalty,
    // no pad, EOS only where allowed, only EOS at a source's last step), and
    // the log-sum-exp of each row before processing, so that logits - lse
    // are the processed log-probabilities (R) (the full log-softmax is
    // never written).
    std::pair<at::Tensor, at::Tensor> next_logits(std::int64_t step);
    void beam_step(std::int64_t step, const at::Tensor& logits, const at::Tensor& lse, std::vector<Row>& next,
                   std::vector<std::int64_t>& order);
    void sampling_step(std::int64_t step, const at::Tensor& logits, const at::Tensor& lse, std::vector<Row>& next,
                       std::vector<std::int64_t>& order);
    void finish(const Row& row, std::int64_t step, double score);
    // Reorders the state bag for the rows `next`, taken from rows `order`,
    // and selects the encoder output they attend to.
    void reorder(const std::vector<Row>& next, const std::vector<std::int64_t>& order);
    void select_encoder_rows(const std::vector<std::size_t>& sources);

    models::EncoderDecoderModel& model_;
    const std::vector<std::vector<std::int64_t>>& sources_;
    const std::vector<std::int64_t>& prompt_;
    Seq2SeqGeneratorOptions options_;

    std::int64_t eos_ = 0;
    std::optional<std::int64_t> pad_;
    std::optional<std::int64_t> unk_;
    std::int64_t prompt_len_ = 0;
    std::int64_t min_seq_len_ = 0;
    std::vector<std::int64_t> max_seq_len_;  // per source

    at::Tensor source_lens_;  // per source
    std::int64_t source_batch_len_ = 0;
    bool padded_ = false;
    at::Tensor full_encoder_output_;  // per source
    // What the decoder attends to: the encoder output of the sources
    // encoder_sources_ (one per group of rows, or one per row).
    std::vector<std::size_t> encoder_sources_;
    at::Tensor encoder_output_;
    std::optional<nn::PaddingMask> encoder_mask_;
    std::optional<nn::IncrementalStateBag> bag_;
    std::vector<Row> rows_;
    at::Generator generator_;

    Seq2SeqResult result_;
};

void Generation::encode()
{
    const auto n = static_cast<std::int64_t>(sources_.size());
    std::int64_t longest = 0;
    std::vector<std::int64_t> lens;
    for (std::size_t i = 0; i < sources_.size(); ++i) {
        if (sources_[i].empty())
            throw InvalidArgumentError("Source " + std::to_string(i) + " is empty; every source needs at least one token.");
        lens.push_back(static_cast<std::int64_t>(sources_[i].size()));
        longest = std::max(longest, lens.back());
    }
    if (longest > model_.max_source_seq_len())
        throw InvalidArgumentError("A source has " + std::to_string(longest) + " tokens, more than the model's maximum of " +
                                   std::to_string(model_.max_source_seq_len()) + ".");
    const std::int64_t fill = model_.source_vocab_info().pad_idx.value_or(0);
    at::Tensor ids = at::full({n, longest}, fill, at::kLong);
    auto* data = ids.data_ptr<std::int64_t>();
    for (std::int64_t i = 0; i < n; ++i)
        std::copy(sources_[static_cast<std::size_t>(i)].begin(), sources_[static_cast<std::size_t>(i)].end(), data + i * longest);
    source_lens_ = at::tensor(lens, at::kLong);
    source_batch_len_ = longest;
    padded_ = std::any_of(lens.begin(), lens.end(), [&](std::int64_t len) { return len != longest; });

    const at::Device device = model_.parameters().empty() ? at::Device(at::kCPU) : model_.parameters().front().device();
    ids = ids.to(device);
    std::optional<nn::PaddingMask> mask;
    if (padded_)
        mask.emplace(source_lens_.to(device), longest);
    models::EncoderOutput encoded = model_.encode(ids, mask ? &*mask : nullptr);
    full_encoder_output_ = encoded.output;
    encoder_output_ = encoded.output;
    encoder_mask_ = encoded.padding_mask;
    for (std::size_t i = 0; i < sources_.size(); ++i)
        encoder_sources_.push_back(i);
}

void Generation::select_encoder_rows(const std::vector<std::size_t>& sources)
{
    if (sources == encoder_sources_)
        return;
    std::vector<std::int64_t> index(sources.begin(), sources.end());
    const at::Tensor rows = at::tensor(index, at::kLong);
    encoder_output_ = full_encoder_output_.index_select(0, rows.to(full_encoder_output_.device()));
    if (padded_)
        encoder_mask_.emplace(source_lens_.index_select(0, rows).to(encoder_output_.device()), source_batch_len_);
    encoder_sources_ = sources;
}

std::pair<at::Tensor, at::Tensor> Generation::next_logits(std::int64_t step)
{
    const auto r = static_cast<std::int64_t>(rows_.size());
    at::Tensor last = at::empty({r, 1}, at::kLong);
    auto* ids = last.data_ptr<std::int64_t>();
    for (std::int64_t i = 0; i < r; ++i)
        ids[i] = rows_[static_cast<std::size_t>(i)].seq.back();
    const nn::PaddingMask* mask = encoder_mask_ ? &*encoder_mask_ : nullptr;
    at::Tensor logits = model_.project(model_.decode(last.to(encoder_output_.device()), nullptr, encoder_output_, mask, &*bag_));
    bag_->increment_step_nr();
    ++result_.decode_steps;

    logits = logits.select(1, 0).to(at::kCPU, at::kFloat).contiguous();
    if (options_.temperature != 1.0)
        logits = logits / options_.temperature;
    const at::Tensor lse = at::logsumexp(logits, -1).contiguous();
    // A NaN anywhere in a row makes its log-sum-exp NaN.
    if (lse.isnan().any().item<bool>())
        throw Error("The model produced NaN probabilities at step " + std::to_string(step) + "; generation cannot continue.");

    const std::int64_t vocab = logits.size(1);
    auto* values = logits.data_ptr<float>();
    for (std::int64_t i = 0; i < r; ++i) {
        float* row = values + i * vocab;
        if (step == max_seq_len_[rows_[static_cast<std::size_t>(i)].source] - 1) {
            // The last step this source may take: only EOS, whatever its score.
            const float eos = row[eos_];
            std::fill(row, row + vocab, minus_inf);
            row[eos_] = eos;
            continue;
        }
        if (unk_ && *unk_ < vocab)
            row[*unk_] -= static_cast<float>(options_.unk_penalty);
        if (pad_ && *pad_ < vocab)
            row[*pad_] = minus_inf;
        if (step < min_seq_len_ - 1)
            row[eos_] = minus_inf;
    }
    return {logits, lse};
}

void Generation::prefill_prompt()
{
    // The prompt's forced tokens after the first are scored as fairseq2
    // does: their log-probabilities are summed into the first step score.
    const auto n = static_cast<std::int64_t>(rows_.size());
    const std::int64_t len = prompt_len_ - 1;
    at::Tensor ids = at::tensor(prompt_, at::kLong).narrow(0, 0, len).unsqueeze(0).expand({n, len}).contiguous();
    const nn::PaddingMask* mask = encoder_mask_ ? &*encoder_mask_ : nullptr;
    at::Tensor logits = model_.project(model_.decode(ids.to(encoder_output_.device()), nullptr, encoder_output_, mask, &*bag_));
    bag_->increment_step_nr(len);
    logits = logits.to(at::kCPU, at::kFloat);
    if (options_.temperature != 1.0)
        logits = logits / options_.temperature;
    at::Tensor lprobs = at::log_softmax(logits, -1);
    at::Tensor targets = at::tensor(prompt_, at::kLong).narrow(0, 1, len).view({1, len, 1}).expand({n, len, 1});
    at::Tensor scores = lprobs.gather(-1, targets).squeeze(-1).to(at::kDouble).cumsum(-1).contiguous();  // (N, P - 1)
    const auto* s = scores.data_ptr<double>();
    for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t j = 0; j < len; ++j)
            rows_[static_cast<std::size_t>(i)].cum.push_back(s[i * len + j]);
}

void Generation::finish(const Row& row, std::int64_t step, double score)
{
    Seq2SeqHypothesis hypothesis;
    hypothesis.ids.assign(row.seq.begin() + prompt_len_, row.seq.end());
    hypothesis.ids.push_back(eos_);
    std::vector<double> cum(row.cum.begin() + prompt_len_, row.cum.end());
    cum.push_back(score);
    hypothesis.step_scores.resize(cum.size());
    for (std::size_t k = 0; k < cum.size(); ++k)
        hypothesis.step_scores[k] = k == 0 ? cum[0] : cum[k] - cum[k - 1];
    // The first position (the prompt's first token) always scores 0, so the
    // length the score is normalised by leaves it out.
    hypothesis.score = options_.normalize_scores ? score / std::pow(static_cast<double>(step), options_.len_penalty) : score;
    result_.hypotheses[row.source].push_back(std::move(hypothesis));
}

void Generation::beam_step(std::int64_t step, const at::Tensor& logits, const at::Tensor& lse, std::vector<Row>& next,
                           std::vector<std::int64_t>& order)
{
    const std::int64_t vocab = logits.size(1);
    const std::int64_t beam = options_.beam_size;
    // The best 2 x beam continuations of a source are among the best
    // 2 x beam of each of its rows (a row's constant, its log-sum-exp and
    // cumulative score, does not change the order within the row).
    const std::int64_t k = std::min(2 * beam, vocab);
    auto [top_logits, top_tokens] = at::topk(logits, k, 1);
    top_logits = top_logits.contiguous();
    top_tokens = top_tokens.contiguous();
    const auto* best = top_logits.data_ptr<float>();
    const auto* tokens = top_tokens.data_ptr<std::int64_t>();
    const auto* row_lse = lse.data_ptr<float>();

    struct Candidate {
        float score;
        std::size_t row;
        std::int64_t token;
    };
    std::vector<Candidate> candidates;
    std::size_t begin = 0;
    while (begin < rows_.size()) {
        const std::size_t source = rows_[begin].source;
        std::size_t end = begin;
        while (end < rows_.size() && rows_[end].source == source)
            ++end;

        candidates.clear();
        for (std::size_t r = begin; r < end; ++r) {
            // As fairseq2: float32 log-probabilities plus the float32
            // cumulative score.
            const float cum = static_cast<float>(rows_[r].cum.back());
            for (std::int64_t j = 0; j < k; ++j) {
                const auto at = static_cast<std::int64_t>(r) * k + j;
                candidates.push_back(Candidate{(best[at] - row_lse[r]) + cum, r, tokens[at]});
            }
        }
        const std::size_t wanted = std::min<std::size_t>(static_cast<std::size_t>(2 * beam), candidates.size());
        std::partial_sort(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(wanted), candidates.end(),
                          [](const Candidate& a, const Candidate& b) {
                              if (a.score != b.score)
                                  return a.score > b.score;
                              return a.row != b.row ? a.row < b.row : a.token < b.token;
                          });

        std::vector<const Candidate*> kept;
        bool complete = false;
        for (std::size_t j = 0; j < wanted; ++j) {
            const Candidate& c = candidates[j];
            if (c.token == eos_) {
                // EOS counts only among the best beam_size candidates.
                if (static_cast<std::int64_t>(j) < beam) {
                    finish(rows_[c.row], step, c.score);
                    if (static_cast<std::int64_t>(result_.hypotheses[source].size()) == beam) {
                        complete = true;
                        break;
                    }
                }
                continue;
            }
            if (static_cast<std::int64_t>(kept.size()) < beam)
                kept.push_back(&c);
        }
        if (!complete && step < max_seq_len_[source] - 1) {
            for (const Candidate* c : kept) {
                Row row = rows_[c->row];
                row.seq.push_back(c->token);
                row.cum.push_back(c->score);
                next.push_back(std::move(row));
                order.push_back(static_cast<std::int64_t>(c->row));
            }
        }
        begin = end;
    }
}

void Generation::sampling_step(std::int64_t step, const at::Tensor& logits, const at::Tensor& lse, std::vector<Row>& next,
                               std::vector<std::int64_t>& order)
{
    const at::Tensor lprobs = (logits - lse.unsqueeze(1)).contiguous();
    at::Tensor probs = lprobs.exp();
    if (options_.top_k > 0 && options_.top_k < probs.size(1)) {
        at::Tensor kth = std::get<0>(probs.topk(options_.top_k, -1)).narrow(1, options_.top_k - 1, 1);
        probs = probs.masked_fill(probs < kth, 0.0);
    }
    if (options_.top_p < 1.0) {
        auto [sorted, indices] = probs.sort(-1, true);
        at::Tensor preceding = sorted.cumsum(-1) - sorted;
        sorted = sorted.masked_fill(preceding > options_.top_p, 0.0);
        probs = at::zeros_like(probs).scatter(-1, indices, sorted);
    }
    at::Tensor chosen = at::multinomial(probs, 1, false, generator_).contiguous();
    const auto* tokens = chosen.data_ptr<std::int64_t>();
    const std::int64_t vocab = lprobs.size(1);
    const auto* values = lprobs.data_ptr<float>();
    for (std::size_t i = 0; i < rows_.size(); ++i) {
        const std::int64_t token = tokens[i];
        const double score = rows_[i].cum.back() + values[static_cast<std::int64_t>(i) * vocab + token];
        if (token == eos_) {
            finish(rows_[i], step, score);
            continue;
        }
        if (step >= max_seq_len_[rows_[i].source] - 1)
            continue;
        Row row = rows_[i];
        row.seq.push_back(token);
        row.cum.push_back(score);
        next.push_back(std::move(row));
        order.push_back(static_cast<std::int64_t>(i));
    }
}

void Generation::reorder(const std::vector<Row>& next, const std::vector<std::int64_t>& order)
{
    // Rows stay grouped by source. With as many rows for every source, the
    // encoder-decoder attention keeps one copy of each source's keys and
    // values; otherwise (a beam that kept fewer hypotheses) one per row.
    std::vector<std::size_t> groups;
    std::vector<std::size_t> group_sizes;
    for (const Row& row : next) {
        if (groups.empty() || groups.back() != row.source) {
            groups.push_back(row.source);
            group_sizes.push_back(0);
        }
        ++group_sizes.back();
    }
    const bool uniform = std::all_of(group_sizes.begin(), group_sizes.end(), [&](std::size_t n) { return n == group_sizes.front(); });
    at::Tensor index = at::tensor(order, at::kLong);
    if (uniform) {
        // Each source's keys and values, from where they are now.
        std::vector<std::int64_t> source_order;
        for (const std::size_t source : groups)
            source_order.push_back(std::find(encoder_sources_.begin(), encoder_sources_.end(), source) - encoder_sources_.begin());
        bag_->reorder(index, at::tensor(source_order, at::kLong));
        select_encoder_rows(groups);
    } else {
        bag_->reorder(index);
        std::vector<std::size_t> per_row;
        for (const Row& row : next)
            per_row.push_back(row.source);
        select_encoder_rows(per_row);
    }
}

Seq2SeqResult Generation::run()
{
    check_options(options_);
    const VocabularyInfo& vocab = model_.target_vocab_info();
    if (!vocab.eos_idx)
        throw InvalidArgumentError("The model's target vocabulary has no EOS token, which generation needs to end a sequence.");
    eos_ = *vocab.eos_idx;
    pad_ = vocab.pad_idx;
    unk_ = vocab.unk_idx;
    if (prompt_.empty())
        throw InvalidArgumentError("The target prompt is empty; it needs at least one token (e.g. EOS, as fairseq starts a target).");
    for (const std::int64_t id : prompt_)
        if (id < 0 || id >= vocab.size)
            throw InvalidArgumentError("The prompt token id " + std::to_string(id) + " is outside the target vocabulary (0 to " +
                                       std::to_string(vocab.size - 1) + ").");
    prompt_len_ = static_cast<std::int64_t>(prompt_.size());
    const std::int64_t model_max = model_.max_target_seq_len();
    if (prompt_len_ >= model_max)
        throw InvalidArgumentError("The prompt has " + std::to_string(prompt_len_) + " tokens; it must be shorter than the model's maximum of " +
                                   std::to_string(model_max) + " target positions.");

    result_.hypotheses.assign(sources_.size(), {});
    if (sources_.empty())
        return std::move(result_);

    c10::InferenceMode inference;
    const auto encode_start = Clock::now();
    encode();
    result_.encode_seconds = seconds_since(encode_start);

    min_seq_len_ = std::min(model_max, prompt_len_ + options_.min_gen_len);
    std::int64_t bag_steps = 0;
    for (const auto& source : sources_) {
        const double limit = options_.max_gen_len_a * static_cast<double>(source.size()) + static_cast<double>(options_.max_gen_len_b);
        const std::int64_t gen_len = limit >= static_cast<double>(model_max) ? model_max : std::max<std::int64_t>(1, static_cast<std::int64_t>(limit));
        max_seq_len_.push_back(std::min(model_max, prompt_len_ + gen_len));
        bag_steps = std::max(bag_steps, max_seq_len_.back());
    }

    const auto decode_start = Clock::now();
    bag_.emplace(bag_steps);
    generator_ = at::make_generator<at::CPUGeneratorImpl>(options_.seed);
    for (std::size_t i = 0; i < sources_.size(); ++i) {
        Row row;
        row.source = i;
        row.seq = prompt_;
        row.cum.push_back(0.0);
        rows_.push_back(std::move(row));
    }
    if (prompt_len_ > 1)
        prefill_prompt();

    for (std::int64_t step = prompt_len_; step < bag_steps && !rows_.empty(); ++step) {
        auto [logits, lse] = next_logits(step);
        std::vector<Row> next;
        std::vector<std::int64_t> order;
        if (options_.beam_search)
            beam_step(step, logits, lse, next, order);
        else
            sampling_step(step, logits, lse, next, order);
        if (next.empty())
            break;
        reorder(next, order);
        rows_ = std::move(next);
    }
    result_.decode_seconds = seconds_since(decode_start);

    const std::int64_t keep = options_.nbest > 0 ? options_.nbest : std::numeric_limits<std::int64_t>::max();
    for (auto& hypotheses : result_.hypotheses) {
        std::stable_sort(hypotheses.begin(), hypotheses.end(), [](const auto& a, const auto& b) { return a.score > b.score; });
        if (static_cast<std::int64_t>(hypotheses.size()) > keep)
            hypotheses.resize(static_cast<std::size_t>(keep));
    }
    return std::move(result_);
}

}  // namespace

Seq2SeqResult generate_seq2seq(models::EncoderDecoderModel& model, const std::vector<std::vector<std::int64_t>>& sources,
                               const std::vector<std::int64_t>& prompt, const Seq2SeqGeneratorOptions& options)
{
    return Generation(model, sources, prompt, options).run();
}

}  // namespace fairseq2::generation
