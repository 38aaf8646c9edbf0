#include "fairseq2/nn/rotary_encoder.hpp"

#include <cmath>
#include <numbers>

#include <ATen/ATen.h>

#include "cpu_kernels.hpp"
#include "fairseq2/error.hpp"
#include "kernels/rotary.hpp"

namespace fairseq2::nn {

at::Tensor rotary_frequencies(std::int64_t encoding_dim, double theta, const std::optional<RopeScaling>& scaling)
{
    if (encoding_dim <= 0 || encoding_dim % 2 != 0)
        throw InvalidArgumentError("The rotary encoding dimension must be a positive even number, but is " +
                                   std::to_string(encoding_dim) + ".");
    std::int64_t half = encoding_dim / 2;
    std::vector<float> freqs(static_cast<std::size_t>(half));
    for (std::int64_t i = 0; i < half; ++i) {
        double freq = std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(encoding_dim));
        if (scaling) {
            double original = static_cast<double>(scaling->original_context_length);
            double low_freq_wavelen = original / scaling->low_freq_factor;
            double high_freq_wavelen = original / scaling->high_freq_factor;
            double wavelen = 2.0 * std::numbers::pi / freq;
            if (wavelen < high_freq_wavelen) {
                // High frequencies stay as they are.
            } else if (wavelen > low_freq_wavelen) {
                freq = freq / scaling->factor;
            } else {
                double smooth = (original / wavelen - scaling->low_freq_factor) /
                                (scaling->high_freq_factor - scaling->low_freq_factor);
                freq = (1.0 - smooth) * freq / scaling->factor + smooth * freq;
            }
        }
        freqs[static_cast<std::size_t>(i)] = static_cast<float>(freq);
    }
    return at::tensor(freqs, at::kFloat);
}

RotaryEncoder::RotaryEncoder(std::int64_t encoding_dim, std::int64_t max_seq_len, double theta, std::optional<RopeScaling> scaling)
    : encoding_dim{encoding_dim}, max_seq_len{max_seq_len}, freqs_{rotary_frequencies(encoding_dim, theta, scaling)}
{
}

at::Tensor RotaryEncoder::rotations(std::int64_t num_positions, const at::Device& device) const
{
    std::lock_guard lock{mutex_};
    if (!rotations_.defined() || rotations_.size(0) < num_positions || rotations_.device() != device) {
        std::int64_t capacity = std::max<std::int64_t>(num_positions, rotations_.defined() ? 2 * rotations_.size(0) : 256);
        capacity = std::min(capacity, std::max(max_seq_len, num_positions));
        at::Tensor positions = at::arange(capacity, at::TensorOptions().dtype(at::kDouble));
        at::Tensor angles = at::outer(positions, freqs_.to(at::kDouble)).to(at::kFloat);  // (P, d/2)
        rotations_ = at::polar(at::ones_like(angles), angles).to(device);
    }
    return rotations_;
}

namespace {

// The rotation in one pass (kernels/rotary.hpp) when x is a float32 or
// bfloat16 CPU tensor whose dimensions after seq_dim are contiguous (the
// vectors of one position lie back to back); undefined otherwise. The
// result is contiguous.
at::Tensor rotate_with_kernel(const at::Tensor& x, const at::Tensor& table, std::int64_t start_step, std::int64_t seq_dim)
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
    detail::for_each_chunk(outer * seq_len, 2 * row, [&](std::int64_t first, std::int64_t last) {
        for (std::int64_t index = first; index < last; ++index) {
            const std::int64_t pos = index % seq_len;
            // The offset of (outer index, pos) in x, through its strides.
            std::int64_t offset = pos * x.stride(seq_dim);
            for (std::int64_t k = seq_dim - 1, rest = index / seq_len; k >= 0; --k) {
                offset += (rest % x.size(k)) * x.stride(k);
                rest /= x.size(k);
            }
            if (x.scalar_type() == at::kFloat)
                detail::rotate_pairs(x.data_ptr<float>() + offset, y.data_ptr<float>() + index * row, count, dim, turns + pos * dim);
            else
                detail::rotate_pairs(static_cast<const std::uint16_t*>(x.data_ptr()) + offset,
                                     static_cast<std::uint16_t*>(y.data_ptr()) + index * row, count, dim, turns + pos * dim);
        }
    });
    return y;
}

}  // namespace

at::Tensor RotaryEncoder::forward(const at::Tensor& x, std::int64_t start_step, std::int64_t seq_dim) const
{
    if (seq_dim < 0)
        seq_dim += x.dim();
    if (seq_dim < 0 || seq_dim >= x.dim() - 1)
        throw InvalidArgumentError("The rotary encoder's sequence dimension must be one before the last of the " + std::to_string(x.dim()) +
                                   "-dimensional input, but is " + std::to_string(seq_dim) + ".");
    std::int64_t seq_len = x.size(seq_dim);
    if (start_step + seq_len > max_seq_len)
        throw InvalidArgumentError("The sequence reaches position " + std::to_string(start_step + seq_len) +
                                   ", past the maximum sequence length " + std::to_string(max_seq_len) + " of the rotary encoder.");
    const at::Tensor table = rotations(start_step + seq_len, x.device());  // (P, d/2) complex64
    if (at::Tensor y = rotate_with_kernel(x, table, start_step, seq_dim); y.defined())
        return y;
    at::Tensor turns = table.narrow(0, start_step, seq_len);  // (S, d/2)
    // Broadcast over the dimensions between the positions and the pairs.
    for (std::int64_t dim = seq_dim + 1; dim < x.dim() - 1; ++dim)
        turns = turns.unsqueeze(-2);

    // Consecutive pairs (x0, x1) are complex numbers x0 + i x1, turned by
    // multiplication: (x0 cos - x1 sin) + i (x0 sin + x1 cos).
    at::Tensor x32 = x.scalar_type() == at::kFloat ? x : x.to(at::kFloat);
    at::Tensor pairs = at::view_as_complex(x32.unflatten(-1, {-1, 2}));
    at::Tensor turned = at::view_as_real(pairs * turns).flatten(-2);
    return x.scalar_type() == at::kFloat ? turned : turned.to(x.scalar_type());
}

}  // namespace fairseq2::nn
