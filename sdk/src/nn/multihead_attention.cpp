#include "fairseq2/nn/multihead_attention.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/ThreadLocalState.h>

#include "fairseq2/error.hpp"
#include "fairseq2/nn/incremental_state.hpp"
#include "fairseq2/nn/padding_mask.hpp"
#include "cpu_kernels.hpp"
#include "key_value_cache.hpp"
#include "kernels/attention.hpp"
#include "serial_section.hpp"

namespace fairseq2::nn {

namespace {

using detail::KeyValueCache;

// A decoding step, one query position per sequence, attending to every
// cached position, with the kernel of kernels/attention.hpp; undefined when
// the tensors do not suit it (another dtype or device, autograd recording,
// heads not back to back). `q` is (N, H_kv, G, 1, d); the result is
// (N, 1, H d).
template <typename T>
at::Tensor attend_one_position(const at::Tensor& q, const KeyValueCache& cache, std::int64_t head_dim)
{
    const std::int64_t batch = q.size(0);
    const std::int64_t kv_heads = q.size(1);
    const std::int64_t group = q.size(2);
    const at::Tensor& keys = cache.key_buffer();
    const at::Tensor& values = cache.value_buffer();
    detail::DecodeAttentionArgs<T> args;
    args.queries = static_cast<const T*>(q.data_ptr());
    args.query_stride = q.stride(0);
    args.keys = static_cast<const T*>(keys.data_ptr());
    args.values = static_cast<const T*>(values.data_ptr());
    args.cache_stride = keys.stride(0);
    args.head_stride = keys.stride(1);
    args.num_heads = kv_heads * group;
    args.group = group;
    args.num_keys = cache.size();
    args.head_dim = head_dim;
    args.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(head_dim)));
    at::Tensor out = at::empty({batch, 1, args.num_heads * head_dim}, q.options());
    args.out = static_cast<T*>(out.data_ptr());
    args.out_stride = args.num_heads * head_dim;
    detail::for_each_chunk(batch * args.num_heads, 2 * args.num_keys * head_dim, [&](std::int64_t first, std::int64_t last) {
        thread_local std::vector<float> scratch;
        scratch.resize(static_cast<std::size_t>(detail::decode_attention_scratch(args.num_keys, head_dim)));
        detail::attend_one_position(args, first, last, scratch.data());
    });
    return out;
}

at::Tensor attend_one_position(const at::Tensor& q, const KeyValueCache& cache, std::int64_t head_dim)
{
    const at::Tensor& keys = cache.key_buffer();
    // Query heads must lie back to back, d values each, in every sequence.
    const bool heads_adjacent = q.stride(4) == 1 && q.stride(2) == head_dim && q.stride(1) == q.size(2) * head_dim;
    if (!detail::kernel_ready(q) || !heads_adjacent || keys.scalar_type() != q.scalar_type() || !keys.device().is_cpu() ||
        keys.stride(3) != 1 || keys.stride(2) != head_dim || !cache.value_buffer().strides().equals(keys.strides()))
        return {};
    if (q.scalar_type() == at::kFloat)
        return attend_one_position<float>(q, cache, head_dim);
    return attend_one_position<std::uint16_t>(q, cache, head_dim);
}

