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

// The keys and values of an encoder-decoder attention's fixed input,
// projected once per state bag.
class StaticKeyValues final : public IncrementalState {
public:
    // The keys_values tensor they were projected from; after a reorder,
    // undefined until the next step passes the reordered one.
    at::Tensor source;
    at::Tensor keys;  // (N_sources, H_kv, T, d)
    at::Tensor values;
    // How many query sequences each source served at the last step.
    std::int64_t queries_per_source = 1;

    void reorder(const at::Tensor& new_order, const at::Tensor& source_order) override
    {
        at::Tensor order;
        if (source_order.defined()) {
            order = source_order;
        } else {
            // One copy per sequence: the source of each.
            order = at::floor_divide(new_order, queries_per_source);
        }
        const std::int64_t sources = keys.size(0);
        if (order.numel() > 0 && (order.min().item<std::int64_t>() < 0 || order.max().item<std::int64_t>() >= sources))
            throw InvalidArgumentError("A reorder of an encoder-decoder attention names a source outside its " + std::to_string(sources) +
                                       " sources.");
        const bool same = order.numel() == sources && order.equal(at::arange(sources, order.options()));
        if (!same) {
            const at::Tensor index = order.to(keys.device());
            keys = keys.index_select(0, index);
            values = values.index_select(0, index);
        }
        source = at::Tensor();
    }
};

std::string dims(std::int64_t a, std::int64_t b)
{
    return std::to_string(a) + " and " + std::to_string(b);
}

}  // namespace

struct MultiheadAttention::Projections {
    Projections(const std::shared_ptr<Linear>& q, const std::shared_ptr<Linear>& k, const std::shared_ptr<Linear>& v)
        : qkv({q, k, v}), kv({k, v})
    {
    }

    FusedProjection qkv;  // q_proj, k_proj, v_proj over one input
    FusedProjection kv;   // k_proj, v_proj
};

MultiheadAttention::MultiheadAttention(const MultiheadAttentionOptions& options, std::shared_ptr<PositionEncoder> pos_encoder,
                                       const at::TensorOptions& tensor_options, std::shared_ptr<LayerNorm> q_norm,
                                       std::shared_ptr<LayerNorm> k_norm)
    : options{options}
{
    auto& o = this->options;
    if (o.num_key_value_heads == 0)
        o.num_key_value_heads = o.num_heads;
    if (o.kv_input_dim == 0)
        o.kv_input_dim = o.model_dim;
    if (o.num_heads <= 0 || o.model_dim <= 0)
        throw InvalidArgumentError("The number of attention heads and the model dimension must be positive, but are " +
                                   dims(o.num_heads, o.model_dim) + ".");
    if (o.head_dim == 0) {
        if (o.model_dim % o.num_heads != 0)
            throw InvalidArgumentError("The number of attention heads (" + std::to_string(o.num_heads) +
                                       ") must divide the model dimension (" + std::to_string(o.model_dim) +
                                       ") when no head dimension is given.");
        o.head_dim = o.model_dim / o.num_heads;
    }
    if (o.head_dim <= 0 || o.kv_input_dim <= 0)
        throw InvalidArgumentError("The head dimension and the key/value input dimension must be positive, but are " +
                                   dims(o.head_dim, o.kv_input_dim) + ".");
    if (o.num_key_value_heads <= 0 || o.num_heads % o.num_key_value_heads != 0)
        throw InvalidArgumentError("The number of key/value heads (" + std::to_string(o.num_key_value_heads) +
                                   ") must be positive and divide the number of attention heads (" + std::to_string(o.num_heads) + ").");
    if (o.sliding_window < 0)
        throw InvalidArgumentError("The attention window must not be negative, but is " + std::to_string(o.sliding_window) + ".");
    head_dim = o.head_dim;
    const std::int64_t q_dim = head_dim * o.num_heads;
    const std::int64_t kv_dim = head_dim * o.num_key_value_heads;
    q_proj = register_module("q_proj", std::make_shared<Linear>(o.model_dim, q_dim, o.qkv_bias, tensor_options));
    k_proj = register_module("k_proj", std::make_shared<Linear>(o.kv_input_dim, kv_dim, o.qkv_bias, tensor_options));
    v_proj = register_module("v_proj", std::make_shared<Linear>(o.kv_input_dim, kv_dim, o.qkv_bias, tensor_options));
    output_proj = register_module("output_proj", std::make_shared<Linear>(q_dim, o.model_dim, o.output_bias, tensor_options));
    projections_ = std::make_unique<Projections>(q_proj, k_proj, v_proj);
    for (auto [norm, name] : {std::pair{&q_norm, "q_norm"}, std::pair{&k_norm, "k_norm"}}) {
        if (*norm == nullptr)
            continue;
        if ((*norm)->normalized_dim() != head_dim)
            throw InvalidArgumentError(std::string("The ") + name + " of an attention layer must normalise the head dimension (" +
                                       std::to_string(head_dim) + "), but normalises " + std::to_string((*norm)->normalized_dim()) +
                                       " values.");
        (name[0] == 'q' ? this->q_norm : this->k_norm) = register_module(name, std::move(*norm));
    }
    if (pos_encoder) {
        if (pos_encoder->encoding_dim() != head_dim)
            throw InvalidArgumentError("The position encoding dimension (" + std::to_string(pos_encoder->encoding_dim()) +
                                       ") of an attention layer must equal its head dimension (" + std::to_string(head_dim) + ").");
        this->pos_encoder = register_module("pos_encoder", std::move(pos_encoder));
    }
}

