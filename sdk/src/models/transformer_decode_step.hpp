#pragma once

// TransformerDecoderModel's decoding step through the fused kernel
// (nn/kernels/decoder_step.hpp). Internal to the SDK.

namespace at {
class Tensor;
}

namespace fairseq2::nn {
class IncrementalStateBag;
}

namespace fairseq2::models {
class TransformerDecoderModel;
struct DecodeStepCounts;
}

namespace fairseq2::models::detail {

// The logits (N, vocab) of one decoding step of `model` for `ids` (int64,
// (N, 1), each id checked to be a row of the embedding table), computed by
// the fused kernel, the new keys and values appended to the bag's caches;
// the bag's step number is left to the caller. The tensor is a buffer the
// bag keeps and the next step overwrites. Undefined, with nothing changed
// but reserved room, when the model or the inputs do not suit the kernel:
// parameters of another dtype or device or recorded by autograd, a
// module's output not of the shape the kernel assumes, caches holding
// another number of positions than the bag's step number.
at::Tensor fused_decode_step(TransformerDecoderModel& model, const at::Tensor& ids, nn::IncrementalStateBag& bag);

// Counts a step that went through the modules instead.
void count_module_step(TransformerDecoderModel& model, nn::IncrementalStateBag& bag);

// The steps of `bag` so far, by path.
DecodeStepCounts decode_step_counts(const TransformerDecoderModel& model, const nn::IncrementalStateBag& bag);

}  // namespace fairseq2::models::detail
