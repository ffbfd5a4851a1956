#include "commvq/model/gguf/gguf_file.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "commvq/base/status_matchers.h"
#include "commvq/io/atomic_file.h"
#include "commvq/model/gguf/gguf_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

using ::commvq::testing::IsOkAndHolds;
using ::commvq::testing::StatusIs;
using ::testing::AllOf;
using ::testing::DoubleEq;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;
constexpr auto kNotFound = absl::StatusCode::kNotFound;
constexpr uint32_t kF32 = static_cast<uint32_t>(GgmlType::kF32);
constexpr uint32_t kQ8_0 = static_cast<uint32_t>(GgmlType::kQ8_0);
constexpr uint64_t k2To60 = uint64_t{1} << 60;

using T = GgufValueType;

// A valid file with one of everything, used as the base for corruptions.
std::string SmallFile() {
  return GgufTestFileBuilder()
      .Add("general.architecture", GgufString("llama"))
      .Add("llama.block_count", GgufScalar(T::kUint32, uint32_t{30}))
      .AddTensor("a", {4}, kF32, std::string(16, '\x01'))
      .AddTensor("b", {2, 3}, kF32, std::string(24, '\x02'))
      .Build();
}

absl::Status ParseStatus(absl::string_view bytes) {
  return GgufFile::Parse(bytes).status();
}

TEST(GgufFileTest, ParsesHeaderAndTensors) {
  const std::string bytes = SmallFile();
  CVQ_ASSERT_OK_AND_ASSIGN(const GgufFile file, GgufFile::Parse(bytes));
  EXPECT_EQ(file.version(), 3u);
  EXPECT_EQ(file.alignment(), 32u);
  EXPECT_EQ(file.data_offset() % 32, 0u);
  ASSERT_EQ(file.tensors().size(), 2u);

  const GgufTensorInfo& a = file.tensors()[0];
  EXPECT_EQ(a.name, "a");
  EXPECT_THAT(a.dims, ElementsAre(4));
  EXPECT_EQ(a.type, GgmlType::kF32);
  EXPECT_EQ(a.offset, 0u);
  EXPECT_EQ(a.num_elements, 4);
  EXPECT_EQ(a.num_rows, 1);
  EXPECT_EQ(a.data, std::string(16, '\x01'));
  EXPECT_EQ(a.data.data(), bytes.data() + file.data_offset());

  const GgufTensorInfo& b = file.tensors()[1];
  EXPECT_THAT(b.dims, ElementsAre(2, 3));
  // 16 bytes of "a", padded to the alignment.
  EXPECT_EQ(b.offset, 32u);
  EXPECT_EQ(b.num_elements, 6);
  EXPECT_EQ(b.num_rows, 3);
  EXPECT_EQ(b.data, std::string(24, '\x02'));

  EXPECT_THAT(file.FindTensor("b"), IsOkAndHolds(&b));
  EXPECT_THAT(file.FindTensor("c"),
              StatusIs(kNotFound, HasSubstr("no tensor \"c\"")));
}

