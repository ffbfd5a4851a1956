#include "commvq/kvcache/cache_spec.h"

#include "commvq/base/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

using ::commvq::testing::IsOk;
using ::commvq::testing::StatusIs;
using ::testing::HasSubstr;

AttentionShape SmallShape() {
  AttentionShape shape;
  shape.num_layers = 2;
  shape.num_heads = 4;
  shape.num_kv_heads = 2;
  shape.head_dim = 16;
  return shape;
}

TEST(CacheSpecTest, ParsesEveryForm) {
  ASSERT_THAT(ParseCacheSpec("fp32").status(), IsOk());
  EXPECT_TRUE(ParseCacheSpec("fp32")->full_precision);

  auto commvq = ParseCacheSpec(
      "commvq:codebooks=k.cvq,window=0,kernel=table,values=kivi:mode=value,bits=2");
  ASSERT_THAT(commvq.status(), IsOk());
  EXPECT_EQ(commvq->codebooks, "k.cvq");
  EXPECT_EQ(commvq->options.window, 0);
  EXPECT_EQ(commvq->options.key_kernel, KeyKernel::kTable);
  EXPECT_EQ(commvq->value_spec, "kivi:mode=value,bits=2");
  EXPECT_FALSE(commvq->options.full_precision_prefill);
  auto prefill = ParseCacheSpec("commvq:codebooks=k.cvq,prefill=full");
  ASSERT_THAT(prefill.status(), IsOk());
  EXPECT_TRUE(prefill->options.full_precision_prefill);

  auto kivi = ParseCacheSpec("kivi:bits=2,window=32");
  ASSERT_THAT(kivi.status(), IsOk());
  EXPECT_EQ(kivi->key_spec, "kivi:bits=2,mode=key");
  EXPECT_EQ(kivi->value_spec, "kivi:bits=2,mode=value");
  EXPECT_EQ(kivi->options.window, 32);

  auto generic = ParseCacheSpec("int:bits=4;window=0;page=64");
  ASSERT_THAT(generic.status(), IsOk());
  EXPECT_EQ(generic->key_spec, "int:bits=4");
  EXPECT_EQ(generic->value_spec, "int:bits=4");
  EXPECT_EQ(generic->options.window, 0);
  EXPECT_EQ(generic->options.page_tokens, 64);
  auto kivi_prefill = ParseCacheSpec("kivi:bits=2,prefill=full");
  ASSERT_THAT(kivi_prefill.status(), IsOk());
  EXPECT_TRUE(kivi_prefill->options.full_precision_prefill);
  EXPECT_EQ(kivi_prefill->key_spec, "kivi:bits=2,mode=key");
}

TEST(CacheSpecTest, RejectsBadSpecsNamingThePart) {
  EXPECT_THAT(ParseCacheSpec("commvq:window=3").status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("needs codebooks=FILE")));
  EXPECT_THAT(ParseCacheSpec("commvq:codebooks=f,window=-2").status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("bad option 'window=-2'")));
  EXPECT_THAT(ParseCacheSpec("commvq:codebooks=f,kernel=fast").status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("kernel=auto, table or decode")));
  EXPECT_THAT(ParseCacheSpec("commvq:codebooks=f,prefill=maybe").status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("prefill=full or compressed")));
  EXPECT_THAT(ParseCacheSpec("int:bits=4;colour=red").status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("bad option 'colour=red'")));
}

TEST(CacheSpecTest, BuildsCachesOfDataFreeQuantizers) {
  const AttentionShape shape = SmallShape();
  for (const char* text : {"fp32", "kivi:bits=2", "int:bits=4;window=0"}) {
    SCOPED_TRACE(text);
    auto spec = ParseCacheSpec(text);
    ASSERT_THAT(spec.status(), IsOk());
    auto codecs = MakeCacheCodecs(*spec, shape);
    ASSERT_THAT(codecs.status(), IsOk());
    auto cache = MakeKvCache(*spec, shape, *codecs, nullptr);
    ASSERT_THAT(cache.status(), IsOk());
    EXPECT_EQ((*cache)->shape(), shape);
  }
  auto unknown = ParseCacheSpec("nosuch:bits=2");
  ASSERT_THAT(unknown.status(), IsOk());
  EXPECT_THAT(MakeCacheCodecs(*unknown, shape).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("nosuch")));
  auto missing = ParseCacheSpec("commvq:codebooks=/nonexistent/file.cvq");
  ASSERT_THAT(missing.status(), IsOk());
  EXPECT_FALSE(MakeCacheCodecs(*missing, shape).ok());
}

}  // namespace
}  // namespace commvq
