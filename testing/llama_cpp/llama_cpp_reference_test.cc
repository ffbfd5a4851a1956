// Compares the forward pass with llama.cpp on SmolLM2-135M: the same token
// ids go through both, and every position's next-token logits are compared
// (top-1 agreement and the largest logit difference). llama.cpp multiplies
// Q4_1 weights with 8-bit-quantized activations while this library runs in
// f32, so logits differ slightly; the argmax should almost always agree.
//
// Tagged manual (slow, needs llama-cpp-python built from source):
//   testing/llama_cpp/run_comparison.sh
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "commvq/base/byte_io.h"
#include "commvq/base/status_matchers.h"
#include "commvq/base/thread_pool.h"
#include "commvq/io/atomic_file.h"
#include "commvq/kvcache/full_precision_kv_cache.h"
#include "commvq/model/loaded_model.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

constexpr const char* kPrompts[] = {
    "The capital of France is Paris. The capital of Germany is",
    "In the beginning God created the heavens and the earth. The earth was "
    "formless and empty.",
    "def fibonacci(n):\n    if n < 2:\n        return n\n    return",
    "Once upon a time, in a small village by the sea, there lived an old "
    "fisherman who",
    "1, 2, 3, 5, 8, 13, 21,",
};

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

TEST(LlamaCppReferenceTest, LogitsAgreeWithLlamaCpp) {
  const std::string model_path =
      Env("COMMVQ_MODEL_DIR") + "/SmolLM2-135M-Instruct.Q4_1.gguf";
  const std::string python = Env("COMMVQ_LLAMA_CPP_PYTHON");
  ASSERT_FALSE(python.empty())
      << "COMMVQ_LLAMA_CPP_PYTHON is unset: run testing/llama_cpp/run_comparison.sh";
  ThreadPool pool(ThreadPool::DefaultNumThreads());
  CVQ_ASSERT_OK_AND_ASSIGN(LoadedModel loaded, LoadModel(model_path, &pool));
  const int vocab = loaded.model->config().vocab_size;

  std::vector<std::vector<int32_t>> prompts;
  std::string ids;
  ByteWriter writer(&ids);
  writer.WriteBytes("CVQIDS01");
  writer.Write<uint32_t>(std::size(kPrompts));
  for (const char* prompt : kPrompts) {
    CVQ_ASSERT_OK_AND_ASSIGN(std::vector<int32_t> tokens,
                             loaded.tokenizer->Encode(prompt, false));
    writer.Write<uint32_t>(tokens.size());
    for (int32_t t : tokens) writer.Write<int32_t>(t);
    prompts.push_back(std::move(tokens));
  }
  const std::string dir = Env("TEST_TMPDIR");
  ASSERT_THAT(WriteFileAtomically(dir + "/ids.bin", ids), testing::IsOk());
  const std::string command = absl::StrCat(
      python, " ", Env("TEST_SRCDIR"),
      "/commvq/testing/llama_cpp/llama_cpp_logits.py ", model_path, " ", dir,
      "/ids.bin ", dir, "/logits.bin");
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  CVQ_ASSERT_OK_AND_ASSIGN(std::string reference, ReadFile(dir + "/logits.bin"));
  ByteReader reader(reference, "llama.cpp logits");
  CVQ_ASSERT_OK_AND_ASSIGN(absl::string_view magic, reader.ReadBytes(8, "magic"));
  ASSERT_EQ(magic, "CVQLOG01");
  CVQ_ASSERT_OK_AND_ASSIGN(uint32_t count, reader.Read<uint32_t>("count"));
  CVQ_ASSERT_OK_AND_ASSIGN(uint32_t reference_vocab, reader.Read<uint32_t>("vocab"));
  ASSERT_EQ(count, prompts.size());
  ASSERT_EQ(reference_vocab, static_cast<uint32_t>(vocab));

  int positions = 0, top1_agree = 0;
  double max_diff = 0.0;
  for (const std::vector<int32_t>& tokens : prompts) {
    CVQ_ASSERT_OK_AND_ASSIGN(uint32_t n, reader.Read<uint32_t>("n"));
    ASSERT_EQ(n, tokens.size());
    CVQ_ASSERT_OK_AND_ASSIGN(absl::string_view bytes,
                             reader.ReadBytes(uint64_t{n} * vocab * 4, "logits"));
    std::vector<float> theirs(n * vocab);
    std::memcpy(theirs.data(), bytes.data(), bytes.size());
    CVQ_ASSERT_OK_AND_ASSIGN(auto cache, FullPrecisionKvCache::Create(
                                             AttentionShapeOf(loaded.model->config())));
    std::vector<float> ours(n * vocab);
    ASSERT_THAT(loaded.model->Forward(tokens, 0, *cache,
                                      MutableTensorView(ours.data(), DType::kF32,
                                                        {n, vocab})),
                testing::IsOk());
    for (uint32_t p = 0; p < n; ++p) {
      const float* a = ours.data() + p * vocab;
      const float* b = theirs.data() + p * vocab;
      top1_agree += std::max_element(a, a + vocab) - a ==
                    std::max_element(b, b + vocab) - b;
      for (int v = 0; v < vocab; ++v) {
        max_diff = std::max(max_diff, std::abs(double{a[v]} - b[v]));
      }
      ++positions;
    }
  }
  std::printf("llama.cpp comparison: %d positions, top-1 agreement %d/%d "
              "(%.1f%%), max |logit difference| %.4f\n",
              positions, top1_agree, positions, 100.0 * top1_agree / positions,
              max_diff);
  EXPECT_GE(top1_agree, 0.9 * positions);
  EXPECT_LT(max_diff, 2.0);
}

}  // namespace
}  // namespace commvq