TEST(GgufFileTest, RoundTripsEveryScalarType) {
  const std::string bytes =
      GgufTestFileBuilder()
          .Add("u8", GgufScalar(T::kUint8, uint8_t{200}))
          .Add("i8", GgufScalar(T::kInt8, int8_t{-100}))
          .Add("u16", GgufScalar(T::kUint16, uint16_t{60000}))
          .Add("i16", GgufScalar(T::kInt16, int16_t{-30000}))
          .Add("u32", GgufScalar(T::kUint32, uint32_t{4000000000}))
          .Add("i32", GgufScalar(T::kInt32, int32_t{-2000000000}))
          .Add("f32", GgufScalar(T::kFloat32, 1e-5f))
          .Add("bool", GgufScalar(T::kBool, uint8_t{1}))
          .Add("string", GgufString("llama"))
          .Add("u64", GgufScalar(T::kUint64, uint64_t{1} << 63))
          .Add("i64", GgufScalar(T::kInt64,
                                 std::numeric_limits<int64_t>::min()))
          .Add("f64", GgufScalar(T::kFloat64, 0.1))
          .Add("u64_small", GgufScalar(T::kUint64, uint64_t{7}))
          .Add("empty_string", GgufString(""))
          .Build();
  CVQ_ASSERT_OK_AND_ASSIGN(const GgufFile file, GgufFile::Parse(bytes));
  EXPECT_THAT(file.GetInt("u8"), IsOkAndHolds(200));
  EXPECT_THAT(file.GetInt("i8"), IsOkAndHolds(-100));
  EXPECT_THAT(file.GetInt("u16"), IsOkAndHolds(60000));
  EXPECT_THAT(file.GetInt("i16"), IsOkAndHolds(-30000));
  EXPECT_THAT(file.GetInt("u32"), IsOkAndHolds(4000000000));
  EXPECT_THAT(file.GetInt("i32"), IsOkAndHolds(-2000000000));
  EXPECT_THAT(file.GetFloat("f32"), IsOkAndHolds(DoubleEq(1e-5f)));
  EXPECT_THAT(file.GetBool("bool"), IsOkAndHolds(true));
  EXPECT_THAT(file.GetString("string"), IsOkAndHolds("llama"));
  EXPECT_THAT(file.GetString("empty_string"), IsOkAndHolds(""));
  EXPECT_THAT(file.GetInt("i64"),
              IsOkAndHolds(std::numeric_limits<int64_t>::min()));
  EXPECT_THAT(file.GetFloat("f64"), IsOkAndHolds(DoubleEq(0.1)));
  EXPECT_THAT(file.GetInt("u64_small"), IsOkAndHolds(7));
  // 2^63 is a valid uint64 that an int64 cannot hold.
  EXPECT_THAT(file.GetInt("u64"),
              StatusIs(kInvalid, AllOf(HasSubstr("\"u64\""),
                                       HasSubstr("9223372036854775808"),
                                       HasSubstr("does not fit"))));

  // Keys in file order, with their types, for listings.
  std::vector<std::string> listing;
  for (const GgufKeyValue& kv : file.metadata()) {
    listing.push_back(kv.key + ": " + kv.value.DebugString());
  }
  EXPECT_THAT(listing,
              ElementsAre("u8: uint8 200", "i8: int8 -100", "u16: uint16 60000",
                          "i16: int16 -30000", "u32: uint32 4000000000",
                          "i32: int32 -2000000000", "f32: float32 1e-05",
                          "bool: bool true", "string: string \"llama\"",
                          "u64: uint64 9223372036854775808",
                          "i64: int64 -9223372036854775808",
                          "f64: float64 0.1", "u64_small: uint64 7",
                          "empty_string: string \"\""));
  EXPECT_TRUE(file.Has("u8"));
  EXPECT_FALSE(file.Has("u9"));
  EXPECT_THAT(file.tensors(), IsEmpty());
}

