#include "transformer_decode_step.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "fairseq2/models/decoder_model.hpp"
#include "fairseq2/nn/incremental_state.hpp"
#include "../nn/cpu_kernels.hpp"
#include "../nn/key_value_cache.hpp"
#include "../nn/kernels/decoder_step.hpp"
#include "../nn/rotary_table.hpp"
#include "../nn/serial_section.hpp"

namespace fairseq2::models::detail {

namespace {

using nn::detail::DecoderStepArgs;
using nn::detail::DecoderStepWorkspace;
using nn::detail::KeyValueCache;
using nn::detail::StepLayer;
using nn::detail::StepProjection;

// What a bag keeps for the fused step of one model between steps: the
// pointer tables, the kernel's buffers and the logits, so that a step
// allocates nothing once the first has sized them.
template <typename T>
struct Plan {
    std::vector<StepLayer<T>> layers;
    std::vector<KeyValueCache*> caches;
    std::vector<std::int64_t> ids;
    DecoderStepWorkspace<T> workspace;
};

class FusedStepState final : public nn::IncrementalState {
public:
    Plan<float> f32;
    Plan<std::uint16_t> bf16;
    at::Tensor logits;
    DecodeStepCounts counts;

    // The plans and the logits buffer are per batch: rebuilt on the next step.
    void reorder(const at::Tensor& /*new_order*/, const at::Tensor& /*source_order*/) override
    {
        f32 = {};
        bf16 = {};
        logits = at::Tensor();
    }
};

// A tensor the kernels can read as T: on the CPU, of the model's dtype,
// not to be differentiated.
bool usable(const at::Tensor& t, at::ScalarType dtype)
{
    return nn::detail::kernel_ready(t) && t.scalar_type() == dtype;
}

bool usable_vector(const at::Tensor& t, at::ScalarType dtype, std::int64_t size)
{
    return usable(t, dtype) && t.dim() == 1 && t.size(0) == size && t.is_contiguous();
}

template <typename T>
bool bind_projection(const at::Tensor& weight, const at::Tensor& bias, std::int64_t rows, std::int64_t cols, at::ScalarType dtype,
                     StepProjection<T>& p)
{
    if (!usable(weight, dtype) || weight.dim() != 2 || weight.size(0) != rows || weight.size(1) != cols || weight.stride(1) != 1)
        return false;
    if (bias.defined() && !usable_vector(bias, dtype, rows))
        return false;
    p.weight = static_cast<const T*>(weight.data_ptr());
    p.row_stride = weight.stride(0);
    p.bias = bias.defined() ? static_cast<const T*>(bias.data_ptr()) : nullptr;
    p.rows = rows;
    p.cols = cols;
    return true;
}

// An RMSNorm with a weight and no bias over `dim` values; false for any
// other norm.
template <typename T>
bool bind_norm(const nn::LayerNorm* layer_norm, std::int64_t dim, at::ScalarType dtype, const T*& weight, float& eps)
{
    const auto* norm = dynamic_cast<const nn::RMSNorm*>(layer_norm);
    if (norm == nullptr || norm->bias.defined() || !norm->weight.defined() || !usable_vector(norm->weight, dtype, dim))
        return false;
    weight = static_cast<const T*>(norm->weight.data_ptr());
    eps = static_cast<float>(norm->eps);
    return true;
}

// An optional q/k norm: none, or an RMSNorm as above.
template <typename T>
bool bind_head_norm(const std::shared_ptr<nn::LayerNorm>& norm, std::int64_t dim, at::ScalarType dtype, const T*& weight, float& eps)
{
    weight = nullptr;
    return !norm || bind_norm(norm.get(), dim, dtype, weight, eps);
}

// Fills the pointer tables from the model's modules (each step: cheap,
// and it notices parameters replaced since the last); false when some
// part is not one the kernel computes.
template <typename T>
bool bind(TransformerDecoderModel& model, at::ScalarType dtype, std::int64_t position, DecoderStepArgs<T>& args, Plan<T>& plan)
{
    if (!model.decoder_frontend->is_plain_lookup())
        return false;
    const at::Tensor& embed = model.decoder_frontend->embed->weight;
    if (!usable(embed, dtype) || embed.dim() != 2 || embed.stride(1) != 1)
        return false;
    const std::int64_t dim = embed.size(1);
    args.model_dim = dim;
    args.embeddings = static_cast<const T*>(embed.data_ptr());
    args.embedding_stride = embed.stride(0);

    const auto& layers = model.decoder->layers;
    if (layers.empty())
        return false;
    plan.layers.resize(layers.size());
    for (std::size_t i = 0; i < layers.size(); ++i) {
        const nn::StandardTransformerDecoderLayer& layer = *layers[i];
        if (layer.norm_order != nn::TransformerNormOrder::pre || layer.encoder_decoder_attn)
            return false;
        const nn::MultiheadAttention& attn = *layer.self_attn;
        const auto* ffn = dynamic_cast<const nn::GLUFeedForwardNetwork*>(layer.ffn.get());
        if (ffn == nullptr || ffn->options.gate_activation != nn::Activation::silu)
            return false;
        const std::int64_t d = attn.head_dim;
        const std::int64_t heads = attn.options.num_heads;
        const std::int64_t kv_heads = attn.options.num_key_value_heads;
        if (i == 0) {
            args.num_heads = heads;
            args.num_kv_heads = kv_heads;
            args.head_dim = d;
            args.ffn_dim = ffn->inner_dim;
        } else if (heads != args.num_heads || kv_heads != args.num_kv_heads || d != args.head_dim || ffn->inner_dim != args.ffn_dim) {
            return false;
        }
        if (attn.options.model_dim != dim || attn.options.kv_input_dim != dim)
            return false;
        StepLayer<T>& step = plan.layers[i];
        if (!bind_norm(layer.self_attn_layer_norm.get(), dim, dtype, step.attn_norm, step.attn_norm_eps) ||
            !bind_norm(layer.ffn_layer_norm.get(), dim, dtype, step.ffn_norm, step.ffn_norm_eps) ||
            !bind_head_norm(attn.q_norm, d, dtype, step.q_norm, step.q_norm_eps) ||
            !bind_head_norm(attn.k_norm, d, dtype, step.k_norm, step.k_norm_eps) ||
            !bind_projection(attn.q_proj->weight, attn.q_proj->bias, heads * d, dim, dtype, step.q) ||
            !bind_projection(attn.k_proj->weight, attn.k_proj->bias, kv_heads * d, dim, dtype, step.k) ||
            !bind_projection(attn.v_proj->weight, attn.v_proj->bias, kv_heads * d, dim, dtype, step.v) ||
            !bind_projection(attn.output_proj->weight, attn.output_proj->bias, dim, heads * d, dtype, step.o) ||
            !bind_projection(ffn->gate_proj->weight, ffn->gate_proj->bias, ffn->inner_dim, dim, dtype, step.gate) ||
            !bind_projection(ffn->inner_proj->weight, ffn->inner_proj->bias, ffn->inner_dim, dim, dtype, step.inner) ||
            !bind_projection(ffn->output_proj->weight, ffn->output_proj->bias, dim, ffn->inner_dim, dtype, step.down))
            return false;
        step.window = attn.options.sliding_window;
        step.turns = nullptr;
        step.rotate_halves = false;
        if (attn.pos_encoder) {
            const auto* rope = dynamic_cast<const nn::RotaryEncoder*>(attn.pos_encoder.get());
            // Past its length the encoder refuses the position: the
            // modules' path reports it.
            if (rope == nullptr || position >= rope->max_seq_len())
                return false;
            // (P, d/2) complex64; the encoder keeps the table, so the
            // pointer stays valid through the step.
            const at::Tensor table = rope->table().get(position + 1, at::kCPU);
            step.turns = reinterpret_cast<const float*>(table.data_ptr()) + position * d;
            step.rotate_halves = rope->layout() == nn::RotaryLayout::halves;
        }
    }
    if (!bind_norm(model.decoder->layer_norm.get(), dim, dtype, args.final_norm, args.final_norm_eps))
        return false;
    if (const auto* linear = dynamic_cast<const nn::Linear*>(model.final_proj.get())) {
        if (!bind_projection(linear->weight, linear->bias, linear->weight.size(0), dim, dtype, args.output))
            return false;
    } else if (const auto* tied = dynamic_cast<const nn::TiedProjection*>(model.final_proj.get())) {
        if (!bind_projection(tied->weight, at::Tensor(), tied->weight.size(0), dim, dtype, args.output))
            return false;
    } else {
        return false;
    }
    args.layers = plan.layers.data();
    args.num_layers = static_cast<std::int64_t>(plan.layers.size());
    args.attention_scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(args.head_dim)));
    return true;
}

