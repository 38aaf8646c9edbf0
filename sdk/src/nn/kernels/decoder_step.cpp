#include "decoder_step.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <utility>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "attention.hpp"
#include "bfloat16.hpp"
#include "gemv.hpp"
#include "rms_norm.hpp"
#include "rotary.hpp"

namespace fairseq2::nn::detail {

namespace {

// The products' outputs are split in blocks of this many rows, so two
// threads never write one cache line (64 bytes: 16 float32, 32 bfloat16).
constexpr std::int64_t row_block = 32;

// Batches of more than a pass takes (see project()) go through the weights in
// tiles of about this many bytes, so the weights come from memory once per
// step, not once per group of sequences.
constexpr std::int64_t tile_bytes = std::int64_t{64} << 10;

// Thread `thread` of `threads`'s share of [0, count), in whole blocks of
// `block` items: contiguous, in order, as even as blocks allow.
std::pair<std::int64_t, std::int64_t> share(std::int64_t count, std::int64_t block, int thread, int threads)
{
    const std::int64_t blocks = (count + block - 1) / block;
    const std::int64_t per = blocks / threads;
    const std::int64_t extra = blocks % threads;
    const std::int64_t first = thread * per + std::min<std::int64_t>(thread, extra);
    const std::int64_t last = first + per + (thread < extra ? 1 : 0);
    return {std::min(count, first * block), std::min(count, last * block)};
}

void barrier()
{
#ifdef _OPENMP
#pragma omp barrier
#endif
}

// One thread's view of the step: who it is and its own buffers.
template <typename T>
struct Worker {
    int thread;
    int threads;
    typename DecoderStepWorkspace<T>::PerThread& own;
};

// A product's input for every sequence: the values themselves (natural
// order, row n at values + n * values_stride) and what the float32 gemv
// kernels read (row n at x + n * x_stride): the values for float32, the
// values widened in the kernels' order (gemv_input_bf16) for bfloat16.
template <typename T>
struct ProductInput {
    const T* values;
    std::int64_t values_stride;
    const float* x;
    std::int64_t x_stride;
};

// Rows [first, last) of out_n = W in_n (+ bias) for every sequence n. Up
// to gemv_max_batch sequences (bfloat16: gemv_bf16_max_batch()) share one
// pass over the weights; more go
// through them in tiles, a group of sequences at a time over each tile
// while it is in the core's L2 cache.
template <typename T>
void project(const StepProjection<T>& p, const ProductInput<T>& in, T* out, std::int64_t out_stride, std::int64_t batch,
             std::int64_t first, std::int64_t last)
{
    const std::int64_t group = std::is_same_v<T, float> ? gemv_max_batch : gemv_bf16_max_batch();
    const std::int64_t tile = batch <= group
                                  ? last - first
                                  : std::max<std::int64_t>(1, tile_bytes / (p.cols * static_cast<std::int64_t>(sizeof(T))));
    using Args = std::conditional_t<std::is_same_v<T, float>, F32GemvArgs, Bf16GemvArgs>;
    Args args;
    args.weight = p.weight;
    args.row_stride = p.row_stride;
    args.cols = p.cols;
    args.bias = p.bias;
    args.x_stride = in.x_stride;
    args.y_stride = out_stride;
    if constexpr (std::is_same_v<T, std::uint16_t>)
        args.x_bf16_stride = in.values_stride;
    for (std::int64_t begin = first; begin < last; begin += tile) {
        const std::int64_t end = std::min(last, begin + tile);
        for (std::int64_t n = 0; n < batch; n += group) {
            args.batch = std::min(group, batch - n);
            args.x = in.x + n * in.x_stride;
            args.y = out + n * out_stride;
            if constexpr (std::is_same_v<T, float>) {
                gemv_f32(args, begin, end);
            } else {
                args.x_bf16 = in.values + n * in.values_stride;
                gemv_bf16(args, begin, end);
            }
        }
    }
}

// The input of a product over `cols` values of each of `batch` rows of
// `values` (row stride `stride`), widened into the worker's own buffer for
// bfloat16 unless the bfloat16 kernel reads only the values.
template <typename T>
ProductInput<T> product_input([[maybe_unused]] Worker<T>& worker, const T* values, std::int64_t stride, [[maybe_unused]] std::int64_t cols,
                              [[maybe_unused]] std::int64_t batch)
{
    if constexpr (std::is_same_v<T, float>) {
        return {values, stride, values, stride};
    } else {
        if (gemv_bf16_reads_only_x_bf16())
            return {values, stride, nullptr, 0};
        float* wide = worker.own.wide.data();
        for (std::int64_t n = 0; n < batch; ++n)
            gemv_input_bf16(values + n * stride, cols, wide + n * cols);
        return {values, stride, wide, cols};
    }
}

// Every thread normalises the whole residual stream into its own buffer,
// which costs less than a barrier, and widens it for the products.
template <typename T>
ProductInput<T> normalized_input(Worker<T>& worker, const DecoderStepArgs<T>& args, const T* x, const T* weight, float eps)
{
    const std::int64_t dim = args.model_dim;
    T* normed = worker.own.normed.data();
    rms_norm_rows(x, dim, weight, eps, normed, dim, 0, args.batch);
    return product_input(worker, static_cast<const T*>(normed), dim, dim, args.batch);
}

// x += y over rows [first, last) of every sequence, rounded as the modules'
// residual additions round.
template <typename T>
void add_rows(T* x, const T* y, std::int64_t dim, std::int64_t batch, std::int64_t first, std::int64_t last)
{
    for (std::int64_t n = 0; n < batch; ++n)
        for (std::int64_t r = first; r < last; ++r)
            store(x + n * dim + r, widen(x[n * dim + r]) + widen(y[n * dim + r]));
}

template <typename T>
void attention_block(Worker<T>& worker, const DecoderStepArgs<T>& args, const StepLayer<T>& layer, DecoderStepWorkspace<T>& ws)
{
    const std::int64_t batch = args.batch;
    const std::int64_t dim = args.model_dim;
    const std::int64_t d = args.head_dim;
    const std::int64_t heads = args.num_heads;
    const std::int64_t kv_heads = args.num_kv_heads;
    const std::int64_t q_dim = heads * d;
    const std::int64_t kv_dim = kv_heads * d;
    const std::int64_t qkv_stride = q_dim + 2 * kv_dim;
    T* qkv = ws.qkv.data();

    const ProductInput<T> in = normalized_input(worker, args, ws.x.data(), layer.attn_norm, layer.attn_norm_eps);

    // Whole heads per thread (queries, then keys, then values), so each
    // thread turns and caches the heads it computed without waiting.
    const std::pair<std::int64_t, std::int64_t> mine = share(heads + 2 * kv_heads, 1, worker.thread, worker.threads);
    const std::int64_t first = mine.first;
    const std::int64_t last = mine.second;
    const auto clip = [&](std::int64_t begin, std::int64_t count) {
        return std::pair{std::clamp(first - begin, std::int64_t{0}, count), std::clamp(last - begin, std::int64_t{0}, count)};
    };
    const auto [q0, q1] = clip(0, heads);
    const auto [k0, k1] = clip(heads, kv_heads);
    const auto [v0, v1] = clip(heads + kv_heads, kv_heads);
    project(layer.q, in, qkv, qkv_stride, batch, q0 * d, q1 * d);
    project(layer.k, in, qkv + q_dim, qkv_stride, batch, k0 * d, k1 * d);
    project(layer.v, in, qkv + q_dim + kv_dim, qkv_stride, batch, v0 * d, v1 * d);
    const auto rotate = [&](const T* from, T* to, std::int64_t count) {
        if (layer.rotate_halves)
            rotate_halves(from, to, count, d, layer.turns);
        else
            rotate_pairs(from, to, count, d, layer.turns);
    };
    const std::int64_t slot = layer.window > 0 ? args.position % layer.window : args.position;
    for (std::int64_t n = 0; n < batch; ++n) {
        T* row = qkv + n * qkv_stride;
        // Each head normalised in place over its d values, as the q/k norm
        // modules do before the rotation.
        if (layer.q_norm != nullptr && q1 > q0)
            rms_norm_rows(row + q0 * d, d, layer.q_norm, layer.q_norm_eps, row + q0 * d, d, 0, q1 - q0);
        if (layer.k_norm != nullptr && k1 > k0)
            rms_norm_rows(row + q_dim + k0 * d, d, layer.k_norm, layer.k_norm_eps, row + q_dim + k0 * d, d, 0, k1 - k0);
        if (layer.turns != nullptr && q1 > q0)
            rotate(row + q0 * d, row + q0 * d, q1 - q0);
        for (std::int64_t j = k0; j < k1; ++j) {
            T* to = layer.keys + n * layer.cache_stride + j * layer.head_stride + slot * d;
            if (layer.turns != nullptr)
                rotate(row + q_dim + j * d, to, 1);
            else
                std::memcpy(to, row + q_dim + j * d, static_cast<std::size_t>(d) * sizeof(T));
        }
        for (std::int64_t j = v0; j < v1; ++j)
            std::memcpy(layer.values + n * layer.cache_stride + j * layer.head_stride + slot * d, row + q_dim + kv_dim + j * d,
                        static_cast<std::size_t>(d) * sizeof(T));
    }
    barrier();

    DecodeAttentionArgs<T> attend;
    attend.queries = qkv;
    attend.query_stride = qkv_stride;
    attend.keys = layer.keys;
    attend.values = layer.values;
    attend.cache_stride = layer.cache_stride;
    attend.head_stride = layer.head_stride;
    attend.out = ws.attn.data();
    attend.out_stride = q_dim;
    attend.num_heads = heads;
    attend.group = heads / kv_heads;
    attend.num_keys = layer.window > 0 ? std::min(args.position + 1, layer.window) : args.position + 1;
    attend.head_dim = d;
    attend.scale = args.attention_scale;
    const auto [h0, h1] = share(batch * heads, 1, worker.thread, worker.threads);
    if (h1 > h0)
        attend_one_position(attend, h0, h1, worker.own.scratch.data());
    barrier();

    const ProductInput<T> attn = product_input(worker, static_cast<const T*>(ws.attn.data()), q_dim, q_dim, batch);
    const auto [r0, r1] = share(dim, row_block, worker.thread, worker.threads);
    project(layer.o, attn, ws.y.data(), dim, batch, r0, r1);
    add_rows(ws.x.data(), static_cast<const T*>(ws.y.data()), dim, batch, r0, r1);
    barrier();
}

template <typename T>
void feed_forward_block(Worker<T>& worker, const DecoderStepArgs<T>& args, const StepLayer<T>& layer, DecoderStepWorkspace<T>& ws)
{
    const std::int64_t batch = args.batch;
    const std::int64_t dim = args.model_dim;
    const std::int64_t ffn = args.ffn_dim;
    const ProductInput<T> in = normalized_input(worker, args, ws.x.data(), layer.ffn_norm, layer.ffn_norm_eps);

    // Each thread's gate and inner rows are the same, so it combines them
    // at once: silu(gate) * inner, each rounded as at::silu and mul_ round.
    const auto [f0, f1] = share(ffn, row_block, worker.thread, worker.threads);
    T* gate = ws.gate.data();
    T* inner = ws.inner.data();
    project(layer.gate, in, gate, ffn, batch, f0, f1);
    project(layer.inner, in, inner, ffn, batch, f0, f1);
    for (std::int64_t n = 0; n < batch; ++n)
        for (std::int64_t r = f0; r < f1; ++r) {
            const float g = widen(gate[n * ffn + r]);
            T silu;
            store(&silu, g / (1.0f + std::exp(-g)));
            store(gate + n * ffn + r, widen(silu) * widen(inner[n * ffn + r]));
        }
    barrier();

    const ProductInput<T> hidden = product_input(worker, static_cast<const T*>(gate), ffn, ffn, batch);
    const auto [r0, r1] = share(dim, row_block, worker.thread, worker.threads);
    project(layer.down, hidden, ws.y.data(), dim, batch, r0, r1);
    add_rows(ws.x.data(), static_cast<const T*>(ws.y.data()), dim, batch, r0, r1);
    barrier();
}

template <typename T>
void run_worker(Worker<T>& worker, const DecoderStepArgs<T>& args, DecoderStepWorkspace<T>& ws)
{
    for (std::int64_t l = 0; l < args.num_layers; ++l) {
        attention_block(worker, args, args.layers[l], ws);
        feed_forward_block(worker, args, args.layers[l], ws);
    }
    const ProductInput<T> in = normalized_input(worker, args, ws.x.data(), args.final_norm, args.final_norm_eps);
    const auto [v0, v1] = share(args.output.rows, row_block, worker.thread, worker.threads);
    project(args.output, in, args.logits, args.logits_stride, args.batch, v0, v1);
}

}  // namespace

template <typename T>
void DecoderStepWorkspace<T>::reserve(const DecoderStepArgs<T>& args, std::int64_t keys, int threads)
{
    const std::int64_t q_dim = args.num_heads * args.head_dim;
    const std::int64_t kv_dim = args.num_kv_heads * args.head_dim;
    const auto grow = [](auto& buffer, std::int64_t size) {
        if (static_cast<std::int64_t>(buffer.size()) < size)
            buffer.resize(static_cast<std::size_t>(size));
    };
    grow(x, args.batch * args.model_dim);
    grow(qkv, args.batch * (q_dim + 2 * kv_dim));
    grow(attn, args.batch * q_dim);
    grow(y, args.batch * args.model_dim);
    grow(gate, args.batch * args.ffn_dim);
    grow(inner, args.batch * args.ffn_dim);
    max_keys = std::max(max_keys, keys);
    if (static_cast<int>(per_thread.size()) < threads)
        per_thread.resize(static_cast<std::size_t>(threads));
    const std::int64_t widest = std::max({args.model_dim, q_dim, args.ffn_dim});
    for (auto& own : per_thread) {
        grow(own.normed, args.batch * args.model_dim);
        if (std::is_same_v<T, std::uint16_t> && !gemv_bf16_reads_only_x_bf16())
            grow(own.wide, args.batch * widest);
        grow(own.scratch, decode_attention_scratch(max_keys, args.head_dim));
    }
}

template <typename T>
void run_decoder_step(const DecoderStepArgs<T>& args, int threads, DecoderStepWorkspace<T>& ws)
{
    for (std::int64_t n = 0; n < args.batch; ++n)
        std::memcpy(ws.x.data() + n * args.model_dim, args.embeddings + args.ids[n] * args.embedding_stride,
                    static_cast<std::size_t>(args.model_dim) * sizeof(T));
#ifdef _OPENMP
    if (threads > 1) {
#pragma omp parallel num_threads(threads)
        {
            Worker<T> worker{omp_get_thread_num(), omp_get_num_threads(), ws.per_thread[static_cast<std::size_t>(omp_get_thread_num())]};
            run_worker(worker, args, ws);
        }
        return;
    }
#endif
    (void)threads;
    Worker<T> worker{0, 1, ws.per_thread.front()};
    run_worker(worker, args, ws);
}

template struct DecoderStepWorkspace<float>;
template struct DecoderStepWorkspace<std::uint16_t>;
template void run_decoder_step(const DecoderStepArgs<float>&, int, DecoderStepWorkspace<float>&);
template void run_decoder_step(const DecoderStepArgs<std::uint16_t>&, int, DecoderStepWorkspace<std::uint16_t>&);

}  // namespace fairseq2::nn::detail
