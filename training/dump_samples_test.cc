#include "training/dump_samples.h"

#include <cstdint>
#include <string>
#include <vector>

#include "commvq/base/status_matchers.h"
#include "commvq/io/safetensors.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "training/kv_dump_test_util.h"

namespace commvq {
namespace {

using ::commvq::testing::IsOk;
using ::commvq::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Row t of every tensor holds t + layer / 10 in each element.
std::string WriteDump(const std::string& name, const std::string& layout) {
  const std::string path = ::testing::TempDir() + "/" + name;
  testing::TestDumpShape shape;
  shape.num_layers = 3;
  shape.tokens = 10;
  shape.num_heads = 4;
  shape.num_kv_heads = 2;
  shape.head_dim = 4;
  shape.pair_layout = layout;
  EXPECT_THAT(testing::WriteTestKvDump(
                  path, shape,
                  [](int layer, const std::string& kind) {
                    const int64_t cols = (kind == "queries" ? 4 : 2) * 4;
                    std::vector<float> x(10 * cols);
                    for (size_t i = 0; i < x.size(); ++i) {
                      x[i] = static_cast<float>(i / cols) + layer / 10.0f;
                    }
                    return x;
                  }),
              IsOk());
  return path;
}

TEST(DumpSamplesTest, ReadsTheInfoAndEvenlySpacedRows) {
  const std::string path = WriteDump("dump.safetensors", "interleaved");
  CVQ_ASSERT_OK_AND_ASSIGN(const SafetensorsFile dump,
                           SafetensorsFile::Open(path));
  CVQ_ASSERT_OK_AND_ASSIGN(const KvDumpInfo info,
                           ReadKvDumpInfo(dump, path, "test"));
  // The fields are eval/kv_dump_info_test.cc's concern; these show the
  // wrapper passes them through.
  EXPECT_EQ(info.num_layers, 3);
  EXPECT_EQ(info.pair_layout, PairLayout::kInterleaved);
  EXPECT_EQ(DumpMeta(dump, "model"), "tiny");
  EXPECT_EQ(DumpMeta(dump, "absent"), "");

  CVQ_ASSERT_OK_AND_ASSIGN(
      const DumpSamples samples,
      ReadDumpSamples(dump, path, 2, "values", 2, 4, 4, "test"));
  EXPECT_EQ(samples.tokens, 10);
  ASSERT_EQ(samples.n, 4);
  ASSERT_EQ(samples.rows.size(), 4u * 8u);
  // Rows 0, 2, 5 and 7 of layer 2 (f16 of t + 0.2).
  for (int r = 0; r < 4; ++r) {
    EXPECT_NEAR(samples.rows[r * 8 + 3], (r * 10 / 4) + 0.2f, 1e-2f) << r;
  }
  CVQ_ASSERT_OK_AND_ASSIGN(
      const DumpSamples all,
      ReadDumpSamples(dump, path, 0, "queries", 4, 4, 0, "test"));
  EXPECT_EQ(all.n, 10);
  EXPECT_EQ(all.rows.size(), 10u * 16u);
}

TEST(DumpSamplesTest, EvenRowsAndLayers) {
  EXPECT_THAT(EvenRows(10, 4), ElementsAre(0, 2, 5, 7));
  EXPECT_THAT(EvenRows(3, 0), ElementsAre(0, 1, 2));
  EXPECT_THAT(EvenRows(3, 8), ElementsAre(0, 1, 2));
  CVQ_ASSERT_OK_AND_ASSIGN(const std::vector<int> all, DumpLayers({}, 3, "t"));
  EXPECT_THAT(all, ElementsAre(0, 1, 2));
  EXPECT_THAT(DumpLayers({1, 3}, 3, "train x"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("train x: layer 3 is not in the dump's "
                                 "[0, 3)")));
}

TEST(DumpSamplesTest, ErrorsNameTheFileAndTheField) {
  const std::string path = WriteDump("odd.safetensors", "diagonal");
  CVQ_ASSERT_OK_AND_ASSIGN(const SafetensorsFile dump,
                           SafetensorsFile::Open(path));
  EXPECT_THAT(ReadKvDumpInfo(dump, path, "train y"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("train y: KV dump " + path +
                                 ": metadata pair_layout is \"diagonal\"")));
  EXPECT_THAT(ReadDumpSamples(dump, path, 0, "values", 3, 4, 0, "train y"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("layers.0.values is not [tokens, 3, 4]")));
  EXPECT_FALSE(ReadDumpSamples(dump, path, 5, "values", 2, 4, 0, "t").ok());
}

}  // namespace
}  // namespace commvq
