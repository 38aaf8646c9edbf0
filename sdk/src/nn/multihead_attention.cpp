#include "fairseq2/nn/multihead_attention.hpp"

#include <cmath>
#include <limits>

#include <ATen/ATen.h>

#include "fairseq2/error.hpp"
#include "fairseq2/nn/incremental_state.hpp"
#include "fairseq2/nn/padding_mask.hpp"
#include "serial_section.hpp"

namespace fairseq2::nn {

namespace {

// Keys and values of the steps decoded so far, (N, H_kv, capacity, d). The
// storage grows in steps (doubling, at most to the bag's limit) rather than
// per token.
class KeyValueCache final : public IncrementalState {
public:
    void append(const at::Tensor& k, const at::Tensor& v, std::int64_t max_num_steps)
    {
        if (keys_.defined() && k.size(0) != keys_.size(0))
            throw InvalidArgumentError("The batch size changed from " + std::to_string(keys_.size(0)) + " to " +
                                       std::to_string(k.size(0)) + " between incremental decoding steps of one state bag.");
        std::int64_t needed = size_ + k.size(2);
        if (!keys_.defined() || needed > keys_.size(2)) {
            std::int64_t capacity = keys_.defined() ? keys_.size(2) * 2 : 256;
            capacity = std::min(std::max(capacity, needed), std::max(max_num_steps, needed));
            at::Tensor keys = at::empty({k.size(0), k.size(1), capacity, k.size(3)}, k.options());
            at::Tensor values = at::empty({v.size(0), v.size(1), capacity, v.size(3)}, v.options());
            if (size_ > 0) {
                keys.narrow(2, 0, size_).copy_(keys_.narrow(2, 0, size_));
                values.narrow(2, 0, size_).copy_(values_.narrow(2, 0, size_));
            }
            keys_ = std::move(keys);
            values_ = std::move(values);
        }
        keys_.narrow(2, size_, k.size(2)).copy_(k);
        values_.narrow(2, size_, v.size(2)).copy_(v);
        size_ = needed;
    }

