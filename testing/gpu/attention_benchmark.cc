// Decode attention on the GPU at long context: CommVQ-1 and CommVQ-2
// (CudaLayerCache, attention on the codes, with either key-score kernel:
// per-query-head table or per-KV-head decoding, and the value sums on CUDA
// cores or on tensor cores, "+tc") against the dense bf16
// baseline (CudaDenseAttention, cuBLAS), one LLaMA-3.1-8B layer (32 query
// heads, 8 KV heads, head_dim 128), measured in one process and reported as
// ratios.
//
// Usage: attention_benchmark [--tokens=32768,131072] [--iters=50]
//
// The caches are filled with random codes (timing does not depend on code
// values) plus a full window of 128 f32 tokens; each step is one Attend on a
// caller stream, timed with CUDA events over `iters` steps after a warm-up.
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/types/span.h"
#include "commvq/backend/cuda_dense_attention.h"
#include "commvq/backend/cuda_layer_cache.h"
#include "commvq/base/random.h"
#include "commvq/base/status_macros.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/device_memory.h"
#include "testing/gpu/cuda_test_util.h"

namespace commvq {

constexpr int64_t kWindow = 128;  // full-precision tokens of CommVQ caches

namespace {

constexpr int64_t kChunk = 4096;  // tokens per dense Append

AttentionShape LlamaLayer() {
  AttentionShape shape;
  shape.num_layers = 1;
  shape.num_heads = 32;
  shape.num_kv_heads = 8;
  shape.head_dim = 128;
  shape.rope_theta = 500000.0;
  shape.pair_layout = PairLayout::kHalf;
  return shape;
}

// Milliseconds per call of `step` (which queues work on `stream`).
template <typename Step>
absl::StatusOr<double> TimeSteps(int iters, cudaStream_t stream, Step step) {
  for (int i = 0; i < 3; ++i) CVQ_RETURN_IF_ERROR(step());
  cudaEvent_t start, stop;
  CVQ_RETURN_IF_ERROR(cuda::CudaStatus(cudaEventCreate(&start), "event"));
  CVQ_RETURN_IF_ERROR(cuda::CudaStatus(cudaEventCreate(&stop), "event"));
  CVQ_RETURN_IF_ERROR(
      cuda::CudaStatus(cudaEventRecord(start, stream), "event record"));
  for (int i = 0; i < iters; ++i) CVQ_RETURN_IF_ERROR(step());
  CVQ_RETURN_IF_ERROR(
      cuda::CudaStatus(cudaEventRecord(stop, stream), "event record"));
  CVQ_RETURN_IF_ERROR(
      cuda::CudaStatus(cudaEventSynchronize(stop), "event synchronize"));
  float ms = 0.0f;
  CVQ_RETURN_IF_ERROR(
      cuda::CudaStatus(cudaEventElapsedTime(&ms, start, stop), "elapsed"));
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return static_cast<double>(ms) / iters;
}

struct Row {
  std::string method;
  double ms;
  int64_t kv_bytes;
};

}  // namespace

absl::Status Run(const std::vector<int64_t>& token_counts, int iters) {
  const AttentionShape shape = LlamaLayer();
  const int64_t dim = int64_t{shape.num_kv_heads} * shape.head_dim;
  cudaStream_t stream;
  CVQ_RETURN_IF_ERROR(
      cuda::CudaStatus(cudaStreamCreate(&stream), "stream create"));
  Rng rng(1);
  std::vector<float> host(kChunk * dim);
  rng.FillNormal(absl::MakeSpan(host), 0.0f, 1.0f);
  CVQ_ASSIGN_OR_RETURN(const cuda::DeviceMemory rows,
                       cuda::Upload(absl::MakeConstSpan(host)));
  std::vector<float> query_host(int64_t{shape.num_heads} * shape.head_dim);
  rng.FillNormal(absl::MakeSpan(query_host), 0.0f, 1.0f);
  CVQ_ASSIGN_OR_RETURN(const cuda::DeviceMemory query,
                       cuda::Upload(absl::MakeConstSpan(query_host)));
  CVQ_ASSIGN_OR_RETURN(
      const cuda::DeviceMemory out,
      cuda::DeviceMemory::Allocate(query_host.size() * sizeof(float)));

  std::printf("%8s  %-20s  %10s  %10s  %12s\n", "tokens", "method", "ms/step",
              "vs dense", "KV MiB");
  for (const int64_t tokens : token_counts) {
    std::vector<Row> rows_out;
    {
      CVQ_ASSIGN_OR_RETURN(std::unique_ptr<CudaDenseAttention> dense,
                           CudaDenseAttention::Create(shape, tokens));
      for (int64_t t = 0; t < tokens; t += kChunk) {
        const int64_t n = std::min(kChunk, tokens - t);
        CVQ_RETURN_IF_ERROR(
            dense->Append(rows.as<float>(), rows.as<float>(), n, stream));
      }
      CVQ_ASSIGN_OR_RETURN(const double ms, TimeSteps(iters, stream, [&] {
                             return dense->Attend(query.as<float>(),
                                                  out.as<float>(), stream);
                           }));
      rows_out.push_back({"dense-bf16", ms, dense->KvBytes()});
    }
    using Form = cuda::ValueAccumulateForm;
    struct Variant {
      int bits;
      CudaKeyKernel keys;
      Form values;
    };
    for (const Variant& variant :
         {Variant{1, CudaKeyKernel::kTable, Form::kCudaCores},
          Variant{1, CudaKeyKernel::kDecode, Form::kCudaCores},
          Variant{1, CudaKeyKernel::kDecode, Form::kTensorCores},
          Variant{2, CudaKeyKernel::kTable, Form::kCudaCores},
          Variant{2, CudaKeyKernel::kDecode, Form::kCudaCores},
          Variant{2, CudaKeyKernel::kDecode, Form::kTensorCores}}) {
      const int bits = variant.bits;
      const int stages = bits == 1 ? 11 : 21;
      const KeyQuantizerParams keys =
          testing::RandomKeyParams(shape.num_kv_heads, shape.head_dim, stages,
                                   6, shape.pair_layout, 0.3f, 2);
      const ValueQuantizerParams values = testing::RandomValueParams(
          shape.num_kv_heads, shape.head_dim, bits, 0, 3);
      CudaLayerCacheOptions options;
      options.capacity = tokens;
      options.window = kWindow;
      options.max_append = kWindow;
      options.key_kernel = variant.keys;
      options.value_accumulate = variant.values;
      CVQ_ASSIGN_OR_RETURN(
          std::unique_ptr<CudaLayerCache> cache,
          CudaLayerCache::Create(shape, keys, values, options));
      const int64_t encoded = tokens - kWindow;
      const int64_t codes_per_token = shape.num_kv_heads * stages;
      const int64_t code_bytes = (values.num_code_bits + 7) / 8;
      std::vector<uint16_t> key_codes(encoded * codes_per_token);
      for (uint16_t& c : key_codes) c = rng.NextU64() & 0xfff;
      std::vector<uint8_t> value_codes(encoded * code_bytes);
      for (uint8_t& b : value_codes) b = static_cast<uint8_t>(rng.NextU64());
      const std::vector<float> ones(encoded, 1.0f);
      CVQ_RETURN_IF_ERROR(cache->AppendEncoded(key_codes.data(), ones.data(),
                                               value_codes.data(), ones.data(),
                                               encoded));
      CVQ_RETURN_IF_ERROR(
          cache->Append(rows.as<float>(), rows.as<float>(), kWindow, stream));
      CVQ_ASSIGN_OR_RETURN(const double ms, TimeSteps(iters, stream, [&] {
                             return cache->Attend(query.as<float>(),
                                                  out.as<float>(), stream);
                           }));
      // As held on the device: packed codes and side data of the encoded
      // tokens, the pages' unused slots, and the f32 window rings.
      const CudaLayerCacheMemory memory = cache->Memory();
      const int64_t kv_bytes = memory.codes + memory.side +
                               memory.page_slack + memory.full_precision;
      rows_out.push_back(
          {absl::StrCat("CommVQ-", bits, " ", cache->KeyKernelName(),
                        variant.values == Form::kTensorCores ? "+tc" : ""),
           ms, kv_bytes});
    }
    for (const Row& row : rows_out) {
      std::printf("%8lld  %-20s  %10.4f  %9.2fx  %12.1f\n",
                  static_cast<long long>(tokens), row.method.c_str(), row.ms,
                  rows_out[0].ms / row.ms, row.kv_bytes / 1048576.0);
    }
  }
  cudaStreamDestroy(stream);
  return absl::OkStatus();
}

}  // namespace commvq