// The caches of every layer, each holding exactly `position` positions (or
// none yet) in the model's dtype and layout; false otherwise.
bool find_caches(TransformerDecoderModel& model, nn::IncrementalStateBag& bag, std::int64_t position, at::ScalarType dtype,
                 std::int64_t kv_heads, std::int64_t head_dim, std::vector<KeyValueCache*>& caches)
{
    const auto& layers = model.decoder->layers;
    caches.resize(layers.size());
    for (std::size_t i = 0; i < layers.size(); ++i) {
        auto* cache = bag.get_state_as<KeyValueCache>(layers[i]->self_attn.get());
        if ((cache != nullptr ? cache->total() : 0) != position)
            return false;
        if (cache != nullptr && cache->window() != layers[i]->self_attn->options.sliding_window)
            return false;
        if (cache != nullptr && cache->key_buffer().defined()) {
            const at::Tensor& keys = cache->key_buffer();
            if (keys.scalar_type() != dtype || keys.size(1) != kv_heads || keys.size(3) != head_dim || !keys.is_contiguous() ||
                !cache->value_buffer().is_contiguous())
                return false;
        }
        caches[i] = cache;
    }
    return true;
}

template <typename T>
at::Tensor run(TransformerDecoderModel& model, const at::Tensor& ids, nn::IncrementalStateBag& bag, at::ScalarType dtype,
               FusedStepState& state, Plan<T>& plan)
{
    const std::int64_t batch = ids.size(0);
    const std::int64_t position = bag.step_nr();
    if (position + 1 > bag.max_num_steps())
        return {};
    DecoderStepArgs<T> args;
    args.batch = batch;
    args.position = position;
    plan.ids.resize(static_cast<std::size_t>(batch));
    const auto* values = ids.data_ptr<std::int64_t>();
    for (std::int64_t n = 0; n < batch; ++n)
        plan.ids[static_cast<std::size_t>(n)] = values[n * ids.stride(0)];
    args.ids = plan.ids.data();
    if (!bind(model, dtype, position, args, plan) || !find_caches(model, bag, position, dtype, args.num_kv_heads, args.head_dim, plan.caches))
        return {};

    // From here on the step runs: the caches make room for one more
    // position (growing by doubling, not per token).
    const at::TensorOptions options = at::TensorOptions().dtype(dtype).device(at::kCPU);
    for (std::size_t i = 0; i < plan.caches.size(); ++i) {
        if (plan.caches[i] == nullptr) {
            plan.caches[i] = &bag.get_or_add_state<KeyValueCache>(model.decoder->layers[i]->self_attn.get());
            plan.caches[i]->set_window(plan.layers[i].window);
        }
        KeyValueCache& cache = *plan.caches[i];
        cache.reserve(batch, args.num_kv_heads, args.head_dim, options, 1, bag.max_num_steps());
        StepLayer<T>& layer = plan.layers[i];
        layer.keys = static_cast<T*>(cache.key_buffer().data_ptr());
        layer.values = static_cast<T*>(cache.value_buffer().data_ptr());
        layer.cache_stride = cache.key_buffer().stride(0);
        layer.head_stride = cache.key_buffer().stride(1);
    }

    const std::int64_t vocab = args.output.rows;
    if (!state.logits.defined() || state.logits.scalar_type() != dtype || state.logits.size(0) != batch || state.logits.size(1) != vocab)
        state.logits = at::empty({batch, vocab}, options);
    args.logits = static_cast<T*>(state.logits.data_ptr());
    args.logits_stride = vocab;

    // A team of threads only when the products are worth sharing (as each
    // product of the modules' path decides for itself).
    std::int64_t largest = args.output.rows * args.output.cols;
    const StepLayer<T>& first = plan.layers.front();
    for (const StepProjection<T>* p : {&first.q, &first.o, &first.gate, &first.down})
        largest = std::max(largest, p->rows * p->cols);
    const int threads = largest < nn::detail::serial_work_limit ? 1 : std::max(1, at::get_num_threads());
    plan.workspace.reserve(args, bag.max_num_steps(), threads);
    nn::detail::run_decoder_step(args, threads, plan.workspace);
    for (KeyValueCache* cache : plan.caches)
        cache->commit(1);
    ++state.counts.fused;
    return state.logits;
}

}  // namespace

void count_module_step(TransformerDecoderModel& model, nn::IncrementalStateBag& bag)
{
    ++bag.get_or_add_state<FusedStepState>(&model).counts.modules;
}

DecodeStepCounts decode_step_counts(const TransformerDecoderModel& model, const nn::IncrementalStateBag& bag)
{
    const auto* state = bag.get_state_as<FusedStepState>(&model);
    return state != nullptr ? state->counts : DecodeStepCounts{};
}

at::Tensor fused_decode_step(TransformerDecoderModel& model, const at::Tensor& ids, nn::IncrementalStateBag& bag)
{
    if (!ids.device().is_cpu() || ids.scalar_type() != at::kLong)
        return {};
    const at::ScalarType dtype = model.decoder_frontend->embed->weight.scalar_type();
    if (dtype != at::kFloat && dtype != at::kBFloat16)
        return {};
    auto& state = bag.get_or_add_state<FusedStepState>(&model);
    if (dtype == at::kFloat)
        return run(model, ids, bag, dtype, state, state.f32);
    return run(model, ids, bag, dtype, state, state.bf16);
}

}  // namespace fairseq2::models::detail
