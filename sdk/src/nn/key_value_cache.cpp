#include "key_value_cache.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "cpu_kernels.hpp"
#include "fairseq2/error.hpp"

namespace fairseq2::nn::detail {

void KeyValueCache::check_batch(std::int64_t batch) const
{
    if (keys_.defined() && batch != keys_.size(0))
        throw InvalidArgumentError("The batch size changed from " + std::to_string(keys_.size(0)) + " to " + std::to_string(batch) +
                                   " between incremental decoding steps of one state bag.");
}

void KeyValueCache::reserve(std::int64_t batch, std::int64_t kv_heads, std::int64_t head_dim, const at::TensorOptions& options,
                            std::int64_t count, std::int64_t max_num_steps)
{
    check_batch(batch);
    const std::int64_t needed = size_ + count;
    if (keys_.defined() && needed <= keys_.size(2))
        return;
    std::int64_t capacity = keys_.defined() ? keys_.size(2) * 2 : 256;
    capacity = std::min(std::max(capacity, needed), std::max(max_num_steps, needed));
    at::Tensor keys = at::empty({batch, kv_heads, capacity, head_dim}, options);
    at::Tensor values = at::empty({batch, kv_heads, capacity, head_dim}, options);
    if (size_ > 0) {
        keys.narrow(2, 0, size_).copy_(keys_.narrow(2, 0, size_));
        values.narrow(2, 0, size_).copy_(values_.narrow(2, 0, size_));
    }
    keys_ = std::move(keys);
    values_ = std::move(values);
}

void KeyValueCache::append(const at::Tensor& k, const at::Tensor& v, std::int64_t max_num_steps)
{
    // The first append fixes the dtype and layout; later ones must match
    // them (a model whose dtype changed mid-generation is not supported).
    const at::TensorOptions options = keys_.defined() ? keys_.options() : k.options();
    reserve(k.size(0), k.size(1), k.size(3), options, k.size(2), max_num_steps);
    if (!write_rows(keys_, k) || !write_rows(values_, v)) {
        keys_.narrow(2, size_, k.size(2)).copy_(k);
        values_.narrow(2, size_, v.size(2)).copy_(v);
    }
    commit(k.size(2));
}

bool KeyValueCache::write_rows(const at::Tensor& buffer, const at::Tensor& x) const
{
    if (!kernel_ready(x) || x.scalar_type() != buffer.scalar_type() || x.stride(3) != 1)
        return false;
    const auto element = static_cast<std::int64_t>(x.element_size());
    const auto row_bytes = static_cast<std::size_t>(x.size(3) * element);
    const auto* from = static_cast<const char*>(x.data_ptr());
    auto* to = static_cast<char*>(buffer.data_ptr());
    for (std::int64_t n = 0; n < x.size(0); ++n)
        for (std::int64_t h = 0; h < x.size(1); ++h)
            for (std::int64_t s = 0; s < x.size(2); ++s)
                std::memcpy(to + (n * buffer.stride(0) + h * buffer.stride(1) + (size_ + s) * buffer.stride(2)) * element,
                            from + (n * x.stride(0) + h * x.stride(1) + s * x.stride(2)) * element, row_bytes);
    return true;
}

}  // namespace fairseq2::nn::detail
