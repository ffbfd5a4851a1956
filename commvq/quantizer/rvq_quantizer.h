// `rvq`: plain residual vector quantization with a k-means codebook per
// stage, the VQLLM baseline of the CommVQ paper.
//
// A vector (first scaled to unit length when normalize=true, its norm then
// stored as fp16 side data, as the paper's baselines do for keys) is split
// into dim / subvector consecutive chunks (subvector=0: one chunk, the whole
// vector). Each chunk c has `stages` codebooks of 2^bits codewords; encoding
// picks greedily, stage by stage, the codeword nearest to what the previous
// stages left over:
//   x ~= ||x|| * concat over c of (sum over s of C[c][s][q[c][s]])
// Training fits the codebooks in the same order, each by k-means on the
// residuals of the training vectors after the previous stages.
//
// Stored per vector: num_chunks * stages * bits code bits, packed with
// PackCodes in the order q[c][s] -> index c * stages + s, plus 2 bytes of
// fp16 norm when normalize=true. Bits per element:
//   stages * bits / subvector (+ 16 / dim when normalize=true).
//
// Payload (little-endian): u32 stages, u32 bits, u32 subvector (elements per
// chunk, dim when the option is 0), u32 dim, then the codebooks as f32
// [num_chunks, stages, 2^bits, subvector].
#ifndef COMMVQ_QUANTIZER_RVQ_QUANTIZER_H_
#define COMMVQ_QUANTIZER_RVQ_QUANTIZER_H_

#include <memory>

#include "commvq/quantizer/quantizer.h"

namespace commvq {

std::unique_ptr<QuantizerFactory> MakeRvqQuantizerFactory();

}  // namespace commvq

#endif  // COMMVQ_QUANTIZER_RVQ_QUANTIZER_H_