TEST(GgufFileTest, RoundTripsArrays) {
  const std::string bytes =
      GgufTestFileBuilder()
          .Add("u8s", GgufArray(T::kUint8, {GgufScalar(T::kUint8, uint8_t{0}),
                                           GgufScalar(T::kUint8,
                                                      uint8_t{255})}))
          .Add("i16s", GgufArray(T::kInt16,
                                 {GgufScalar(T::kInt16, int16_t{-5}),
                                  GgufScalar(T::kInt16, int16_t{5})}))
          .Add("i32s", GgufArray(T::kInt32,
                                 {GgufScalar(T::kInt32, int32_t{-1}),
                                  GgufScalar(T::kInt32, int32_t{2}),
                                  GgufScalar(T::kInt32, int32_t{3})}))
          .Add("u64s", GgufArray(T::kUint64,
                                 {GgufScalar(T::kUint64, uint64_t{1}),
                                  GgufScalar(T::kUint64, ~uint64_t{0})}))
          .Add("f32s", GgufArray(T::kFloat32,
                                 {GgufScalar(T::kFloat32, 0.5f),
                                  GgufScalar(T::kFloat32, -2.0f)}))
          .Add("f64s", GgufArray(T::kFloat64, {GgufScalar(T::kFloat64, 1e300)}))
          .Add("bools", GgufArray(T::kBool, {GgufScalar(T::kBool, uint8_t{0}),
                                             GgufScalar(T::kBool, uint8_t{1})}))
          .Add("strings", GgufArray(T::kString, {GgufString("<unk>"),
                                                 GgufString(""),
                                                 GgufString("\xc4\xa0the")}))
          .Add("empty", GgufArray(T::kUint32, {}))
          .Add("nested",
               GgufArray(T::kArray,
                         {GgufArray(T::kInt32,
                                    {GgufScalar(T::kInt32, int32_t{1}),
                                     GgufScalar(T::kInt32, int32_t{2})}),
                          GgufArray(T::kString, {GgufString("x")}),
                          GgufArray(T::kArray, {GgufArray(T::kUint8, {})})}))
          .Build();
  CVQ_ASSERT_OK_AND_ASSIGN(const GgufFile file, GgufFile::Parse(bytes));
  EXPECT_THAT(file.GetIntArray("u8s"), IsOkAndHolds(ElementsAre(0, 255)));
  EXPECT_THAT(file.GetIntArray("i16s"), IsOkAndHolds(ElementsAre(-5, 5)));
  EXPECT_THAT(file.GetIntArray("i32s"), IsOkAndHolds(ElementsAre(-1, 2, 3)));
  EXPECT_THAT(file.GetFloatArray("f32s"),
              IsOkAndHolds(ElementsAre(0.5, -2.0)));
  EXPECT_THAT(file.GetFloatArray("f64s"), IsOkAndHolds(ElementsAre(1e300)));
  EXPECT_THAT(file.GetStringArray("strings"),
              IsOkAndHolds(ElementsAre("<unk>", "", "\xc4\xa0the")));
  EXPECT_THAT(file.GetIntArray("empty"), IsOkAndHolds(IsEmpty()));
  // The element that does not fit is named.
  EXPECT_THAT(file.GetIntArray("u64s"),
              StatusIs(kInvalid, AllOf(HasSubstr("\"u64s\""),
                                       HasSubstr("element 1"),
                                       HasSubstr("18446744073709551615"))));

  CVQ_ASSERT_OK_AND_ASSIGN(const GgufValue* bools, file.Find("bools"));
  EXPECT_EQ(bools->type(), T::kArray);
  EXPECT_EQ(bools->element_type(), T::kBool);
  ASSERT_EQ(bools->size(), 2u);
  EXPECT_THAT(bools->element(0).AsBool(), IsOkAndHolds(false));
  EXPECT_THAT(bools->element(1).AsBool(), IsOkAndHolds(true));

  CVQ_ASSERT_OK_AND_ASSIGN(const GgufValue* nested, file.Find("nested"));
  EXPECT_EQ(nested->element_type(), T::kArray);
  ASSERT_EQ(nested->size(), 3u);
  EXPECT_THAT(nested->element(0).AsIntArray(), IsOkAndHolds(ElementsAre(1, 2)));
  EXPECT_THAT(nested->element(1).AsStringArray(),
              IsOkAndHolds(ElementsAre("x")));
  EXPECT_EQ(nested->element(2).element_type(), T::kArray);
  EXPECT_EQ(nested->element(2).element(0).element_type(), T::kUint8);
  EXPECT_EQ(nested->element(2).element(0).size(), 0u);
  EXPECT_EQ(nested->DebugString(), "array[array] [[1, 2], [\"x\"], [[]]]");

  CVQ_ASSERT_OK_AND_ASSIGN(const GgufValue* strings, file.Find("strings"));
  EXPECT_EQ(strings->DebugString(2),
            "array[string] [\"<unk>\", \"\", ... 1 more]");
  EXPECT_EQ(strings->DebugString(0), "array[string] [... 3 more]");
  CVQ_ASSERT_OK_AND_ASSIGN(const GgufValue* f32s, file.Find("f32s"));
  EXPECT_EQ(f32s->DebugString(), "array[float32] [0.5, -2]");
}

TEST(GgufFileTest, LongStringsAreCutInDebugString) {
  const std::string bytes =
      GgufTestFileBuilder().Add("long", GgufString(std::string(100, 'a')))
          .Build();
  CVQ_ASSERT_OK_AND_ASSIGN(const GgufFile file, GgufFile::Parse(bytes));
  EXPECT_EQ(file.metadata()[0].value.DebugString(),
            "string \"" + std::string(60, 'a') + "\"... (100 bytes)");
}