MultiheadAttention::~MultiheadAttention() = default;

void MultiheadAttention::reset_parameters()
{
    q_proj->reset_parameters();
    k_proj->reset_parameters();
    v_proj->reset_parameters();
    output_proj->reset_parameters();
    if (q_norm)
        q_norm->reset_parameters();
    if (k_norm)
        k_norm->reset_parameters();
}

at::Tensor MultiheadAttention::forward(const at::Tensor& x, const PaddingMask* padding_mask, IncrementalStateBag* state_bag)
{
    if (x.dim() != 3 || x.size(2) != options.model_dim)
        throw InvalidArgumentError("The input of an attention layer must have shape (batch, sequence, " + std::to_string(options.model_dim) +
                                   "), but has shape " + c10::str(x.sizes()) + ".");
    const std::int64_t batch = x.size(0);
    const std::int64_t seq_len = x.size(1);
    const std::int64_t heads = options.num_heads;
    const std::int64_t kv_heads = options.num_key_value_heads;
    const std::int64_t start = state_bag != nullptr ? state_bag->step_nr() : 0;
    const std::int64_t q_dim = heads * head_dim;
    const std::int64_t kv_dim = kv_heads * head_dim;

    at::Tensor qkv = projections_->qkv.forward_joined(x);  // (N, S, q_dim + 2 kv_dim)
    at::Tensor q;
    at::Tensor k;
    if (!q_norm && !k_norm) {
        // Queries and keys turn in one call, positions along dimension 1.
        at::Tensor qk = qkv.narrow(-1, 0, q_dim + kv_dim).view({batch, seq_len, heads + kv_heads, head_dim});
        if (pos_encoder)
            qk = pos_encoder->forward(qk, start, 1);
        q = qk.narrow(2, 0, heads);
        k = qk.narrow(2, heads, kv_heads);
    } else {
        q = qkv.narrow(-1, 0, q_dim).view({batch, seq_len, heads, head_dim});
        k = qkv.narrow(-1, q_dim, kv_dim).view({batch, seq_len, kv_heads, head_dim});
        if (q_norm)
            q = q_norm->forward(q);
        if (k_norm)
            k = k_norm->forward(k);
        if (pos_encoder) {
            q = pos_encoder->forward(q, start, 1);
            k = pos_encoder->forward(k, start, 1);
        }
    }
    k = k.transpose(1, 2);                                                                              // (N, H_kv, S, d)
    at::Tensor v = qkv.narrow(-1, q_dim + kv_dim, kv_dim).view({batch, seq_len, kv_heads, head_dim}).transpose(1, 2);  // (N, H_kv, S, d)

    std::int64_t key_start = 0;
    if (state_bag != nullptr) {
        KeyValueCache& cache = state_bag->get_or_add_state<KeyValueCache>(this);
        if (cache.total() == 0)
            cache.set_window(options.sliding_window);
        if (cache.total() != start)
            throw InvalidArgumentError("The key/value cache of an attention layer holds " + std::to_string(cache.total()) +
                                       " positions, but the state bag is at step " + std::to_string(start) + ".");
        if (seq_len == 1 && padding_mask == nullptr) {
            // A decoding step sees every cached position (with a window,
            // the cache holds only the visible ones): no mask to apply.
            cache.append(k, v, state_bag->max_num_steps());
            const std::int64_t group = heads / kv_heads;
            at::Tensor grouped = q.view({batch, 1, kv_heads, group, head_dim}).permute({0, 2, 3, 1, 4});
            if (at::Tensor attn = attend_one_position(grouped, cache, head_dim); attn.defined())
                return output_proj->forward(attn);
            key_start = cache.total() - cache.size();
            k = cache.keys();
            v = cache.values();
        } else if (cache.size() == 0) {
            cache.append(k, v, state_bag->max_num_steps());
        } else {
            // Earlier keys first, then the new ones: every query sees its
            // whole window, whatever the chunk length.
            key_start = cache.total() - cache.size();
            at::Tensor keys = at::cat({cache.keys(), k}, 2);
            at::Tensor values = at::cat({cache.values(), v}, 2);
            cache.append(k, v, state_bag->max_num_steps());
            k = std::move(keys);
            v = std::move(values);
        }
    }
    const std::int64_t key_len = k.size(2);
    at::Tensor padded;
    if (padding_mask != nullptr) {
        if (padding_mask->batch_seq_len() != key_start + key_len)
            throw InvalidArgumentError("The padding mask covers " + std::to_string(padding_mask->batch_seq_len()) +
                                       " positions, but the attention has " + std::to_string(key_start + key_len) + " keys.");
        padded = padding_mask->materialize().narrow(1, key_start, key_len).logical_not();
    }
    return output_proj->forward(attend(q, k, v, start, key_start, padded, options.causal));
}

