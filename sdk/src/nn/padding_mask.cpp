#include "fairseq2/nn/padding_mask.hpp"

#include <ATen/ATen.h>

#include "fairseq2/error.hpp"

namespace fairseq2::nn {

PaddingMask::PaddingMask(at::Tensor seq_lens, std::int64_t batch_seq_len)
    : seq_lens_{std::move(seq_lens)}, batch_seq_len_{batch_seq_len}
{
    if (seq_lens_.dim() != 1)
        throw InvalidArgumentError("The sequence lengths of a padding mask must be a 1-D tensor, but have " +
                                   std::to_string(seq_lens_.dim()) + " dimensions.");
    if (seq_lens_.numel() > 0) {
        auto max_len = seq_lens_.max().item<std::int64_t>();
        auto min_len = seq_lens_.min().item<std::int64_t>();
        if (min_len < 0 || max_len > batch_seq_len_)
            throw InvalidArgumentError("The sequence lengths of a padding mask must be between 0 and " + std::to_string(batch_seq_len_) +
                                       ", but range from " + std::to_string(min_len) + " to " + std::to_string(max_len) + ".");
    }
}

at::Tensor PaddingMask::materialize() const
{
    at::Tensor positions = at::arange(batch_seq_len_, at::TensorOptions().dtype(at::kLong).device(seq_lens_.device()));
    return positions.unsqueeze(0) < seq_lens_.unsqueeze(1);
}

}  // namespace fairseq2::nn