TEST(GgufFileTest, WrongTypesAndMissingKeysAreErrorsNamingTheKey) {
  const std::string bytes =
      GgufTestFileBuilder()
          .Add("name", GgufString("x"))
          .Add("count", GgufScalar(T::kUint32, uint32_t{3}))
          .Add("ids", GgufArray(T::kInt32, {GgufScalar(T::kInt32, 1)}))
          .Build();
  CVQ_ASSERT_OK_AND_ASSIGN(const GgufFile file, GgufFile::Parse(bytes));
  EXPECT_THAT(file.GetInt("name"),
              StatusIs(kInvalid, AllOf(HasSubstr("\"name\""),
                                       HasSubstr("expected an integer, "
                                                 "found string"))));
  EXPECT_THAT(file.GetFloat("count"),
              StatusIs(kInvalid, HasSubstr("expected a float32 or float64, "
                                           "found uint32")));
  EXPECT_THAT(file.GetBool("count"),
              StatusIs(kInvalid, HasSubstr("expected a bool")));
  EXPECT_THAT(file.GetString("ids"),
              StatusIs(kInvalid, HasSubstr("found array[int32]")));
  EXPECT_THAT(file.GetStringArray("ids"),
              StatusIs(kInvalid, HasSubstr("expected an array of strings, "
                                           "found array[int32]")));
  EXPECT_THAT(file.GetFloatArray("ids"),
              StatusIs(kInvalid, HasSubstr("array of float32 or float64")));
  EXPECT_THAT(file.GetIntArray("count"),
              StatusIs(kInvalid, HasSubstr("expected an array of integers, "
                                           "found uint32")));
  EXPECT_THAT(file.GetInt("missing"),
              StatusIs(kNotFound, HasSubstr("no metadata key \"missing\"")));
  EXPECT_THAT(file.GetStringArray("missing"), StatusIs(kNotFound, HasSubstr(
                                                  "missing")));
}

TEST(GgufFileTest, HonoursGeneralAlignment) {
  const std::string bytes =
      GgufTestFileBuilder()
          .Add("general.alignment", GgufScalar(T::kUint32, uint32_t{64}))
          .Alignment(64)
          .AddTensor("a", {1}, kF32, std::string(4, 'a'))
          .AddTensor("b", {1}, kF32, std::string(4, 'b'))
          .Build();
  CVQ_ASSERT_OK_AND_ASSIGN(const GgufFile file, GgufFile::Parse(bytes));
  EXPECT_EQ(file.alignment(), 64u);
  EXPECT_EQ(file.data_offset(), 128u);  // the 123-byte header, padded
  EXPECT_EQ(file.tensors()[1].offset, 64u);
  EXPECT_EQ(file.tensors()[1].data, "bbbb");

  // Alignment 1: no padding at all.
  const std::string packed =
      GgufTestFileBuilder()
          .Add("general.alignment", GgufScalar(T::kUint32, uint32_t{1}))
          .Alignment(1)
          .AddTensor("a", {1}, kF32, "aaaa")
          .AddTensor("b", {1}, kF32, "bbbb")
          .Build();
  CVQ_ASSERT_OK_AND_ASSIGN(const GgufFile packed_file, GgufFile::Parse(packed));
  EXPECT_EQ(packed_file.data_offset(), packed.size() - 8);
  EXPECT_EQ(packed_file.tensors()[1].offset, 4u);
}

TEST(GgufFileTest, AcceptsVersion2AndFilesWithoutData) {
  const std::string v2 =
      GgufTestFileBuilder().Version(2).Add("k", GgufString("v")).Build();
  CVQ_ASSERT_OK_AND_ASSIGN(const GgufFile file, GgufFile::Parse(v2));
  EXPECT_EQ(file.version(), 2u);
  // No tensors: the file may end right after the metadata, unpadded.
  EXPECT_NE(v2.size() % 32, 0u);

  // A tensor with a zero dimension has no data.
  const std::string empty_tensor =
      GgufTestFileBuilder().AddTensorInfo("e", {0, 5}, kQ8_0, 0).Build();
  CVQ_ASSERT_OK_AND_ASSIGN(const GgufFile with_empty,
                           GgufFile::Parse(empty_tensor));
  EXPECT_EQ(with_empty.tensors()[0].num_elements, 0);
  EXPECT_EQ(with_empty.tensors()[0].num_rows, 0);
  EXPECT_TRUE(with_empty.tensors()[0].data.empty());
}

