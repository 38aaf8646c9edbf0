// Llama 3.1's RoPE frequency scaling, which lives in the llama plugin
// (plugins/llama/factory.cpp, compiled into this test), checked against
// its formula: wavelen < orig/high keeps the frequency, wavelen > orig/low
// divides it by the factor, and in between smooth = (orig/wavelen -
// low)/(high - low), freq = (1-smooth) freq/f + smooth freq.

#include <cmath>
#include <numbers>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "factory.hpp"
#include "fairseq2/nn/position_encoder.hpp"

namespace {

using fairseq2::models::llama::LLaMARopeScalingConfig;
using fairseq2::models::llama::llama3_frequency_scaler;

TEST(LlamaRopeScalingTest, ScaledFrequenciesFollowTheLlama31Formula)
{
    struct Case {
        std::int64_t dim;
        double theta;
        LLaMARopeScalingConfig scaling;
    };
    std::vector<Case> cases{
        {16, 10000.0, LLaMARopeScalingConfig{8.0, {1.0, 4.0}, 32}},
        {128, 500000.0, LLaMARopeScalingConfig{8.0, {1.0, 4.0}, 8192}},  // Llama 3.1 8B
        {64, 500000.0, LLaMARopeScalingConfig{32.0, {1.0, 4.0}, 8192}},  // Llama 3.2 factor
    };
    for (const auto& c : cases) {
        fairseq2::nn::RotaryEncoderOptions options{.encoding_dim = c.dim, .max_seq_len = 64, .theta = c.theta};
        options.frequency_scaler = llama3_frequency_scaler(c.scaling);
        at::Tensor freqs = fairseq2::nn::rotary_frequencies(options);
        ASSERT_EQ(freqs.sizes(), (at::IntArrayRef{c.dim / 2}));
        int kept = 0, smoothed = 0, scaled = 0;
        const double orig = static_cast<double>(c.scaling.original_context_length);
        const double low = c.scaling.frequency_factors[0];
        const double high = c.scaling.frequency_factors[1];
        for (std::int64_t i = 0; i < c.dim / 2; ++i) {
            double freq = std::pow(c.theta, -2.0 * static_cast<double>(i) / static_cast<double>(c.dim));
            double wavelen = 2.0 * std::numbers::pi / freq;
            double expected;
            if (wavelen < orig / high) {
                expected = freq;
                ++kept;
            } else if (wavelen > orig / low) {
                expected = freq / c.scaling.factor;
                ++scaled;
            } else {
                double smooth = (orig / wavelen - low) / (high - low);
                expected = (1.0 - smooth) * freq / c.scaling.factor + smooth * freq;
                ++smoothed;
            }
            EXPECT_NEAR(freqs[i].item<double>(), expected, 1e-6 * expected) << "dim " << c.dim << " i " << i;
        }
        // Every branch is exercised.
        EXPECT_GT(kept, 0) << c.dim;
        EXPECT_GT(smoothed, 0) << c.dim;
        EXPECT_GT(scaled, 0) << c.dim;
    }
}

}  // namespace