// at::bmm(a, b), with the batch split between threads: one fork and join
// per product. at::bmm itself runs BLAS once per batch entry, each call
// forking the threads again (four key/value heads: four forks per product,
// which cost more than a decoding step's products themselves). Inside the
// split, BLAS and ATen run on one thread each. Products under
// serial_work_limit multiply-adds stay on the calling thread.
at::Tensor batched_product(const at::Tensor& a, const at::Tensor& b)
{
    const std::int64_t batch = a.size(0);
    const std::int64_t work_per_entry = a.size(1) * a.size(2) * b.size(2);
    // Autograd differentiates at::bmm, not writes into a given output.
    if (at::GradMode::is_enabled() && (a.requires_grad() || b.requires_grad())) {
        detail::SerialSection serial{batch * work_per_entry};
        return at::bmm(a, b);
    }
    at::Tensor out = at::empty({batch, a.size(1), b.size(2)}, a.options());
    detail::SerialSection serial{batch * work_per_entry};
    // The threads run tensor operations: they take this thread's inference
    // mode and autograd state.
    const at::ThreadLocalState state;
    detail::for_each_chunk(batch, work_per_entry, [&](std::int64_t first, std::int64_t last) {
        at::ThreadLocalStateGuard guard{state};
        at::Tensor slice = out.narrow(0, first, last - first);
        at::bmm_out(slice, a.narrow(0, first, last - first), b.narrow(0, first, last - first));
    });
    return out;
}

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
        KeyValueCache& cache = state_bag->get_or_add_state<KeyValueCache>(this);
        cache.append(k, v, state_bag->max_num_steps());
        // A decoding step sees every cached position: no mask to apply.
        if (seq_len == 1 && padding_mask == nullptr)
            if (at::Tensor attn = attend_one_position(q, cache, head_dim); attn.defined())
                return output_proj->forward(attn);
        k = cache.keys();
        v = cache.values();
    }
    const std::int64_t key_len = k.size(2);
    if (padding_mask != nullptr && padding_mask->batch_seq_len() != key_len)
        throw InvalidArgumentError("The padding mask covers " + std::to_string(padding_mask->batch_seq_len()) +
                                   " positions, but the attention has " + std::to_string(key_len) + " keys.");

    const std::int64_t batch_heads = batch * kv_heads;
    at::Tensor keys = k.reshape({batch_heads, key_len, head_dim});    // (N H_kv, T, d)
    at::Tensor values = v.reshape({batch_heads, key_len, head_dim});  // (N H_kv, T, d)
    at::Tensor padded = padding_mask != nullptr ? padding_mask->materialize().logical_not().view({batch, 1, 1, 1, key_len}) : at::Tensor();
    at::Tensor attn = at::empty({batch, seq_len, kv_heads, group, head_dim}, v.options());

    // Queries go through in chunks of positions, so the float32 scores of a
    // chunk stay under chunk_score_limit elements (1 MiB) whatever the prompt
    // length (a 512-token prompt of a 1B llama would otherwise need 32 MiB of
    // scores per layer, twice). The scores are the largest temporaries of a
    // prefill, and the heap keeps the room of the largest: at 4 MiB a small
    // bfloat16 llama's peak RSS was 20 MB higher, for no speed. Decoding
    // steps are one chunk.
    constexpr std::int64_t chunk_score_limit = std::int64_t{1} << 18;
    const std::int64_t chunk_len =
        std::min(seq_len, std::max<std::int64_t>(16, chunk_score_limit / std::max<std::int64_t>(1, batch_heads * group * key_len)));

    // A few query rows per head (decoding steps) in bfloat16 or half on the
    // CPU multiply in float32: LibTorch hands reduced-precision bmm to
    // oneDNN, which compiles a kernel for every new shape, and the number of
    // keys grows by one each step (tiny llama, bfloat16: 1050 tokens/s
    // against 2900 before the cache passed 48 positions). Widening the cache
    // costs one pass over it, which the products make anyway.
    at::Tensor queries = q;
    const at::ScalarType dtype = v.scalar_type();
    if (x.device().is_cpu() && dtype != at::kFloat && dtype != at::kDouble && group * chunk_len <= 32) {
        queries = q.to(at::kFloat);
        keys = keys.to(at::kFloat);
        values = values.to(at::kFloat);
    }
    const at::Tensor keys_t = keys.transpose(1, 2);  // (N H_kv, d, T)
    for (std::int64_t first = 0; first < seq_len; first += chunk_len) {
        const std::int64_t len = std::min(chunk_len, seq_len - first);
        at::Tensor q3 = queries.narrow(3, first, len).reshape({batch_heads, group * len, head_dim});
        at::Tensor scores = batched_product(q3, keys_t);  // (N H_kv, G len, T)
        scores = scores.to(at::kFloat).mul_(1.0 / std::sqrt(static_cast<double>(head_dim)));
        at::Tensor scores5 = scores.view({batch, kv_heads, group, len, key_len});
        const std::int64_t chunk_start = start + first;
        if (options.causal && !(len == 1 && key_len == chunk_start + 1)) {
            at::Tensor query_pos = at::arange(chunk_start, chunk_start + len, at::TensorOptions().dtype(at::kLong).device(x.device()));
            at::Tensor key_pos = at::arange(key_len, at::TensorOptions().dtype(at::kLong).device(x.device()));
            at::Tensor future = key_pos.unsqueeze(0) > query_pos.unsqueeze(1);  // (len, T)
            scores5.masked_fill_(future, -std::numeric_limits<float>::infinity());
        }
        if (padded.defined())
            scores5.masked_fill_(padded, -std::numeric_limits<float>::infinity());

        at::Tensor weights = at::softmax(scores, -1).to(values.scalar_type());
        at::Tensor chunk = batched_product(weights, values).view({batch, kv_heads, group, len, head_dim});
        attn.narrow(1, first, len).copy_(chunk.permute({0, 3, 1, 2, 4}));
    }
    attn = attn.view({batch, seq_len, options.num_heads * head_dim});
    return output_proj->forward(attn);
}

}  // namespace fairseq2::nn