TEST(GgufFileTest, OpenMapsTheFileAndNamesThePath) {
  const std::string dir = std::getenv("TEST_TMPDIR");
  const std::string path = dir + "/small.gguf";
  CVQ_ASSERT_OK(WriteFileAtomically(path, SmallFile()));
  CVQ_ASSERT_OK_AND_ASSIGN(GgufFile file, GgufFile::Open(path));
  // Moving keeps the views into the mapping valid.
  const GgufFile moved = std::move(file);
  EXPECT_THAT(moved.GetString("general.architecture"), IsOkAndHolds("llama"));
  EXPECT_EQ(moved.tensors()[1].data, std::string(24, '\x02'));

  EXPECT_THAT(GgufFile::Open(dir + "/missing.gguf"),
              StatusIs(kNotFound, HasSubstr("missing.gguf")));
  const std::string bad = dir + "/bad.gguf";
  CVQ_ASSERT_OK(WriteFileAtomically(bad, "GGUF"));
  EXPECT_THAT(GgufFile::Open(bad),
              StatusIs(kInvalid, AllOf(HasSubstr("bad.gguf"),
                                       HasSubstr("truncated"))));
}

// --- Malformed files: each is an InvalidArgument saying what is wrong. ---

TEST(GgufFileTest, EveryTruncationIsAnError) {
  const std::string bytes = SmallFile();
  for (size_t size = 0; size < bytes.size(); ++size) {
    const absl::Status status = ParseStatus(bytes.substr(0, size));
    EXPECT_EQ(status.code(), kInvalid) << "size " << size << ": " << status;
  }
  EXPECT_THAT(ParseStatus(bytes.substr(0, 10)),
              StatusIs(kInvalid, HasSubstr("truncated: the tensor count")));
  // Cutting into the data leaves the last tensor outside the data section.
  EXPECT_THAT(ParseStatus(bytes.substr(0, bytes.size() - 1)),
              StatusIs(kInvalid, HasSubstr("tensor \"b\" has data at [32, "
                                           "32 + 24) outside the data "
                                           "section of 55 bytes")));
}

TEST(GgufFileTest, RejectsBadMagicAndVersions) {
  std::string bytes = SmallFile();
  bytes[3] = 'X';
  EXPECT_THAT(ParseStatus(bytes),
              StatusIs(kInvalid, HasSubstr("the magic is \"GGUX\", expected "
                                           "\"GGUF\"")));
  for (const uint32_t version : {0u, 1u, 4u}) {
    EXPECT_THAT(ParseStatus(GgufTestFileBuilder().Version(version).Build()),
                StatusIs(kInvalid, HasSubstr(absl::StrCat(
                                       "unsupported GGUF version ", version,
                                       ": expected 2 or 3"))));
  }
  EXPECT_THAT(
      ParseStatus(GgufTestFileBuilder().Version(0x03000000).Build()),
      StatusIs(kInvalid, HasSubstr("big-endian GGUF files are not supported")));
}

