#include "rotary.hpp"

#include "bfloat16.hpp"

namespace fairseq2::nn::detail {

namespace {

template <typename T>
inline __attribute__((always_inline)) void rotate(const T* x, T* y, std::int64_t count, std::int64_t dim, const float* turns)
{
    for (std::int64_t v = 0; v < count; ++v) {
        const T* in = x + v * dim;
        T* out = y + v * dim;
        for (std::int64_t i = 0; i < dim; i += 2) {
            const float x0 = widen(in[i]);
            const float x1 = widen(in[i + 1]);
            const float cos = turns[i];
            const float sin = turns[i + 1];
            store(out + i, x0 * cos - x1 * sin);
            store(out + i + 1, x0 * sin + x1 * cos);
        }
    }
}

template <typename T>
inline __attribute__((always_inline)) void rotate_half(const T* x, T* y, std::int64_t count, std::int64_t dim, const float* turns)
{
    const std::int64_t half = dim / 2;
    for (std::int64_t v = 0; v < count; ++v) {
        const T* in = x + v * dim;
        T* out = y + v * dim;
        for (std::int64_t i = 0; i < half; ++i) {
            const float x0 = widen(in[i]);
            const float x1 = widen(in[i + half]);
            const float cos = turns[2 * i];
            const float sin = turns[2 * i + 1];
            store(out + i, x0 * cos - x1 * sin);
            store(out + i + half, x1 * cos + x0 * sin);
        }
    }
}

}  // namespace

FAIRSEQ2_CLONES void rotate_halves(const float* x, float* y, std::int64_t count, std::int64_t dim, const float* turns)
{
    rotate_half(x, y, count, dim, turns);
}

FAIRSEQ2_CLONES void rotate_halves(const std::uint16_t* x, std::uint16_t* y, std::int64_t count, std::int64_t dim, const float* turns)
{
    rotate_half(x, y, count, dim, turns);
}

FAIRSEQ2_CLONES void rotate_pairs(const float* x, float* y, std::int64_t count, std::int64_t dim, const float* turns)
{
    rotate(x, y, count, dim, turns);
}

FAIRSEQ2_CLONES void rotate_pairs(const std::uint16_t* x, std::uint16_t* y, std::int64_t count, std::int64_t dim, const float* turns)
{
    rotate(x, y, count, dim, turns);
}

}  // namespace fairseq2::nn::detail
