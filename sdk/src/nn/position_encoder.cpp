#include "fairseq2/nn/position_encoder.hpp"

#include <cmath>

#include <ATen/ATen.h>
#include <torch/nn/init.h>

#include "cpu_kernels.hpp"
#include "fairseq2/error.hpp"
#include "kernels/rotary.hpp"
#include "rotary_table.hpp"

namespace fairseq2::nn {

namespace {

// seq_dim as a dimension index of x; throws when it is not one before the last.
std::int64_t sequence_dim(const char* what, const at::Tensor& x, std::int64_t seq_dim)
{
    if (seq_dim < 0)
        seq_dim += x.dim();
    if (seq_dim < 0 || seq_dim >= x.dim() - 1)
        throw InvalidArgumentError(std::string("The sequence dimension of the ") + what + " must be one before the last of the " +
                                   std::to_string(x.dim()) + "-dimensional input, but is " + std::to_string(seq_dim) + ".");
    return seq_dim;
}

void check_positions(const char* what, std::int64_t start_step, std::int64_t seq_len, std::int64_t max_seq_len)
{
    if (start_step < 0 || start_step + seq_len > max_seq_len)
        throw InvalidArgumentError("The sequence reaches position " + std::to_string(start_step + seq_len) +
                                   ", past the maximum sequence length " + std::to_string(max_seq_len) + " of the " + what + ".");
}

void check_encoding_dim(const char* what, std::int64_t dim)
{
    if (dim <= 0 || dim % 2 != 0)
        throw InvalidArgumentError(std::string("The ") + what + " encoding dimension must be a positive even number, but is " +
                                   std::to_string(dim) + ".");
}

}  // namespace

PositionEncoder::~PositionEncoder() = default;

at::Tensor rotary_frequencies(const RotaryEncoderOptions& options)
{
    check_encoding_dim("rotary", options.encoding_dim);
    const std::int64_t half = options.encoding_dim / 2;
    std::vector<float> freqs(static_cast<std::size_t>(half));
    for (std::int64_t i = 0; i < half; ++i) {
        double freq = std::pow(options.theta, -2.0 * static_cast<double>(i) / static_cast<double>(options.encoding_dim));
        if (options.frequency_scaler)
            freq = options.frequency_scaler(freq);
        freqs[static_cast<std::size_t>(i)] = static_cast<float>(freq);
    }
    return at::tensor(freqs, at::kFloat);
}

at::Tensor RotaryEncoder::Table::get(std::int64_t num_positions, const at::Device& device)
{
    std::lock_guard lock{mutex};
    if (!rotations.defined() || rotations.size(0) < num_positions || rotations.device() != device) {
        std::int64_t capacity = std::max<std::int64_t>(num_positions, rotations.defined() ? 2 * rotations.size(0) : 256);
        capacity = std::min(capacity, std::max(max_seq_len, num_positions));
        at::Tensor positions = at::arange(capacity, at::TensorOptions().dtype(at::kDouble));
        at::Tensor angles = at::outer(positions, freqs.to(at::kDouble)).to(at::kFloat);  // (P, d/2)
        rotations = at::polar(at::ones_like(angles), angles).to(device);
    }
    return rotations;
}

RotaryEncoder::RotaryEncoder(const RotaryEncoderOptions& options) : options_{options}, table_{std::make_unique<Table>()}
{
    if (options.max_seq_len <= 0)
        throw InvalidArgumentError("The maximum sequence length of a rotary encoder must be positive, but is " +
                                   std::to_string(options.max_seq_len) + ".");
    table_->freqs = rotary_frequencies(options);
    table_->max_seq_len = options.max_seq_len;
}

RotaryEncoder::RotaryEncoder(std::int64_t encoding_dim, std::int64_t max_seq_len, double theta)
    : RotaryEncoder(RotaryEncoderOptions{.encoding_dim = encoding_dim, .max_seq_len = max_seq_len, .theta = theta})
{
}

RotaryEncoder::~RotaryEncoder() = default;

const at::Tensor& RotaryEncoder::frequencies() const noexcept
{
    return table_->freqs;
}

namespace {

// The rotation in one pass (kernels/rotary.hpp) when x is a float32 or
// bfloat16 CPU tensor whose dimensions after seq_dim are contiguous (the
// vectors of one position lie back to back); undefined otherwise. The
// result is contiguous.
at::Tensor rotate_with_kernel(const at::Tensor& x, const at::Tensor& table, std::int64_t start_step, std::int64_t seq_dim,
                              RotaryLayout layout)
{
    if (!detail::kernel_ready(x) || !table.device().is_cpu() || !table.is_contiguous())
        return {};
    const std::int64_t dim = x.size(-1);
    std::int64_t count = 1;  // vectors per position
    for (std::int64_t k = x.dim() - 1; k > seq_dim; --k) {
        if (x.stride(k) != (k == x.dim() - 1 ? 1 : count * dim))
            return {};
        if (k < x.dim() - 1)
            count *= x.size(k);
    }
    std::int64_t outer = 1;  // index over the dimensions before seq_dim
    for (std::int64_t k = 0; k < seq_dim; ++k)
        outer *= x.size(k);
    const std::int64_t seq_len = x.size(seq_dim);
    at::Tensor y = at::empty(x.sizes(), x.options());
    if (y.numel() == 0)
        return y;
    const auto* turns = reinterpret_cast<const float*>(table.data_ptr()) + start_step * dim;
    const std::int64_t row = count * dim;  // values per position
    const bool halves = layout == RotaryLayout::halves;
    detail::for_each_chunk(outer * seq_len, 2 * row, [&](std::int64_t first, std::int64_t last) {
        for (std::int64_t index = first; index < last; ++index) {
            const std::int64_t pos = index % seq_len;
            // The offset of (outer index, pos) in x, through its strides.
            std::int64_t offset = pos * x.stride(seq_dim);
            for (std::int64_t k = seq_dim - 1, rest = index / seq_len; k >= 0; --k) {
                offset += (rest % x.size(k)) * x.stride(k);
                rest /= x.size(k);
            }
            const float* at_pos = turns + pos * dim;
            if (x.scalar_type() == at::kFloat) {
                const float* in = x.data_ptr<float>() + offset;
                float* out = y.data_ptr<float>() + index * row;
                halves ? detail::rotate_halves(in, out, count, dim, at_pos) : detail::rotate_pairs(in, out, count, dim, at_pos);
            } else {
                const auto* in = static_cast<const std::uint16_t*>(x.data_ptr()) + offset;
                auto* out = static_cast<std::uint16_t*>(y.data_ptr()) + index * row;
                halves ? detail::rotate_halves(in, out, count, dim, at_pos) : detail::rotate_pairs(in, out, count, dim, at_pos);
            }
        }
    });
    return y;
}

}  // namespace

at::Tensor RotaryEncoder::forward(const at::Tensor& x, std::int64_t start_step, std::int64_t seq_dim) const
{
    seq_dim = sequence_dim("rotary encoder", x, seq_dim);
    if (x.size(-1) != options_.encoding_dim)
        throw InvalidArgumentError("The rotary encoder turns vectors of " + std::to_string(options_.encoding_dim) +
                                   " values, but the input has " + std::to_string(x.size(-1)) + ".");
    const std::int64_t seq_len = x.size(seq_dim);
    check_positions("rotary encoder", start_step, seq_len, options_.max_seq_len);
    const at::Tensor table = table_->get(start_step + seq_len, x.device());  // (P, d/2) complex64
    if (at::Tensor y = rotate_with_kernel(x, table, start_step, seq_dim, options_.layout); y.defined())
        return y;
    at::Tensor turns = table.narrow(0, start_step, seq_len);  // (S, d/2)
    // Broadcast over the dimensions between the positions and the pairs.
    for (std::int64_t dim = seq_dim + 1; dim < x.dim() - 1; ++dim)
        turns = turns.unsqueeze(-2);

    const bool wide = x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble;
    at::Tensor x32 = wide ? x : x.to(at::kFloat);
    at::Tensor turned;
    if (options_.layout == RotaryLayout::consecutive_pairs) {
        // Consecutive pairs (x0, x1) are complex numbers x0 + i x1, turned by
        // multiplication: (x0 cos - x1 sin) + i (x0 sin + x1 cos).
        at::Tensor pairs = at::view_as_complex(x32.to(at::kFloat).unflatten(-1, {-1, 2}));
        turned = at::view_as_real(pairs * turns).flatten(-2).to(x32.scalar_type());
    } else {
        const std::int64_t half = options_.encoding_dim / 2;
        at::Tensor cos = at::real(turns).to(x32.scalar_type());
        at::Tensor sin = at::imag(turns).to(x32.scalar_type());
        at::Tensor x1 = x32.narrow(-1, 0, half);
        at::Tensor x2 = x32.narrow(-1, half, half);
        turned = at::cat({x1 * cos - x2 * sin, x2 * cos + x1 * sin}, -1);
    }
    return wide ? turned : turned.to(x.scalar_type());
}

SinusoidalPositionEncoder::SinusoidalPositionEncoder(const SinusoidalPositionEncoderOptions& options) : options{options}
{
    check_encoding_dim("sinusoidal", options.encoding_dim);
    if (options.encoding_dim < 4)
        throw InvalidArgumentError("The sinusoidal encoding dimension must be at least 4, but is " + std::to_string(options.encoding_dim) +
                                   ".");
    if (options.max_seq_len <= 0)
        throw InvalidArgumentError("The maximum sequence length of a sinusoidal encoder must be positive, but is " +
                                   std::to_string(options.max_seq_len) + ".");
    const std::int64_t offset = options.legacy_pad_idx ? *options.legacy_pad_idx + 1 : 0;
    const std::int64_t half = options.encoding_dim / 2;
    at::Tensor steps = at::arange(options.max_seq_len + offset, at::TensorOptions().dtype(at::kDouble));
    at::Tensor freqs = at::exp(at::arange(half, at::TensorOptions().dtype(at::kDouble)) * (-std::log(10000.0) / static_cast<double>(half - 1)));
    at::Tensor angles = at::outer(steps, freqs);
    table = at::cat({at::sin(angles), at::cos(angles)}, -1).to(at::kFloat);  // (P, d)
}

at::Tensor SinusoidalPositionEncoder::forward(const at::Tensor& x, std::int64_t start_step, std::int64_t seq_dim) const
{
    seq_dim = sequence_dim("sinusoidal position encoder", x, seq_dim);
    if (x.size(-1) != options.encoding_dim)
        throw InvalidArgumentError("The sinusoidal position encoder adds " + std::to_string(options.encoding_dim) +
                                   " values per position, but the input has " + std::to_string(x.size(-1)) + ".");
    const std::int64_t seq_len = x.size(seq_dim);
    check_positions("sinusoidal position encoder", start_step, seq_len, options.max_seq_len);
    const std::int64_t offset = options.legacy_pad_idx ? *options.legacy_pad_idx + 1 : 0;
    at::Tensor encodings = table.narrow(0, start_step + offset, seq_len).to(x.device());  // (S, d)
    for (std::int64_t dim = seq_dim + 1; dim < x.dim() - 1; ++dim)
        encodings = encodings.unsqueeze(-2);
    const bool wide = x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble;
    return wide ? x + encodings.to(x.scalar_type()) : (x.to(at::kFloat) + encodings).to(x.scalar_type());
}

LearnedPositionEncoder::LearnedPositionEncoder(std::int64_t encoding_dim, std::int64_t max_seq_len, const at::TensorOptions& tensor_options)
{
    if (encoding_dim <= 0 || max_seq_len <= 0)
        throw InvalidArgumentError("A learned position encoder needs a positive dimension and length, but has " +
                                   std::to_string(encoding_dim) + " and " + std::to_string(max_seq_len) + ".");
    weight = register_parameter("weight", at::empty({max_seq_len, encoding_dim}, tensor_options));
}

void LearnedPositionEncoder::reset_parameters()
{
    at::NoGradGuard no_grad;
    torch::nn::init::normal_(weight);
}

at::Tensor LearnedPositionEncoder::forward(const at::Tensor& x, std::int64_t start_step, std::int64_t seq_dim) const
{
    seq_dim = sequence_dim("learned position encoder", x, seq_dim);
    if (x.size(-1) != weight.size(1))
        throw InvalidArgumentError("The learned position encoder adds " + std::to_string(weight.size(1)) +
                                   " values per position, but the input has " + std::to_string(x.size(-1)) + ".");
    const std::int64_t seq_len = x.size(seq_dim);
    check_positions("learned position encoder", start_step, seq_len, weight.size(0));
    at::Tensor encodings = weight.narrow(0, start_step, seq_len);
    for (std::int64_t dim = seq_dim + 1; dim < x.dim() - 1; ++dim)
        encodings = encodings.unsqueeze(-2);
    return x + encodings.to(x.scalar_type());
}

}  // namespace fairseq2::nn
