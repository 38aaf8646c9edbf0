#include "fairseq2/nn/rotary_encoder.hpp"

#include <cmath>
#include <numbers>

#include <ATen/ATen.h>

#include "fairseq2/error.hpp"

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

at::Tensor RotaryEncoder::forward(const at::Tensor& x, std::int64_t start_step) const
{
    std::int64_t seq_len = x.size(-2);
    if (start_step + seq_len > max_seq_len)
        throw InvalidArgumentError("The sequence reaches position " + std::to_string(start_step + seq_len) +
                                   ", past the maximum sequence length " + std::to_string(max_seq_len) + " of the rotary encoder.");
    at::Tensor freqs = freqs_.to(x.device());
    at::Tensor positions = at::arange(start_step, start_step + seq_len, at::TensorOptions().dtype(at::kFloat).device(x.device()));
    at::Tensor angles = at::outer(positions, freqs);  // (S, d/2)
    at::Tensor cos = angles.cos();
    at::Tensor sin = angles.sin();

    // Pairs (x0, x1) of consecutive elements turn by their angle.
    at::Tensor pairs = x.to(at::kFloat).unflatten(-1, {-1, 2});
    at::Tensor x0 = pairs.select(-1, 0);
    at::Tensor x1 = pairs.select(-1, 1);
    at::Tensor turned = at::stack({x0 * cos - x1 * sin, x0 * sin + x1 * cos}, -1);
    return turned.flatten(-2).to(x.scalar_type());
}

}  // namespace fairseq2::nn
