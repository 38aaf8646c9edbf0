#include "attention.hpp"

#include <cmath>

#include "bfloat16.hpp"

namespace fairseq2::nn::detail {

namespace {

template <typename T>
inline __attribute__((always_inline)) float dot(const float* a, const T* b, std::int64_t n)
{
    float partial[8] = {};
    std::int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; ++j)
            partial[j] += a[i + j] * widen(b[i + j]);
    float sum = ((partial[0] + partial[1]) + (partial[2] + partial[3])) + ((partial[4] + partial[5]) + (partial[6] + partial[7]));
    for (; i < n; ++i)
        sum += a[i] * widen(b[i]);
    return sum;
}

template <typename T>
inline __attribute__((always_inline)) void attend(const DecodeAttentionArgs<T>& args, std::int64_t first, std::int64_t last,
                                                  float* scratch)
{
    const std::int64_t d = args.head_dim;
    float* scores = scratch;
    float* query = scratch + args.num_keys;
    float* acc = query + d;
    for (std::int64_t index = first; index < last; ++index) {
        const std::int64_t seq = index / args.num_heads;
        const std::int64_t head = index % args.num_heads;
        const T* q = args.queries + seq * args.query_stride + head * d;
        const std::int64_t kv_offset = seq * args.cache_stride + (head / args.group) * args.head_stride;
        const T* keys = args.keys + kv_offset;
        const T* values = args.values + kv_offset;

        for (std::int64_t i = 0; i < d; ++i)
            query[i] = widen(q[i]) * args.scale;
        float max = -INFINITY;
        for (std::int64_t t = 0; t < args.num_keys; ++t) {
            scores[t] = dot(query, keys + t * d, d);
            max = scores[t] > max ? scores[t] : max;
        }
        float sum = 0.0f;
        for (std::int64_t t = 0; t < args.num_keys; ++t) {
            scores[t] = std::exp(scores[t] - max);
            sum += scores[t];
        }
        for (std::int64_t i = 0; i < d; ++i)
            acc[i] = 0.0f;
        for (std::int64_t t = 0; t < args.num_keys; ++t) {
            const float weight = scores[t];
            const T* value = values + t * d;
            for (std::int64_t i = 0; i < d; ++i)
                acc[i] += weight * widen(value[i]);
        }
        const float inverse = 1.0f / sum;
        T* out = args.out + seq * args.out_stride + head * d;
        for (std::int64_t i = 0; i < d; ++i)
            store(out + i, acc[i] * inverse);
    }
}

}  // namespace

FAIRSEQ2_CLONES void attend_one_position(const DecodeAttentionArgs<float>& args, std::int64_t first, std::int64_t last, float* scratch)
{
    attend(args, first, last, scratch);
}

FAIRSEQ2_CLONES void attend_one_position(const DecodeAttentionArgs<std::uint16_t>& args, std::int64_t first, std::int64_t last,
                                         float* scratch)
{
    attend(args, first, last, scratch);
}

}  // namespace fairseq2::nn::detail