at::Tensor MultiheadAttention::forward(const at::Tensor& queries, const at::Tensor& keys_values, const PaddingMask* key_padding_mask,
                                       IncrementalStateBag* state_bag)
{
    if (queries.dim() != 3 || queries.size(2) != options.model_dim)
        throw InvalidArgumentError("The queries of an attention layer must have shape (batch, sequence, " +
                                   std::to_string(options.model_dim) + "), but have shape " + c10::str(queries.sizes()) + ".");
    if (keys_values.dim() != 3 || keys_values.size(0) == 0 || queries.size(0) % keys_values.size(0) != 0 ||
        keys_values.size(2) != options.kv_input_dim)
        throw InvalidArgumentError("The keys and values of an attention layer must have shape (sources, length, " +
                                   std::to_string(options.kv_input_dim) + "), the sources dividing the " + std::to_string(queries.size(0)) +
                                   " query sequences, but have shape " + c10::str(keys_values.sizes()) + ".");
    const std::int64_t rows = queries.size(0);
    const std::int64_t batch = keys_values.size(0);
    const std::int64_t per_source = rows / batch;
    const std::int64_t kv_heads = options.num_key_value_heads;
    at::Tensor q = q_proj->forward(queries).view({rows, queries.size(1), options.num_heads, head_dim});
    if (q_norm)
        q = q_norm->forward(q);
    // The query sequences of one source (consecutive rows) attend as the
    // positions of one sequence: no position is encoded here, nothing is
    // causal, and the source's keys and values are not repeated.
    q = q.reshape({batch, per_source * queries.size(1), options.num_heads, head_dim});

    const auto project = [&](at::Tensor& keys, at::Tensor& values) {
        auto kv = projections_->kv.forward(keys_values);
        const std::int64_t len = keys_values.size(1);
        keys = kv[0].view({batch, len, kv_heads, head_dim});
        if (k_norm)
            keys = k_norm->forward(keys);
        keys = keys.transpose(1, 2);
        values = kv[1].view({batch, len, kv_heads, head_dim}).transpose(1, 2);
    };
    at::Tensor k;
    at::Tensor v;
    if (state_bag != nullptr) {
        auto* state = state_bag->get_state_as<StaticKeyValues>(this);
        if (state == nullptr) {
            auto owned = std::make_unique<StaticKeyValues>();
            state = owned.get();
            state->source = keys_values;
            project(state->keys, state->values);
            state_bag->set_state(this, std::move(owned));
        } else if (!state->source.defined()) {
            if (keys_values.size(0) != state->keys.size(0) || keys_values.size(1) != state->keys.size(2))
                throw InvalidArgumentError("After a reorder of the state bag, the keys and values of an encoder-decoder attention must have " +
                                           std::to_string(state->keys.size(0)) + " sources of " + std::to_string(state->keys.size(2)) +
                                           " positions, but have shape " + c10::str(keys_values.sizes()) + ".");
            state->source = keys_values;
        } else if (!state->source.is_same(keys_values)) {
            throw InvalidArgumentError("The keys and values of an encoder-decoder attention changed between the steps of one state bag.");
        }
        state->queries_per_source = per_source;
        k = state->keys;
        v = state->values;
    } else {
        project(k, v);
    }
    at::Tensor padded;
    if (key_padding_mask != nullptr) {
        if (key_padding_mask->batch_seq_len() != k.size(2))
            throw InvalidArgumentError("The key padding mask covers " + std::to_string(key_padding_mask->batch_seq_len()) +
                                       " positions, but the attention has " + std::to_string(k.size(2)) + " keys.");
        padded = key_padding_mask->materialize().logical_not();
    }
    return output_proj->forward(attend(q, k, v, 0, 0, padded, false).view({rows, queries.size(1), -1}));
}