TEST(GgufFileTest, RejectsAbsurdCountsAndLengths) {
  EXPECT_THAT(ParseStatus(GgufTestFileBuilder().Counts(0, k2To60).Build()),
              StatusIs(kInvalid, HasSubstr("claims 1152921504606846976 "
                                           "metadata key/value pairs")));
  EXPECT_THAT(ParseStatus(GgufTestFileBuilder().Counts(k2To60, 0).Build()),
              StatusIs(kInvalid,
                       HasSubstr("claims 1152921504606846976 tensor infos")));

  // A string claiming 2^60 bytes.
  std::string payload(8, '\0');
  std::memcpy(payload.data(), &k2To60, 8);
  EXPECT_THAT(
      ParseStatus(GgufTestFileBuilder()
                      .Add("s", {static_cast<uint32_t>(T::kString),
                                 payload + "abc"})
                      .Build()),
      StatusIs(kInvalid, HasSubstr("metadata \"s\" needs "
                                   "1152921504606846976 bytes")));
  // A key claiming 2^60 bytes.
  std::string key_bytes = GgufTestFileBuilder().Counts(0, 1).Build();
  key_bytes += payload + std::string(20, 'k');
  EXPECT_THAT(ParseStatus(key_bytes),
              StatusIs(kInvalid, HasSubstr("the key of metadata entry 0 "
                                           "needs 1152921504606846976")));
  // Arrays claiming 2^60 elements, of fixed and variable size.
  for (const T type : {T::kUint32, T::kString, T::kArray}) {
    EXPECT_THAT(
        ParseStatus(GgufTestFileBuilder()
                        .Add("a", GgufRawArray(static_cast<uint32_t>(type),
                                               k2To60, "0123456789"))
                        .Build()),
        StatusIs(kInvalid,
                 HasSubstr(absl::StrCat("metadata \"a\" claims "
                                        "1152921504606846976 elements of "
                                        "type ",
                                        GgufValueTypeName(type)))));
  }
  // A tensor name claiming 2^60 bytes.
  std::string name_bytes = GgufTestFileBuilder().Counts(1, 0).Build();
  name_bytes += payload + std::string(40, 'n');
  EXPECT_THAT(ParseStatus(name_bytes),
              StatusIs(kInvalid, HasSubstr("the name of tensor 0 needs "
                                           "1152921504606846976 bytes")));
}

TEST(GgufFileTest, RejectsUnknownValueTypes) {
  EXPECT_THAT(
      ParseStatus(GgufTestFileBuilder().Add("k", {13, "x"}).Build()),
      StatusIs(kInvalid, HasSubstr("the type of metadata \"k\" at offset 33 "
                                   "is an unknown value type 13")));
  EXPECT_THAT(ParseStatus(GgufTestFileBuilder()
                              .Add("k", GgufRawArray(99, 1, "x"))
                              .Build()),
              StatusIs(kInvalid, HasSubstr("the element type of metadata "
                                           "\"k\" at offset 37 is an unknown "
                                           "value type 99")));
}

TEST(GgufFileTest, RejectsBoolsOtherThanZeroOrOne) {
  EXPECT_THAT(
      ParseStatus(GgufTestFileBuilder()
                      .Add("b", GgufScalar(T::kBool, uint8_t{2}))
                      .Build()),
      StatusIs(kInvalid, HasSubstr("metadata \"b\" is a bool of value 2")));
  EXPECT_THAT(
      ParseStatus(
          GgufTestFileBuilder()
              .Add("b", GgufArray(T::kBool, {GgufScalar(T::kBool, uint8_t{1}),
                                             GgufScalar(T::kBool,
                                                        uint8_t{255})}))
              .Build()),
      StatusIs(kInvalid,
               HasSubstr("metadata \"b\" element 1 is a bool of value 255")));
}

TEST(GgufFileTest, RejectsArraysNestedTooDeep) {
  GgufTestValue value = GgufArray(T::kUint8, {});
  for (int depth = 1; depth < 16; ++depth) {
    value = GgufArray(T::kArray, {value});
  }
  // 16 levels are fine, 17 are not.
  CVQ_EXPECT_OK(ParseStatus(GgufTestFileBuilder().Add("a", value).Build()));
  value = GgufArray(T::kArray, {value});
  EXPECT_THAT(ParseStatus(GgufTestFileBuilder().Add("a", value).Build()),
              StatusIs(kInvalid, HasSubstr("nests arrays more than 16 deep")));
}

TEST(GgufFileTest, RejectsDuplicateKeysAndTensorNames) {
  EXPECT_THAT(ParseStatus(GgufTestFileBuilder()
                              .Add("k", GgufString("a"))
                              .Add("k", GgufString("b"))
                              .Build()),
              StatusIs(kInvalid,
                       HasSubstr("has the metadata key \"k\" more than once")));
  EXPECT_THAT(ParseStatus(GgufTestFileBuilder()
                              .AddTensor("t", {1}, kF32, "aaaa")
                              .AddTensor("t", {1}, kF32, "bbbb")
                              .Build()),
              StatusIs(kInvalid, HasSubstr("more than one tensor \"t\"")));
}

