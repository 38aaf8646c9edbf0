#pragma once

// One decoding step of a decoder-only transformer made of the SDK's blocks
// (token embedding, pre-norm layers of RMSNorm, rotary grouped-query
// attention over a key/value cache with optional biases, q/k norms and a
// sliding window, a SiLU-gated GLU, a final RMSNorm and the projection onto
// the vocabulary) in raw memory, for N sequences of one new token each.
//
// The whole step runs in one parallel region: the threads share each
// product's rows and meet at a barrier where one stage needs all of the
// last one's output (five per layer). Through ATen the same step forks and
// joins the threads once per product and builds some sixty tensors per
// layer; here nothing is allocated (the workspace is sized once) and the
// per-layer glue is a handful of loops. Each stage uses the kernels beside
// it (gemv, rms_norm, rotary, attention) and rounds where the module
// forward rounds, so the logits are those of the modules' own path.
// Internal to the SDK; torch-free.

#include <cstdint>
#include <vector>

namespace fairseq2::nn::detail {

// rows x cols; row r at weight + r * row_stride, `cols` contiguous values.
template <typename T>
struct StepProjection {
    const T* weight = nullptr;
    std::int64_t row_stride = 0;
    const T* bias = nullptr;  // `rows` values, or null
    std::int64_t rows = 0;
    std::int64_t cols = 0;
};

template <typename T>
struct StepLayer {
    const T* attn_norm = nullptr;  // model_dim
    float attn_norm_eps = 0.0f;
    StepProjection<T> q, k, v, o;
    // RMSNorm weights (head_dim) applied to each query (key) head after
    // its projection and before the rotation; null: none.
    const T* q_norm = nullptr;
    float q_norm_eps = 0.0f;
    const T* k_norm = nullptr;
    float k_norm_eps = 0.0f;
    const T* ffn_norm = nullptr;  // model_dim
    float ffn_norm_eps = 0.0f;
    StepProjection<T> gate, inner, down;
    // (cos, sin) of each of the head_dim / 2 pairs at the step's position;
    // null: no rotary encoding. With `rotate_halves` element i turns with
    // element i + head_dim / 2 (Hugging Face's layout), else with i + 1.
    const float* turns = nullptr;
    bool rotate_halves = false;
    // The layer's cache: the key (value) of key/value head j at position t
    // of sequence n is head_dim values at keys (values) + n * cache_stride +
    // j * head_stride + slot * head_dim. Without a window, slot t holds
    // position t: [0, position) hold earlier tokens and the step writes
    // slot `position`. With a window W, the cache is a ring of the last W
    // positions (slot t % W), the step writes slot position % W and attends
    // to the min(position + 1, W) slots in use.
    T* keys = nullptr;
    T* values = nullptr;
    std::int64_t cache_stride = 0;
    std::int64_t head_stride = 0;
    std::int64_t window = 0;
};

template <typename T>
struct DecoderStepArgs {
    std::int64_t batch = 1;
    std::int64_t model_dim = 0;
    std::int64_t num_heads = 0;
    std::int64_t num_kv_heads = 0;
    std::int64_t head_dim = 0;
    std::int64_t ffn_dim = 0;
    std::int64_t position = 0;  // of the new tokens
    float attention_scale = 1.0f;
    // Token ids (batch, checked against vocab rows by the caller) and the
    // embedding table, row i at embeddings + i * embedding_stride.
    const std::int64_t* ids = nullptr;
    const T* embeddings = nullptr;
    std::int64_t embedding_stride = 0;
    const StepLayer<T>* layers = nullptr;
    std::int64_t num_layers = 0;
    const T* final_norm = nullptr;
    float final_norm_eps = 0.0f;
    StepProjection<T> output;  // vocab x model_dim
    // Logits of sequence n at logits + n * logits_stride.
    T* logits = nullptr;
    std::int64_t logits_stride = 0;
};

// The step's buffers, kept between steps: reserve() allocates only when a
// step needs more than every one before it. The members belong to
// run_decoder_step().
template <typename T>
struct DecoderStepWorkspace {
    void reserve(const DecoderStepArgs<T>& args, std::int64_t max_keys, int threads);

    struct PerThread {
        std::vector<T> normed;       // batch x model_dim
        std::vector<float> wide;     // batch x widest input: a bfloat16 product's input in float32
        std::vector<float> scratch;  // attention scores and accumulators
    };

    std::vector<T> x;      // residual stream, batch x model_dim
    std::vector<T> qkv;    // batch x (q_dim + 2 kv_dim)
    std::vector<T> attn;   // batch x q_dim
    std::vector<T> y;      // a projection's output before the residual add, batch x model_dim
    std::vector<T> gate;   // batch x ffn_dim, then the GLU's hidden values
    std::vector<T> inner;  // batch x ffn_dim
    std::vector<PerThread> per_thread;
    std::int64_t max_keys = 0;
};

// Runs the step on `threads` threads (one: no parallel region). The caller
// has checked every shape and pointer, and reserved the workspace for
// these args, at least position + 1 keys and this many threads.
template <typename T>
void run_decoder_step(const DecoderStepArgs<T>& args, int threads, DecoderStepWorkspace<T>& workspace);

extern template struct DecoderStepWorkspace<float>;
extern template struct DecoderStepWorkspace<std::uint16_t>;
extern template void run_decoder_step(const DecoderStepArgs<float>&, int, DecoderStepWorkspace<float>&);
extern template void run_decoder_step(const DecoderStepArgs<std::uint16_t>&, int, DecoderStepWorkspace<std::uint16_t>&);

}  // namespace fairseq2::nn::detail