at::Tensor MultiheadAttention::attend(const at::Tensor& q_heads, const at::Tensor& k, const at::Tensor& v, std::int64_t query_start,
                                      std::int64_t key_start, const at::Tensor& key_padding, bool causal) const
{
    const std::int64_t batch = q_heads.size(0);
    const std::int64_t seq_len = q_heads.size(1);
    const std::int64_t kv_heads = options.num_key_value_heads;
    const std::int64_t group = options.num_heads / kv_heads;
    const std::int64_t window = options.sliding_window;
    const std::int64_t key_len = k.size(2);
    // Query heads h = kv * group + g share key/value head kv. The queries of
    // one key/value head, (G, S) of them, become the rows of one matrix, so
    // both products below are plain batched matmuls over (N, H_kv): keys and
    // values are never repeated or broadcast (which would copy them).
    at::Tensor q = q_heads.view({batch, seq_len, kv_heads, group, head_dim}).permute({0, 2, 3, 1, 4});  // (N, H_kv, G, S, d)

    const std::int64_t batch_heads = batch * kv_heads;
    at::Tensor keys = k.reshape({batch_heads, key_len, head_dim});    // (N H_kv, T, d)
    at::Tensor values = v.reshape({batch_heads, key_len, head_dim});  // (N H_kv, T, d)
    at::Tensor padded = key_padding.defined() ? key_padding.view({batch, 1, 1, 1, key_len}) : at::Tensor();
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
    if (q.device().is_cpu() && dtype != at::kFloat && dtype != at::kDouble && group * chunk_len <= 32) {
        queries = q.to(at::kFloat);
        keys = keys.to(at::kFloat);
        values = values.to(at::kFloat);
    }
    const at::Tensor keys_t = keys.transpose(1, 2);  // (N H_kv, d, T)
    const std::int64_t last_key = key_start + key_len - 1;
    for (std::int64_t first = 0; first < seq_len; first += chunk_len) {
        const std::int64_t len = std::min(chunk_len, seq_len - first);
        at::Tensor q3 = queries.narrow(3, first, len).reshape({batch_heads, group * len, head_dim});
        at::Tensor scores = batched_product(q3, keys_t);  // (N H_kv, G len, T)
        scores = scores.to(at::kFloat).mul_(1.0 / std::sqrt(static_cast<double>(head_dim)));
        at::Tensor scores5 = scores.view({batch, kv_heads, group, len, key_len});
        const std::int64_t chunk_start = query_start + first;
        const std::int64_t chunk_last = chunk_start + len - 1;
        // A key later than the chunk's first query, or one the window
        // leaves behind for its last: some scores are masked.
        const bool future = causal && last_key > chunk_start;
        const bool behind = window > 0 && key_start <= chunk_last - window;
        if (future || behind) {
            const auto positions = at::TensorOptions().dtype(at::kLong).device(q.device());
            at::Tensor query_pos = at::arange(chunk_start, chunk_start + len, positions).unsqueeze(1);    // (len, 1)
            at::Tensor key_pos = at::arange(key_start, key_start + key_len, positions).unsqueeze(0);      // (1, T)
            at::Tensor masked = future ? key_pos > query_pos : at::zeros({len, key_len}, positions.dtype(at::kBool));
            if (behind)
                masked = masked.logical_or(key_pos <= query_pos - window);
            scores5.masked_fill_(masked, -std::numeric_limits<float>::infinity());
        }
        if (padded.defined())
            scores5.masked_fill_(padded, -std::numeric_limits<float>::infinity());

        at::Tensor weights = at::softmax(scores, -1).to(values.scalar_type());
        at::Tensor chunk = batched_product(weights, values).view({batch, kv_heads, group, len, head_dim});
        attn.narrow(1, first, len).copy_(chunk.permute({0, 3, 1, 2, 4}));
    }
    return attn.view({batch, seq_len, options.num_heads * head_dim});
}

}  // namespace fairseq2::nn
