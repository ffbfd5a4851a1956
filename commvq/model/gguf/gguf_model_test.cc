// Reads the real model (SmolLM2-135M-Instruct, Q4_1 GGUF) that ./setup.sh
// downloads: its metadata, tensor table and the dequantization of every
// tensor. Fails, rather than skips, when the model is not set up.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "commvq/base/status_matchers.h"
#include "commvq/base/thread_pool.h"
#include "commvq/model/gguf/dequantize.h"
#include "commvq/model/gguf/gguf_file.h"
#include "commvq/model/gguf/gguf_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

using ::commvq::testing::IsOkAndHolds;
using ::testing::ElementsAre;
using ::testing::SizeIs;

// The real model; a failure says to run ./setup.sh if it is missing.
absl::StatusOr<GgufFile> OpenModel() {
  absl::StatusOr<std::string> path = ModelPathFromEnv();
  if (!path.ok()) return path.status();
  return GgufFile::Open(*path);
}

TEST(GgufModelTest, Metadata) {
  CVQ_ASSERT_OK_AND_ASSIGN(const GgufFile file, OpenModel());
  EXPECT_EQ(file.version(), 3u);
  EXPECT_EQ(file.alignment(), 32u);
  EXPECT_THAT(file.metadata(), SizeIs(33));
  EXPECT_THAT(file.GetString("general.architecture"), IsOkAndHolds("llama"));
  EXPECT_THAT(file.GetInt("llama.block_count"), IsOkAndHolds(30));
  EXPECT_THAT(file.GetInt("llama.context_length"), IsOkAndHolds(8192));
  EXPECT_THAT(file.GetInt("llama.embedding_length"), IsOkAndHolds(576));
  EXPECT_THAT(file.GetInt("llama.feed_forward_length"), IsOkAndHolds(1536));
  EXPECT_THAT(file.GetInt("llama.attention.head_count"), IsOkAndHolds(9));
  EXPECT_THAT(file.GetInt("llama.attention.head_count_kv"), IsOkAndHolds(3));
  EXPECT_THAT(file.GetFloat("llama.rope.freq_base"), IsOkAndHolds(100000.0));
  EXPECT_THAT(file.GetFloat("llama.attention.layer_norm_rms_epsilon"),
              IsOkAndHolds(static_cast<double>(1e-5f)));
  EXPECT_THAT(file.GetInt("llama.vocab_size"), IsOkAndHolds(49152));
  EXPECT_THAT(file.GetInt("llama.rope.dimension_count"), IsOkAndHolds(64));
  EXPECT_THAT(file.GetStringArray("general.languages"),
              IsOkAndHolds(ElementsAre("en")));

  EXPECT_THAT(file.GetString("tokenizer.ggml.model"), IsOkAndHolds("gpt2"));
  EXPECT_THAT(file.GetString("tokenizer.ggml.pre"), IsOkAndHolds("smollm"));
  EXPECT_THAT(file.GetBool("tokenizer.ggml.add_bos_token"),
              IsOkAndHolds(false));
  EXPECT_THAT(file.GetInt("tokenizer.ggml.bos_token_id"), IsOkAndHolds(1));
  EXPECT_THAT(file.GetInt("tokenizer.ggml.eos_token_id"), IsOkAndHolds(2));
  EXPECT_THAT(file.GetInt("tokenizer.ggml.unknown_token_id"), IsOkAndHolds(0));
  EXPECT_THAT(file.GetInt("tokenizer.ggml.padding_token_id"), IsOkAndHolds(2));

  CVQ_ASSERT_OK_AND_ASSIGN(const std::vector<absl::string_view> tokens,
                           file.GetStringArray("tokenizer.ggml.tokens"));
  ASSERT_THAT(tokens, SizeIs(49152));
  EXPECT_EQ(tokens[0], "<|endoftext|>");
  EXPECT_EQ(tokens[1], "<|im_start|>");
  EXPECT_EQ(tokens[2], "<|im_end|>");
  CVQ_ASSERT_OK_AND_ASSIGN(const std::vector<int64_t> token_types,
                           file.GetIntArray("tokenizer.ggml.token_type"));
  ASSERT_THAT(token_types, SizeIs(49152));
  // 3 is "control" (special tokens), 1 "normal".
  EXPECT_EQ(token_types[0], 3);
  EXPECT_EQ(token_types[49151], 1);
  CVQ_ASSERT_OK_AND_ASSIGN(const std::vector<absl::string_view> merges,
                           file.GetStringArray("tokenizer.ggml.merges"));
  ASSERT_THAT(merges, SizeIs(48900));
  EXPECT_EQ(merges[0], "\xc4\xa0 t");  // "Ġ t": a space, then "t"
}

