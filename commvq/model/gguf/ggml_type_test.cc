#include "commvq/model/gguf/ggml_type.h"

#include "gtest/gtest.h"

namespace commvq {
namespace {

TEST(GgmlTypeTest, KnowsTheLayoutsOfCommonTypes) {
  const GgmlTypeTraits* q4_1 = FindGgmlType(GgmlType::kQ4_1);
  ASSERT_NE(q4_1, nullptr);
  EXPECT_STREQ(q4_1->name, "Q4_1");
  EXPECT_EQ(q4_1->block_size, 32);
  EXPECT_EQ(q4_1->block_bytes, 20);
  EXPECT_EQ(FindGgmlType(GgmlType::kQ6_K)->block_bytes, 210);
  EXPECT_EQ(FindGgmlType(GgmlType::kQ8_0)->block_bytes, 34);
  EXPECT_EQ(FindGgmlType(GgmlType::kBF16)->block_size, 1);
  EXPECT_EQ(GgmlTypeName(GgmlType::kF32), "F32");
}

TEST(GgmlTypeTest, RemovedAndUnknownNumbersHaveNoTraits) {
  for (const uint32_t number : {4u, 5u, 31u, 36u, 42u, 1000u}) {
    EXPECT_EQ(FindGgmlType(static_cast<GgmlType>(number)), nullptr) << number;
  }
  EXPECT_EQ(GgmlTypeName(static_cast<GgmlType>(5)), "unknown type 5");
}

TEST(GgmlTypeTest, EveryKnownTypeHasAPositiveLayoutAndADistinctName) {
  int known = 0;
  for (uint32_t number = 0; number < 64; ++number) {
    const GgmlTypeTraits* traits = FindGgmlType(static_cast<GgmlType>(number));
    if (traits == nullptr) continue;
    ++known;
    EXPECT_GT(traits->block_size, 0) << traits->name;
    EXPECT_GT(traits->block_bytes, 0) << traits->name;
    for (uint32_t other = 0; other < number; ++other) {
      const GgmlTypeTraits* o = FindGgmlType(static_cast<GgmlType>(other));
      if (o != nullptr) {
        EXPECT_STRNE(o->name, traits->name);
      }
    }
  }
  EXPECT_EQ(known, 34);
}

}  // namespace
}  // namespace commvq
