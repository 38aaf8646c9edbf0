#pragma once

// Which positions of a right-padded batch hold real tokens.

#include <cstdint>

#include <ATen/core/Tensor.h>

#include "fairseq2/version.hpp"

namespace fairseq2::nn {

class FAIRSEQ2_API PaddingMask {
public:
    // `seq_lens`: int64 tensor (N) of real lengths; `batch_seq_len`: the
    // padded length S of the batch. Throws InvalidArgumentError when a
    // length is negative or greater than S.
    PaddingMask(at::Tensor seq_lens, std::int64_t batch_seq_len);

    const at::Tensor& seq_lens() const noexcept { return seq_lens_; }
    std::int64_t batch_seq_len() const noexcept { return batch_seq_len_; }

    // Bool tensor (N, S): true where the position holds a real token.
    at::Tensor materialize() const;

private:
    at::Tensor seq_lens_;
    std::int64_t batch_seq_len_;
};

}  // namespace fairseq2::nn