int main(int argc, char** argv) {
  std::vector<int64_t> tokens = {32768, 131072};
  int iters = 50;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (absl::StartsWith(arg, "--tokens=")) {
      tokens.clear();
      for (const absl::string_view part :
           absl::StrSplit(absl::string_view(arg).substr(9), ',')) {
        int64_t n = 0;
        if (!absl::SimpleAtoi(part, &n) || n <= commvq::kWindow) {
          std::fprintf(stderr, "bad --tokens entry '%s': expected > 128\n",
                       std::string(part).c_str());
          return 2;
        }
        tokens.push_back(n);
      }
    } else if (absl::StartsWith(arg, "--iters=")) {
      if (!absl::SimpleAtoi(absl::string_view(arg).substr(8), &iters) ||
          iters < 1) {
        std::fprintf(stderr, "bad --iters '%s': expected >= 1\n", arg.c_str());
        return 2;
      }
    } else {
      std::fprintf(stderr,
                   "usage: attention_benchmark [--tokens=N,...] [--iters=N]\n");
      return 2;
    }
  }
  std::string why;
  if (!commvq::testing::CudaDeviceAvailable(&why)) {
    std::fprintf(stderr, "no CUDA device: %s\n", why.c_str());
    return 1;
  }
  const absl::Status status = commvq::Run(tokens, iters);
  if (!status.ok()) {
    std::fprintf(stderr, "%s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
