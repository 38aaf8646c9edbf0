#include "key_value_cache.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include <ATen/Parallel.h>

#include "cpu_kernels.hpp"
#include "fairseq2/error.hpp"

namespace fairseq2::nn::detail {

void KeyValueCache::set_window(std::int64_t window)
{
    if (window < 0)
        throw InvalidArgumentError("The attention window must not be negative, but is " + std::to_string(window) + ".");
    if (window != window_ && total_ > 0)
        throw InvalidArgumentError("The attention window of a key/value cache cannot change while it holds positions.");
    window_ = window;
}

void KeyValueCache::reorder(const at::Tensor& new_order, const at::Tensor& /*source_order*/)
{
    if (!keys_.defined())
        return;
    const std::int64_t held = size();
    const std::int64_t batch = keys_.size(0);
    at::Tensor order = new_order.to(at::kCPU).contiguous();
    const auto* rows = order.data_ptr<std::int64_t>();
    for (std::int64_t i = 0; i < order.numel(); ++i)
        if (rows[i] < 0 || rows[i] >= batch)
            throw InvalidArgumentError("The new order of a key/value cache names sequence " + std::to_string(rows[i]) + ", but it holds " +
                                       std::to_string(batch) + ".");
    const auto gather = [&](const at::Tensor& buffer) {
        at::Tensor out = at::empty({order.numel(), buffer.size(1), buffer.size(2), buffer.size(3)}, buffer.options());
        if (held == 0)
            return out;
        if (!buffer.device().is_cpu()) {
            out.narrow(2, 0, held).copy_(buffer.narrow(2, 0, held).index_select(0, order.to(buffer.device())));
            return out;
        }
        // Each (sequence, head) row holds its slots back to back: copy the
        // held ones only.
        const std::int64_t heads = buffer.size(1);
        const auto row_bytes = static_cast<std::size_t>(held * buffer.size(3) * buffer.element_size());
        const auto* from = static_cast<const char*>(buffer.data_ptr());
        auto* to = static_cast<char*>(out.data_ptr());
        const std::int64_t head_stride = buffer.stride(1) * buffer.element_size();
        const std::int64_t seq_stride = buffer.stride(0) * buffer.element_size();
        at::parallel_for(0, order.numel() * heads, 64, [&](std::int64_t first, std::int64_t last) {
            for (std::int64_t i = first; i < last; ++i) {
                const std::int64_t n = i / heads;
                const std::int64_t h = i % heads;
                std::memcpy(to + n * seq_stride + h * head_stride, from + rows[n] * seq_stride + h * head_stride, row_bytes);
            }
        });
        return out;
    };
    keys_ = gather(keys_);
    values_ = gather(values_);
}

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
    // The slots the cache will hold: with a window, never more than it.
    std::int64_t needed = total_ + count;
    std::int64_t limit = std::max(max_num_steps, needed);
    if (window_ > 0) {
        needed = std::min(needed, window_);
        limit = std::min(limit, window_);
    }
    if (keys_.defined() && needed <= keys_.size(2))
        return;
    std::int64_t capacity = keys_.defined() ? keys_.size(2) * 2 : 256;
    capacity = std::min(std::max(capacity, needed), limit);
    at::Tensor keys = at::empty({batch, kv_heads, capacity, head_dim}, options);
    at::Tensor values = at::empty({batch, kv_heads, capacity, head_dim}, options);
    // Growth happens only before a ring wraps: the held positions are in
    // slots [0, size()).
    if (const std::int64_t held = size(); held > 0) {
        keys.narrow(2, 0, held).copy_(keys_.narrow(2, 0, held));
        values.narrow(2, 0, held).copy_(values_.narrow(2, 0, held));
    }
    keys_ = std::move(keys);
    values_ = std::move(values);
}

at::Tensor KeyValueCache::ordered(const at::Tensor& buffer) const
{
    const std::int64_t held = size();
    if (window_ == 0 || total_ <= window_)
        return buffer.narrow(2, 0, held);
    // Wrapped: the oldest position is in the slot the next one will take.
    const std::int64_t oldest = slot(total_);
    return at::cat({buffer.narrow(2, oldest, held - oldest), buffer.narrow(2, 0, oldest)}, 2);
}

void KeyValueCache::append(const at::Tensor& k, const at::Tensor& v, std::int64_t max_num_steps)
{
    // The first append fixes the dtype and layout; later ones must match
    // them (a model whose dtype changed mid-generation is not supported).
    const at::TensorOptions options = keys_.defined() ? keys_.options() : k.options();
    const std::int64_t count = k.size(2);
    reserve(k.size(0), k.size(1), k.size(3), options, count, max_num_steps);
    // With a window only the last W positions can stay.
    const std::int64_t first = window_ > 0 ? std::max<std::int64_t>(0, count - window_) : 0;
    if (!write_rows(keys_, k, first) || !write_rows(values_, v, first)) {
        for (std::int64_t s = first; s < count; ++s) {
            const std::int64_t to = slot(total_ + s);
            keys_.narrow(2, to, 1).copy_(k.narrow(2, s, 1));
            values_.narrow(2, to, 1).copy_(v.narrow(2, s, 1));
        }
    }
    commit(count);
}

bool KeyValueCache::write_rows(const at::Tensor& buffer, const at::Tensor& x, std::int64_t first) const
{
    if (!kernel_ready(x) || x.scalar_type() != buffer.scalar_type() || x.stride(3) != 1)
        return false;
    const auto element = static_cast<std::int64_t>(x.element_size());
    const auto row_bytes = static_cast<std::size_t>(x.size(3) * element);
    const auto* from = static_cast<const char*>(x.data_ptr());
    auto* to = static_cast<char*>(buffer.data_ptr());
    for (std::int64_t n = 0; n < x.size(0); ++n)
        for (std::int64_t h = 0; h < x.size(1); ++h)
            for (std::int64_t s = first; s < x.size(2); ++s)
                std::memcpy(to + (n * buffer.stride(0) + h * buffer.stride(1) + slot(total_ + s) * buffer.stride(2)) * element,
                            from + (n * x.stride(0) + h * x.stride(1) + s * x.stride(2)) * element, row_bytes);
    return true;
}

}  // namespace fairseq2::nn::detail
