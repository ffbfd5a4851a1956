#include "commvq/eval/kv_dump_info.h"

#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "commvq/base/status_matchers.h"
#include "commvq/io/safetensors.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

using ::commvq::testing::StatusIs;
using ::testing::HasSubstr;

// The metadata of a valid dump, as kv_dump.cc writes it.
std::map<std::string, std::string> ValidMetadata() {
  return {{"format", "commvq-kv-dump-1"}, {"model", "tiny"},
          {"num_layers", "3"},            {"num_heads", "8"},
          {"num_kv_heads", "2"},          {"head_dim", "64"},
          {"rope_theta", "500000"},       {"pair_layout", "half"},
          {"tokens", "10"}};
}

// Reads the info of a tensorless dump holding `metadata`; `file_name` is
// "dump" in the errors.
absl::StatusOr<KvDumpInfo> Read(
    const std::map<std::string, std::string>& metadata) {
  const absl::StatusOr<std::string> bytes = SerializeSafetensors({}, metadata);
  if (!bytes.ok()) return bytes.status();
  const absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Parse(*bytes);
  if (!file.ok()) return file.status();
  return ReadKvDumpInfo(*file, "dump");
}

// ValidMetadata with `key` set to `value`.
absl::StatusOr<KvDumpInfo> ReadWith(const std::string& key,
                                    const std::string& value) {
  std::map<std::string, std::string> metadata = ValidMetadata();
  metadata[key] = value;
  return Read(metadata);
}

TEST(KvDumpInfoTest, ReadsAValidDump) {
  CVQ_ASSERT_OK_AND_ASSIGN(const KvDumpInfo info, Read(ValidMetadata()));
  EXPECT_EQ(info.num_layers, 3);
  EXPECT_EQ(info.num_heads, 8);
  EXPECT_EQ(info.num_kv_heads, 2);
  EXPECT_EQ(info.head_dim, 64);
  EXPECT_DOUBLE_EQ(info.rope_theta, 500000.0);
  EXPECT_EQ(info.pair_layout, PairLayout::kHalf);
  CVQ_ASSERT_OK_AND_ASSIGN(const KvDumpInfo interleaved,
                           ReadWith("pair_layout", "interleaved"));
  EXPECT_EQ(interleaved.pair_layout, PairLayout::kInterleaved);
}

TEST(KvDumpInfoTest, MissingKeyNamesTheKey) {
  for (const char* key : {"format", "num_layers", "num_heads", "num_kv_heads",
                          "head_dim", "rope_theta", "pair_layout"}) {
    std::map<std::string, std::string> metadata = ValidMetadata();
    metadata.erase(key);
    EXPECT_THAT(Read(metadata),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr(absl::StrCat("dump: metadata has no \"",
                                                key, "\""))))
        << key;
  }
}

TEST(KvDumpInfoTest, WrongFormat) {
  EXPECT_THAT(ReadWith("format", "commvq-kv-dump-0"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("dump: metadata format is "
                                 "\"commvq-kv-dump-0\": expected "
                                 "\"commvq-kv-dump-1\"")));
}

TEST(KvDumpInfoTest, SizesMustBeIntegersInRange) {
  EXPECT_THAT(ReadWith("num_heads", "four"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("dump: metadata num_heads is \"four\": "
                                 "expected an integer in [1, 1048576]")));
  EXPECT_THAT(ReadWith("head_dim", "64.5"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("metadata head_dim is \"64.5\"")));
  EXPECT_THAT(ReadWith("num_layers", "0"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("metadata num_layers is \"0\": expected an "
                                 "integer in [1, 1048576]")));
  EXPECT_THAT(ReadWith("num_kv_heads", "-2"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("metadata num_kv_heads is \"-2\"")));
  EXPECT_THAT(ReadWith("num_layers", "1048577"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("metadata num_layers is \"1048577\"")));
  CVQ_EXPECT_OK(ReadWith("num_layers", "1048576").status());
}

TEST(KvDumpInfoTest, HeadsMustBeAMultipleOfKvHeads) {
  EXPECT_THAT(ReadWith("num_kv_heads", "3"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("dump: metadata num_heads is 8: expected a "
                                 "multiple of num_kv_heads 3")));
}

TEST(KvDumpInfoTest, HeadDimMustBeEven) {
  EXPECT_THAT(ReadWith("head_dim", "63"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("dump: metadata head_dim is 63: expected an "
                                 "even number")));
}

TEST(KvDumpInfoTest, RopeThetaMustBeAFiniteNumberAboveOne) {
  for (const char* theta : {"", "ten", "1", "0.5", "-10000", "inf", "nan"}) {
    EXPECT_THAT(ReadWith("rope_theta", theta),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr(absl::StrCat(
                             "dump: metadata rope_theta is \"", theta,
                             "\": expected a finite number above 1"))))
        << theta;
  }
  CVQ_ASSERT_OK_AND_ASSIGN(const KvDumpInfo info,
                           ReadWith("rope_theta", "1.5"));
  EXPECT_DOUBLE_EQ(info.rope_theta, 1.5);
}

TEST(KvDumpInfoTest, PairLayoutMustBeHalfOrInterleaved) {
  for (const char* layout : {"diagonal", "unspecified", "Half", ""}) {
    EXPECT_THAT(ReadWith("pair_layout", layout),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr(absl::StrCat(
                             "dump: metadata pair_layout is \"", layout,
                             "\": expected \"half\" or \"interleaved\""))))
        << layout;
  }
}

}  // namespace
}  // namespace commvq