TEST(GgufFileTest, RejectsBadAlignments) {
  const auto with_alignment = [](const GgufTestValue& value) {
    return ParseStatus(
        GgufTestFileBuilder().Add("general.alignment", value).Build());
  };
  EXPECT_THAT(with_alignment(GgufScalar(T::kUint32, uint32_t{48})),
              StatusIs(kInvalid, HasSubstr("the alignment 48 is not a power "
                                           "of two")));
  EXPECT_THAT(with_alignment(GgufScalar(T::kUint32, uint32_t{0})),
              StatusIs(kInvalid, HasSubstr("the alignment 0 is not")));
  EXPECT_THAT(with_alignment(GgufScalar(T::kUint64, uint64_t{32})),
              StatusIs(kInvalid, AllOf(HasSubstr("\"general.alignment\""),
                                       HasSubstr("expected a uint32, found "
                                                 "uint64"))));
}

TEST(GgufFileTest, RejectsBadTensorInfos) {
  const auto tensor = [](const std::vector<uint64_t>& dims, uint32_t type,
                         uint64_t offset = 0) {
    return ParseStatus(GgufTestFileBuilder()
                           .AddTensorInfo("t", dims, type, offset)
                           .Build() +
                       std::string(64, '\0'));
  };
  EXPECT_THAT(tensor({1, 1, 1, 1, 1}, kF32),
              StatusIs(kInvalid, HasSubstr("tensor \"t\" has 5 dimensions, "
                                           "expected 1 to 4")));
  EXPECT_THAT(tensor({}, kF32),
              StatusIs(kInvalid, HasSubstr("has 0 dimensions")));
  EXPECT_THAT(tensor({4}, 5),
              StatusIs(kInvalid,
                       HasSubstr("tensor \"t\" has an unknown ggml type 5")));
  EXPECT_THAT(tensor({4}, 1000),
              StatusIs(kInvalid, HasSubstr("unknown ggml type 1000")));
  EXPECT_THAT(tensor({uint64_t{1} << 32, uint64_t{1} << 32}, kF32),
              StatusIs(kInvalid, HasSubstr("product of its dimensions "
                                           "[4294967296, 4294967296] "
                                           "overflows")));
  EXPECT_THAT(tensor({~uint64_t{0}}, kF32),
              StatusIs(kInvalid, HasSubstr("dimension 0 of "
                                           "18446744073709551615")));
  // 2^62 elements fit in int64, their 2^64 bytes do not.
  EXPECT_THAT(tensor({uint64_t{1} << 62}, kF32),
              StatusIs(kInvalid, HasSubstr("tensor \"t\" of type F32 and "
                                           "dimensions [4611686018427387904] "
                                           "has a size in bytes that "
                                           "overflows")));
  // No elements, but rows too long to index.
  EXPECT_THAT(tensor({uint64_t{1} << 62, 0}, kF32),
              StatusIs(kInvalid, HasSubstr("overflows")));
  EXPECT_THAT(tensor({33}, kQ8_0),
              StatusIs(kInvalid, HasSubstr("tensor \"t\" of type Q8_0 has "
                                           "rows of 33 elements, not a "
                                           "multiple of its block size 32")));
  EXPECT_THAT(tensor({4}, kF32, 16),
              StatusIs(kInvalid, HasSubstr("tensor \"t\" has data offset 16, "
                                           "not a multiple of the alignment "
                                           "32")));
  EXPECT_THAT(tensor({4}, kF32, 64),
              StatusIs(kInvalid, HasSubstr("has data at [64, 64 + 16) outside "
                                           "the data section of 64 bytes")));
  EXPECT_THAT(tensor({4}, kF32, ~uint64_t{0} - 31),
              StatusIs(kInvalid, HasSubstr("outside the data section")));
  CVQ_EXPECT_OK(tensor({16}, kF32));
}

TEST(GgufFileTest, NamesAreEscapedInMessages) {
  EXPECT_THAT(ParseStatus(GgufTestFileBuilder()
                              .AddTensorInfo("a\nb\xff", {4}, 5, 0)
                              .Build()),
              StatusIs(kInvalid, HasSubstr("tensor \"a\\nb\\xff\"")));
}

}  // namespace
}  // namespace commvq
