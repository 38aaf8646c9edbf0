#pragma once

// Multi-head attention with separate query and key/value inputs, so one
// module serves self-attention and encoder-decoder attention: grouped-query
// heads, a head dimension of its own, optional biases, per-head query and key
// normalisation, a position encoder (rotary) on queries and keys, a causal
// mask, a sliding window, and state kept in the incremental state bag.

#include <cstdint>
#include <memory>

#include <torch/nn/module.h>

#include "fairseq2/nn/layer_norm.hpp"
#include "fairseq2/nn/linear.hpp"
#include "fairseq2/nn/position_encoder.hpp"

namespace fairseq2::nn {

class IncrementalStateBag;
class PaddingMask;

struct MultiheadAttentionOptions {
    // The dimension of the queries' input and of the output.
    std::int64_t model_dim = 0;
    std::int64_t num_heads = 0;
    // Defaults to num_heads; must divide it. Key/value head j serves query
    // heads j * g ... j * g + g - 1 (g = num_heads / num_key_value_heads).
    std::int64_t num_key_value_heads = 0;
    // Defaults to model_dim / num_heads (which must then divide evenly).
    std::int64_t head_dim = 0;
    // The dimension of the keys' and values' input; defaults to model_dim.
    std::int64_t kv_input_dim = 0;
    // Each query attends to keys at its own position or before.
    bool causal = true;
    // When positive, each query attends to at most this many keys: its own
    // position and the window - 1 before it. In incremental decoding the
    // state keeps only the last `sliding_window` keys and values.
    std::int64_t sliding_window = 0;
    // Biases of q_proj, k_proj and v_proj, and of output_proj.
    bool qkv_bias = false;
    bool output_bias = false;
};

// Submodules (fairseq2 names): q_proj, k_proj, v_proj, output_proj, the
// optional q_norm and k_norm (over head_dim, per head, before the position
// encoder) and the optional pos_encoder (no parameters).
class FAIRSEQ2_API MultiheadAttention final : public torch::nn::Module {
public:
    // Throws InvalidArgumentError for inconsistent options or a position
    // encoder or norm of another dimension than head_dim.
    MultiheadAttention(const MultiheadAttentionOptions& options, std::shared_ptr<PositionEncoder> pos_encoder,
                       const at::TensorOptions& tensor_options, std::shared_ptr<LayerNorm> q_norm = nullptr,
                       std::shared_ptr<LayerNorm> k_norm = nullptr);
    ~MultiheadAttention() override;

    void reset_parameters();

    // Self-attention. `x`: (N, S, model_dim). With a state bag, keys and
    // values of earlier steps come from (and the new ones go to) this
    // module's state, and positions start at the bag's step number.
    // `padding_mask` masks keys: it covers every position of the sequence
    // (earlier steps included).
    at::Tensor forward(const at::Tensor& x, const PaddingMask* padding_mask, IncrementalStateBag* state_bag);

    // Attention of `queries` (N, S, model_dim) over `keys_values` (K, T,
    // kv_input_dim), such as an encoder's output, K dividing N: query
    // sequences k * N/K ... (k + 1) * N/K - 1 attend to source k (the
    // hypotheses of one source in beam search share its keys and values
    // rather than copies). `key_padding_mask` covers the K sources' T
    // positions. With a state bag, keys and values are projected on the
    // first call and kept in the bag for later steps, whose `keys_values`
    // must be the same tensor (after a reorder of the bag, the reordered
    // sources).
    at::Tensor forward(const at::Tensor& queries, const at::Tensor& keys_values, const PaddingMask* key_padding_mask,
                       IncrementalStateBag* state_bag);

    MultiheadAttentionOptions options;  // with the defaults filled in
    std::int64_t head_dim;
    std::shared_ptr<Linear> q_proj;
    std::shared_ptr<Linear> k_proj;
    std::shared_ptr<Linear> v_proj;
    std::shared_ptr<Linear> output_proj;
    std::shared_ptr<LayerNorm> q_norm;  // null without
    std::shared_ptr<LayerNorm> k_norm;  // null without
    std::shared_ptr<PositionEncoder> pos_encoder;

private:
    // Attention of projected heads: q (N, S, H, d), k and v (N, T, H_kv, d),
    // the first key at position key_start; returns (N, S, H d).
    at::Tensor attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, std::int64_t query_start, std::int64_t key_start,
                      const at::Tensor& key_padding, bool causal) const;

    struct Projections;
    std::unique_ptr<Projections> projections_;
};

}  // namespace fairseq2::nn