    at::Tensor keys() const { return keys_.narrow(2, 0, size_); }
    at::Tensor values() const { return values_.narrow(2, 0, size_); }

private:
    at::Tensor keys_;
    at::Tensor values_;
    std::int64_t size_ = 0;
};

}  // namespace

MultiheadAttention::MultiheadAttention(const MultiheadAttentionOptions& options, std::shared_ptr<RotaryEncoder> pos_encoder,
                                       const at::TensorOptions& tensor_options)
    : options{options}
{
    if (this->options.num_key_value_heads == 0)
        this->options.num_key_value_heads = options.num_heads;
    const auto& o = this->options;
    if (o.num_heads <= 0 || o.model_dim <= 0 || o.model_dim % o.num_heads != 0)
        throw InvalidArgumentError("The number of attention heads (" + std::to_string(o.num_heads) +
                                   ") must be positive and divide the model dimension (" + std::to_string(o.model_dim) + ").");
    if (o.num_key_value_heads <= 0 || o.num_heads % o.num_key_value_heads != 0)
        throw InvalidArgumentError("The number of key/value heads (" + std::to_string(o.num_key_value_heads) +
                                   ") must be positive and divide the number of attention heads (" + std::to_string(o.num_heads) + ").");
    head_dim = o.model_dim / o.num_heads;
    std::int64_t kv_dim = head_dim * o.num_key_value_heads;
    q_proj = register_module("q_proj", std::make_shared<Linear>(o.model_dim, o.model_dim, o.bias, tensor_options));
    k_proj = register_module("k_proj", std::make_shared<Linear>(o.model_dim, kv_dim, o.bias, tensor_options));
    v_proj = register_module("v_proj", std::make_shared<Linear>(o.model_dim, kv_dim, o.bias, tensor_options));
    qkv_proj_ = std::make_unique<FusedProjection>(std::vector<std::shared_ptr<Linear>>{q_proj, k_proj, v_proj});
    output_proj = register_module("output_proj", std::make_shared<Linear>(o.model_dim, o.model_dim, o.bias, tensor_options));
    if (pos_encoder) {
        if (pos_encoder->encoding_dim != head_dim)
            throw InvalidArgumentError("The rotary encoding dimension (" + std::to_string(pos_encoder->encoding_dim) +
                                       ") must equal the head dimension (" + std::to_string(head_dim) + ").");
        this->pos_encoder = register_module("pos_encoder", std::move(pos_encoder));
    }
}

void MultiheadAttention::reset_parameters()
{
    q_proj->reset_parameters();
    k_proj->reset_parameters();
    v_proj->reset_parameters();
    output_proj->reset_parameters();
}

at::Tensor MultiheadAttention::forward(const at::Tensor& x, const PaddingMask* padding_mask, IncrementalStateBag* state_bag)
{
    const std::int64_t batch = x.size(0);
    const std::int64_t seq_len = x.size(1);
    const std::int64_t kv_heads = options.num_key_value_heads;
    const std::int64_t group = options.num_heads / kv_heads;
    const std::int64_t start = state_bag != nullptr ? state_bag->step_nr() : 0;

    // Query heads h = kv * group + g share key/value head kv. The queries of
    // one key/value head, (G, S) of them, become the rows of one matrix, so
    // both products below are plain batched matmuls over (N, H_kv): keys and
    // values are never repeated or broadcast (which would copy them).
    const std::int64_t q_dim = options.num_heads * head_dim;
    const std::int64_t kv_dim = kv_heads * head_dim;
    at::Tensor qkv = qkv_proj_->forward_joined(x);  // (N, S, q_dim + 2 kv_dim)
    at::Tensor qk = qkv.narrow(-1, 0, q_dim + kv_dim).view({batch, seq_len, options.num_heads + kv_heads, head_dim});
    at::Tensor v = qkv.narrow(-1, q_dim + kv_dim, kv_dim).view({batch, seq_len, kv_heads, head_dim}).transpose(1, 2);  // (N, H_kv, S, d)

    // Queries and keys turn in one call, positions along dimension 1.
    if (pos_encoder)
        qk = pos_encoder->forward(qk, start, 1);
    at::Tensor q = qk.narrow(2, 0, options.num_heads).view({batch, seq_len, kv_heads, group, head_dim}).permute({0, 2, 3, 1, 4});
    at::Tensor k = qk.narrow(2, options.num_heads, kv_heads).transpose(1, 2);  // (N, H_kv, S, d)

    if (state_bag != nullptr) {
        auto* cache = state_bag->get_state_as<KeyValueCache>(this);
        if (cache == nullptr) {
            auto owned = std::make_unique<KeyValueCache>();
            cache = owned.get();
            state_bag->set_state(this, std::move(owned));
        }
        cache->append(k, v, state_bag->max_num_steps());
        k = cache->keys();
        v = cache->values();
    }
    const std::int64_t key_len = k.size(2);

    const std::int64_t batch_heads = batch * kv_heads;
    at::Tensor q3 = q.reshape({batch_heads, group * seq_len, head_dim});
    // Decoding steps multiply a few rows per head: too little to share.
    const std::int64_t work = batch_heads * group * seq_len * key_len * head_dim;
    at::Tensor scores;
    {
        detail::SerialSection serial{work};
        scores = at::bmm(q3, k.reshape({batch_heads, key_len, head_dim}).transpose(1, 2));  // (N H_kv, G S, T)
    }
    scores = scores.to(at::kFloat).mul_(1.0 / std::sqrt(static_cast<double>(head_dim)));
    at::Tensor scores5 = scores.view({batch, kv_heads, group, seq_len, key_len});

    if (options.causal && !(seq_len == 1 && key_len == start + 1)) {
        at::Tensor query_pos = at::arange(start, start + seq_len, at::TensorOptions().dtype(at::kLong).device(x.device()));
        at::Tensor key_pos = at::arange(key_len, at::TensorOptions().dtype(at::kLong).device(x.device()));
        at::Tensor future = key_pos.unsqueeze(0) > query_pos.unsqueeze(1);  // (S, T)
        scores5.masked_fill_(future, -std::numeric_limits<float>::infinity());
    }
    if (padding_mask != nullptr) {
        if (padding_mask->batch_seq_len() != key_len)
            throw InvalidArgumentError("The padding mask covers " + std::to_string(padding_mask->batch_seq_len()) +
                                       " positions, but the attention has " + std::to_string(key_len) + " keys.");
        at::Tensor padded = padding_mask->materialize().logical_not().view({batch, 1, 1, 1, key_len});
        scores5.masked_fill_(padded, -std::numeric_limits<float>::infinity());
    }

    at::Tensor weights = at::softmax(scores, -1).to(v.scalar_type());
    at::Tensor attn;
    {
        detail::SerialSection serial{work};
        attn = at::bmm(weights, v.reshape({batch_heads, key_len, head_dim})).view({batch, kv_heads, group, seq_len, head_dim});
    }
    attn = attn.permute({0, 3, 1, 2, 4}).reshape({batch, seq_len, options.num_heads * head_dim});
    return output_proj->forward(attn);
}

}  // namespace fairseq2::nn