TEST(GgufModelTest, Tensors) {
  CVQ_ASSERT_OK_AND_ASSIGN(const GgufFile file, OpenModel());
  ASSERT_THAT(file.tensors(), SizeIs(272));
  std::map<std::string, int> types;
  for (const GgufTensorInfo& tensor : file.tensors()) {
    ++types[GgmlTypeName(tensor.type)];
  }
  EXPECT_THAT(types, ElementsAre(std::pair<const std::string, int>("F32", 61),
                                 std::pair<const std::string, int>("Q4_1", 210),
                                 std::pair<const std::string, int>("Q8_0", 1)));

  struct Expected {
    const char* name;
    GgmlType type;
    std::vector<int64_t> dims;
  };
  const Expected expected[] = {
      {"token_embd.weight", GgmlType::kQ8_0, {576, 49152}},
      {"blk.0.attn_q.weight", GgmlType::kQ4_1, {576, 576}},
      {"blk.0.attn_k.weight", GgmlType::kQ4_1, {576, 192}},
      {"blk.0.attn_v.weight", GgmlType::kQ4_1, {576, 192}},
      {"blk.0.attn_output.weight", GgmlType::kQ4_1, {576, 576}},
      {"blk.0.ffn_gate.weight", GgmlType::kQ4_1, {576, 1536}},
      {"blk.0.ffn_down.weight", GgmlType::kQ4_1, {1536, 576}},
      {"blk.29.attn_norm.weight", GgmlType::kF32, {576}},
      {"output_norm.weight", GgmlType::kF32, {576}},
  };
  for (const Expected& e : expected) {
    CVQ_ASSERT_OK_AND_ASSIGN(const GgufTensorInfo* tensor,
                             file.FindTensor(e.name));
    EXPECT_EQ(tensor->type, e.type) << e.name;
    EXPECT_THAT(tensor->dims, ::testing::ElementsAreArray(e.dims)) << e.name;
  }
  CVQ_ASSERT_OK_AND_ASSIGN(const GgufTensorInfo* embedding,
                           file.FindTensor("token_embd.weight"));
  EXPECT_EQ(embedding->num_rows, 49152);
  // 49152 rows of 18 Q8_0 blocks of 34 bytes, right after the header.
  EXPECT_EQ(embedding->data.size(), 49152u * 18 * 34);
  EXPECT_EQ(file.data_offset() + embedding->offset, 1785664u);
}

// Dequantizes the whole model, once on one thread and once on all, and
// reports the times (the bit-exact comparison against the `gguf` package is
// gguf_reference_test).
TEST(GgufModelTest, DequantizesEveryTensor) {
  CVQ_ASSERT_OK_AND_ASSIGN(const GgufFile file, OpenModel());
  ThreadPool pool(ThreadPool::DefaultNumThreads());
  for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
    int64_t elements = 0;
    double seconds = 0;
    for (const GgufTensorInfo& tensor : file.tensors()) {
      const auto start = std::chrono::steady_clock::now();
      CVQ_ASSERT_OK_AND_ASSIGN(const std::vector<float> values,
                               DequantizeTensor(file, tensor.name, p));
      seconds += std::chrono::duration<double>(
                     std::chrono::steady_clock::now() - start)
                     .count();
      elements += values.size();
      for (const float v : values) {
        ASSERT_TRUE(std::isfinite(v)) << tensor.name;
      }
    }
    EXPECT_EQ(elements, 134515008);
    std::cout << "dequantized " << elements << " elements to f32 on "
              << (p == nullptr ? 1 : p->num_threads()) << " thread(s) in "
              << seconds << " s (" << elements / seconds / 1e6
              << " M elements/s)\n";
  }
}

}  // namespace
}  // namespace commvq
