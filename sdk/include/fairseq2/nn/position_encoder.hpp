#pragma once

// Position encoders: rotary encodings applied to queries and keys inside
// attention (llama, qwen, mistral), and sinusoidal or learned encodings added
// to the embeddings of a front end (the NLLB transformer). Families choose
// through the PositionEncoder interface.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include <torch/nn/module.h>

#include "fairseq2/version.hpp"

namespace fairseq2::nn {

class FAIRSEQ2_API PositionEncoder : public torch::nn::Module {
public:
    ~PositionEncoder() override;

    // `x`: (..., S, ..., encoding_dim()) with positions along `seq_dim` (by
    // default -2: (..., S, d)), the first at `start_step`. Throws
    // InvalidArgumentError past max_seq_len().
    virtual at::Tensor forward(const at::Tensor& x, std::int64_t start_step, std::int64_t seq_dim = -2) const = 0;

    virtual std::int64_t encoding_dim() const noexcept = 0;
    virtual std::int64_t max_seq_len() const noexcept = 0;
};

// Which elements a rotation turns together: consecutive pairs (x[2i],
// x[2i+1]) as fairseq2's RotaryEncoder and Meta's checkpoints, or the two
// halves (x[i], x[i + d/2]) as Hugging Face's "rotate_half" and fairseq2's
// ReferenceRotaryEncoder (qwen).
enum class RotaryLayout { consecutive_pairs, halves };

struct RotaryEncoderOptions {
    std::int64_t encoding_dim = 0;  // even
    std::int64_t max_seq_len = 0;
    double theta = 10000.0;
    RotaryLayout layout = RotaryLayout::consecutive_pairs;
    // Maps each frequency theta^(-2i/d) to the one used, for a family's
    // frequency scaling (Llama 3.1's lives in the llama plugin); empty:
    // unchanged.
    std::function<double(double)> frequency_scaler;
};

// The frequencies theta^(-2i/d) for i < d/2, each passed through
// options.frequency_scaler when it is set, float32.
FAIRSEQ2_API at::Tensor rotary_frequencies(const RotaryEncoderOptions& options);

// Pair i at position p turns by p * frequency_i, computed in float32 and
// returned in x's dtype. No parameters; the frequencies are computed from the
// options (not in the state dict).
class FAIRSEQ2_API RotaryEncoder final : public PositionEncoder {
public:
    explicit RotaryEncoder(const RotaryEncoderOptions& options);

    // Consecutive pairs, no scaling.
    RotaryEncoder(std::int64_t encoding_dim, std::int64_t max_seq_len, double theta);

    ~RotaryEncoder() override;

    at::Tensor forward(const at::Tensor& x, std::int64_t start_step, std::int64_t seq_dim = -2) const override;

    std::int64_t encoding_dim() const noexcept override { return options_.encoding_dim; }
    std::int64_t max_seq_len() const noexcept override { return options_.max_seq_len; }
    RotaryLayout layout() const noexcept { return options_.layout; }
    const RotaryEncoderOptions& options() const noexcept { return options_; }

    // The float32 frequencies, (d/2).
    const at::Tensor& frequencies() const noexcept;

    // Implementation state: the table of turns, grown as longer sequences
    // arrive. Defined in the SDK's sources.
    struct Table;
    Table& table() const noexcept { return *table_; }

private:
    RotaryEncoderOptions options_;
    std::unique_ptr<Table> table_;
};

struct SinusoidalPositionEncoderOptions {
    std::int64_t encoding_dim = 0;  // even
    std::int64_t max_seq_len = 0;
    // fairseq's legacy padding offset: with a pad index p, step s is encoded
    // as position s + p + 1 (fairseq make_positions, NLLB checkpoints).
    std::optional<std::int64_t> legacy_pad_idx;
};

// Adds sin/cos encodings as fairseq: the first half of the dimensions are
// sin(position * f_i), the second half cos(position * f_i), f_i =
// exp(-i * ln(10000) / (d/2 - 1)). No parameters.
class FAIRSEQ2_API SinusoidalPositionEncoder final : public PositionEncoder {
public:
    explicit SinusoidalPositionEncoder(const SinusoidalPositionEncoderOptions& options);

    at::Tensor forward(const at::Tensor& x, std::int64_t start_step, std::int64_t seq_dim = -2) const override;

    std::int64_t encoding_dim() const noexcept override { return options.encoding_dim; }
    std::int64_t max_seq_len() const noexcept override { return options.max_seq_len; }

    // The encodings of positions [0, max_seq_len + offset), float32.
    at::Tensor table;
    SinusoidalPositionEncoderOptions options;
};

// Adds a learned encoding per position: parameter `weight` (max_seq_len,
// encoding_dim).
class FAIRSEQ2_API LearnedPositionEncoder final : public PositionEncoder {
public:
    LearnedPositionEncoder(std::int64_t encoding_dim, std::int64_t max_seq_len, const at::TensorOptions& tensor_options);

    // Normal(0, 1), as torch.nn.Embedding.
    void reset_parameters();

    at::Tensor forward(const at::Tensor& x, std::int64_t start_step, std::int64_t seq_dim = -2) const override;

    std::int64_t encoding_dim() const noexcept override { return weight.size(1); }
    std::int64_t max_seq_len() const noexcept override { return weight.size(0); }

    at::Tensor weight;
};

}  // namespace fairseq2::nn
