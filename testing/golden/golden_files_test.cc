// Every released codebook file version keeps loading. The expected values are
// written out here, independent of the code that produced the files.
#include <cstdlib>
#include <string>
#include <vector>

#include "commvq/base/float16.h"
#include "commvq/base/status_matchers.h"
#include "commvq/io/codebook_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

std::string GoldenPath(const std::string& name) {
  return std::string(std::getenv("TEST_SRCDIR")) + "/commvq/testing/golden/" +
         name;
}

TEST(GoldenFilesTest, Version1Small) {
  CVQ_ASSERT_OK_AND_ASSIGN(CodebookFile file,
                           CodebookFile::Open(GoldenPath("codebook_v1_small.cvqcb")));
  EXPECT_EQ(file.version(), 1u);
  EXPECT_EQ(file.model().model_name, "golden-model");
  EXPECT_EQ(file.model().num_layers, 1);
  EXPECT_EQ(file.model().num_heads, 4);
  EXPECT_EQ(file.model().num_kv_heads, 2);
  EXPECT_EQ(file.model().head_dim, 4);
  EXPECT_EQ(file.model().rope_theta, 500000.0);
  EXPECT_EQ(file.model().pair_layout, PairLayout::kHalf);
  EXPECT_EQ(file.provenance().trainer, "make_golden_files");
  EXPECT_EQ(file.provenance().seed, 42u);
  EXPECT_EQ(file.provenance().num_samples, 4);
  EXPECT_EQ(file.provenance().created_utc, "2026-11-29T00:00:00Z");
  EXPECT_EQ(file.provenance().extra.at("purpose"), "format golden file");

  CVQ_ASSERT_OK_AND_ASSIGN(TensorView codebook, file.Tensor("codebook"));
  EXPECT_THAT(std::vector<float>(codebook.span<float>().begin(),
                                 codebook.span<float>().end()),
              ::testing::ElementsAre(-1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 1.5f,
                                     2.0f, 2.5f));
  CVQ_ASSERT_OK_AND_ASSIGN(TensorView scales, file.Tensor("scales"));
  ASSERT_EQ(scales.dtype(), DType::kF16);
  EXPECT_EQ(HalfBitsToFloat(scales.span<uint16_t>()[0]), 1.0f);
  EXPECT_EQ(HalfBitsToFloat(scales.span<uint16_t>()[1]), 2.0f);
  EXPECT_EQ(HalfBitsToFloat(scales.span<uint16_t>()[2]), -0.5f);

  ASSERT_EQ(file.quantizers().size(), 2u);
  EXPECT_EQ(file.quantizers()[0].name, "layer.0.key");
  EXPECT_EQ(file.quantizers()[0].role, CacheRole::kKey);
  EXPECT_EQ(file.quantizers()[0].spec, "int:bits=2,group_size=4");
  EXPECT_EQ(file.quantizers()[1].spec, "fp16");
  CVQ_ASSERT_OK_AND_ASSIGN(auto key, file.LoadQuantizer("layer.0.key"));
  // 2-bit codes of a group spanning [0, 3] decode exactly.
  const std::vector<float> x = {0, 1, 2, 3, 3, 2, 1, 0};
  std::vector<uint8_t> codes(2), side(8);
  std::vector<float> decoded(8);
  ASSERT_THAT(key->Encode(TensorView(x.data(), DType::kF32, {1, 8}),
                          MutableTensorView(codes.data(), DType::kU8, {1, 2}),
                          MutableTensorView(side.data(), DType::kU8, {1, 8})),
              testing::IsOk());
  ASSERT_THAT(key->Decode(TensorView(codes.data(), DType::kU8, {1, 2}),
                          TensorView(side.data(), DType::kU8, {1, 8}),
                          MutableTensorView(decoded.data(), DType::kF32, {1, 8})),
              testing::IsOk());
  EXPECT_EQ(decoded, x);
}

TEST(GoldenFilesTest, Version1Empty) {
  CVQ_ASSERT_OK_AND_ASSIGN(CodebookFile file,
                           CodebookFile::Open(GoldenPath("codebook_v1_empty.cvqcb")));
  EXPECT_EQ(file.version(), 1u);
  EXPECT_EQ(file.model().model_name, "empty");
  EXPECT_TRUE(file.tensors().empty());
  EXPECT_TRUE(file.quantizers().empty());
}

}  // namespace
}  // namespace commvq
