#include "commvq/io/safetensors.h"

#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "commvq/base/status_matchers.h"
#include "commvq/io/atomic_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

using ::commvq::testing::IsOk;
using ::commvq::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

// A file with the given header text and data section.
std::string MakeFile(absl::string_view header, absl::string_view data = "") {
  std::string bytes(8, '\0');
  const uint64_t size = header.size();
  std::memcpy(bytes.data(), &size, sizeof(size));
  return absl::StrCat(bytes, header, data);
}

absl::string_view Bytes(const void* data, size_t size) {
  return absl::string_view(static_cast<const char*>(data), size);
}

// The parsed tensors equal `expected` in order, bytes included.
void ExpectTensorsEqual(const SafetensorsFile& file,
                        const std::vector<NamedTensor>& expected) {
  ASSERT_EQ(file.tensors().size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    const SafetensorsTensor& got = file.tensors()[i];
    const TensorView& want = expected[i].tensor;
    EXPECT_EQ(got.name, expected[i].name);
    EXPECT_EQ(got.dtype, want.dtype()) << got.name;
    EXPECT_EQ(got.shape, want.shape()) << got.name;
    EXPECT_EQ(got.data, Bytes(want.data(), want.size_bytes())) << got.name;
  }
}

TEST(SafetensorsTest, GoldenBytesOfOneF32Tensor) {
  const float values[] = {1.0f, 2.0f};
  CVQ_ASSERT_OK_AND_ASSIGN(
      const std::string bytes,
      SerializeSafetensors({{"x", TensorView(values, DType::kF32, {2})}}, {}));
  // The header JSON is 54 bytes, padded with 2 spaces to 56 = 0x38; then
  // 1.0f = 0x3f800000 and 2.0f = 0x40000000, little-endian.
  const std::string golden =
      std::string("\x38\0\0\0\0\0\0\0", 8) +
      "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}  " +
      std::string("\x00\x00\x80\x3f\x00\x00\x00\x40", 8);
  EXPECT_EQ(bytes, golden);

  CVQ_ASSERT_OK_AND_ASSIGN(const SafetensorsFile file,
                           SafetensorsFile::Parse(golden));
  ExpectTensorsEqual(file, {{"x", TensorView(values, DType::kF32, {2})}});
  EXPECT_THAT(file.metadata(), IsEmpty());
}

TEST(SafetensorsTest, RoundTripOfDtypesAndShapes) {
  const float f32[6] = {0.5f, -1.25f, 3.0f, 1e-20f, -0.0f, 65504.0f};
  const uint16_t f16[4] = {0x3c00, 0xc000, 0x7bff, 0x0001};
  const uint16_t bf16[4] = {0x3f80, 0xbf80, 0x7f80, 0x0000};
  const uint8_t u8[5] = {0, 1, 127, 128, 255};
  const float scalar = 42.0f;
  const std::vector<NamedTensor> tensors = {
      {"u8", TensorView(u8, DType::kU8, {5})},
      {"keys.f32", TensorView(f32, DType::kF32, {2, 3})},
      {"f16", TensorView(f16, DType::kF16, {4})},
      {"bf16", TensorView(bf16, DType::kBF16, {2, 1, 2})},
      {"scalar", TensorView(&scalar, DType::kF32, {})},
      {"empty", TensorView(nullptr, DType::kF16, {0, 3})},
      {"empty.middle", TensorView(nullptr, DType::kU8, {3, 0, 2})},
  };
  CVQ_ASSERT_OK_AND_ASSIGN(const std::string bytes,
                           SerializeSafetensors(tensors, {}));
  CVQ_ASSERT_OK_AND_ASSIGN(const SafetensorsFile file,
                           SafetensorsFile::Parse(bytes));
  ExpectTensorsEqual(file, tensors);
  EXPECT_TRUE(file.tensors()[4].shape.empty());
}

TEST(SafetensorsTest, MetadataAndNamesWithAnyCharactersRoundTrip) {
  const uint8_t byte = 7;
  const std::map<std::string, std::string> metadata = {
      {"format", "pt"},
      {"quotes \" and \\ backslash", "tab\tnewline\nreturn\r"},
      {std::string("nul\0and\x01\x1f", 9), "control"},
      {"unicode", "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80"},
      {"", "empty key"},
  };
  const std::string name = "layer \"0\"/\xe9\x94\xae\x01";
  CVQ_ASSERT_OK_AND_ASSIGN(
      const std::string bytes,
      SerializeSafetensors({{name, TensorView(&byte, DType::kU8, {1})}},
                           metadata));
  CVQ_ASSERT_OK_AND_ASSIGN(const SafetensorsFile file,
                           SafetensorsFile::Parse(bytes));
  EXPECT_EQ(file.metadata(), metadata);
  ExpectTensorsEqual(file, {{name, TensorView(&byte, DType::kU8, {1})}});
}

TEST(SafetensorsTest, HeaderIsPaddedSoDataIsAligned) {
  const float value = 1.0f;
  for (std::string name = "a"; name.size() < 20; name += "b") {
    CVQ_ASSERT_OK_AND_ASSIGN(
        const std::string bytes,
        SerializeSafetensors({{name, TensorView(&value, DType::kF32, {1})}},
                             {}));
    uint64_t header_size;
    std::memcpy(&header_size, bytes.data(), 8);
    EXPECT_EQ(header_size % 8, 0u) << name;
    EXPECT_EQ(bytes.substr(8 + header_size), Bytes(&value, 4)) << name;
  }
}

TEST(SafetensorsTest, EmptyFileHasNoTensors) {
  CVQ_ASSERT_OK_AND_ASSIGN(const std::string bytes,
                           SerializeSafetensors({}, {}));
  EXPECT_EQ(bytes, MakeFile("{}      "));
  CVQ_ASSERT_OK_AND_ASSIGN(const SafetensorsFile file,
                           SafetensorsFile::Parse(bytes));
  EXPECT_THAT(file.tensors(), IsEmpty());
}

TEST(SafetensorsTest, FindByName) {
  const uint8_t a = 1;
  const uint8_t b = 2;
  CVQ_ASSERT_OK_AND_ASSIGN(
      const std::string bytes,
      SerializeSafetensors({{"a", TensorView(&a, DType::kU8, {1})},
                            {"b", TensorView(&b, DType::kU8, {1})}},
                           {}));
  CVQ_ASSERT_OK_AND_ASSIGN(const SafetensorsFile file,
                           SafetensorsFile::Parse(bytes));
  CVQ_ASSERT_OK_AND_ASSIGN(const SafetensorsTensor* found, file.Find("b"));
  EXPECT_EQ(found->name, "b");
  EXPECT_EQ(found->data, "\x02");
  EXPECT_THAT(file.Find("c"), StatusIs(absl::StatusCode::kNotFound,
                                       HasSubstr("no tensor named \"c\"")));
}

TEST(SafetensorsTest, WriteAndOpenAFile) {
  const std::string path = ::testing::TempDir() + "/weights.safetensors";
  const float values[3] = {1, 2, 3};
  const std::vector<NamedTensor> tensors = {
      {"w", TensorView(values, DType::kF32, {3})}};
  CVQ_ASSERT_OK(WriteSafetensors(path, tensors, {{"k", "v"}}));
  CVQ_ASSERT_OK_AND_ASSIGN(SafetensorsFile file, SafetensorsFile::Open(path));
  // The mapping moves with the file object; its views stay valid.
  SafetensorsFile moved = std::move(file);
  ExpectTensorsEqual(moved, tensors);
  EXPECT_EQ(moved.metadata().at("k"), "v");
}

TEST(SafetensorsTest, OpenErrorsNameThePath) {
  const std::string missing = ::testing::TempDir() + "/missing.safetensors";
  EXPECT_THAT(SafetensorsFile::Open(missing),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr(missing)));
  const std::string broken = ::testing::TempDir() + "/broken.safetensors";
  CVQ_ASSERT_OK(WriteFileAtomically(broken, "tiny"));
  EXPECT_THAT(SafetensorsFile::Open(broken),
              StatusIs(kInvalid, AllOf(HasSubstr("'" + broken + "': "),
                                       HasSubstr("truncated"))));
}

TEST(SafetensorsTest, ReaderAcceptsWhatOtherWritersMayProduce) {
  // Tensors listed in another order than their data, JSON whitespace,
  // escapes, "__metadata__" last, padding, empty tensors sharing an offset.
  const std::string header =
      "{\n  \"b\\u00e9\\ud83d\\ude00\" : {\"shape\": [2], \"dtype\": \"U8\","
      " \"data_offsets\": [2, 4]},\r\n\t\"a\": {\"data_offsets\": [0, 2], "
      "\"dtype\": \"F16\", \"shape\": []},"
      "\"z1\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [4, 4]},"
      "\"z0\": {\"dtype\": \"BF16\", \"shape\": [5, 0], \"data_offsets\": [4, "
      "4]},"
      "\"__metadata__\": {\"k\\/\": \"\\b\\f\"}}   ";
  // Parsed tensors point into the bytes, which must outlive them.
  const std::string bytes = MakeFile(header, "abcd");
  CVQ_ASSERT_OK_AND_ASSIGN(const SafetensorsFile file,
                           SafetensorsFile::Parse(bytes));
  ASSERT_EQ(file.tensors().size(), 4u);
  EXPECT_EQ(file.tensors()[0].name, "a");
  EXPECT_EQ(file.tensors()[0].data, "ab");
  EXPECT_EQ(file.tensors()[1].name, "b\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_EQ(file.tensors()[1].data, "cd");
  EXPECT_EQ(file.tensors()[1].shape, Shape({2}));
  EXPECT_EQ(file.tensors()[2].name, "z1");
  EXPECT_EQ(file.tensors()[3].name, "z0");
  EXPECT_EQ(file.metadata().at("k/"), "\b\f");
}

// A header with one tensor "t" whose fields are the given JSON.
std::string OneTensor(absl::string_view fields) {
  return absl::StrCat("{\"t\":{", fields, "}}");
}

struct MalformedCase {
  std::string description;
  std::string bytes;
  std::string message;
};

std::vector<MalformedCase> MalformedCases() {
  const std::string f32_t =
      OneTensor("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]");
  std::string size_only(8, '\0');
  const uint64_t huge = 100'000'001;
  std::memcpy(size_only.data(), &huge, 8);
  std::string past_end = MakeFile("{}");
  past_end[0] = 3;
  std::string deep_shape = "[1";
  for (int i = 0; i < 64; ++i) deep_shape += ",1";
  deep_shape += "]";
  return {
      {"too short for the size", "abc", "truncated"},
      {"absurd header size", size_only, "exceeds the format's limit"},
      {"header size past the end", past_end, "runs past the end"},
      {"empty header", MakeFile(""), "starting with '{'"},
      {"leading space", MakeFile(" {}"), "starting with '{'"},
      {"array header", MakeFile("[]"), "starting with '{'"},
      {"unterminated object", MakeFile("{\"__metadata__\":{}"),
       "expected ',' or '}', found the end of the header"},
      {"trailing comma", MakeFile("{\"__metadata__\":{},}"), "not valid JSON"},
      {"unquoted key", MakeFile("{t:{}}"), "expected a string key"},
      {"missing colon", MakeFile("{\"t\" {}}"), "expected ':'"},
      {"garbage after object", MakeFile("{} x"), "only whitespace"},
      {"second object", MakeFile("{}{}"), "only whitespace"},
      {"unterminated string", MakeFile("{\"t"), "closing '\"'"},
      {"bad escape", MakeFile("{\"\\x\":{}}"), "escape character"},
      {"short unicode escape", MakeFile("{\"\\u12\":{}}"), "four hex digits"},
      {"lone low surrogate", MakeFile("{\"\\udc00\":{}}"), "lone low"},
      {"lone high surrogate", MakeFile("{\"\\ud800x\":{}}"), "high surrogate"},
      {"control character", MakeFile("{\"a\nb\":{}}"), "must be escaped"},
      {"invalid UTF-8", MakeFile("{\"\xc3(\":{}}"), "not valid UTF-8"},
      {"overlong UTF-8", MakeFile("{\"\xc0\xaf\":{}}"), "not valid UTF-8"},
      {"UTF-8 surrogate", MakeFile("{\"\xed\xa0\x80\":{}}"), "not valid UTF-8"},
      {"tensor not an object", MakeFile("{\"t\":[1]}"),
       "tensor \"t\": expected an object"},
      {"metadata not an object", MakeFile("{\"__metadata__\":\"x\"}"),
       "\"__metadata__\" must be an object"},
      {"metadata value not a string", MakeFile("{\"__metadata__\":{\"k\":1}}"),
       "\"__metadata__\" entry \"k\" must be a string"},
      {"duplicate metadata key",
       MakeFile("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}"),
       "\"__metadata__\" has the key \"k\" more than once"},
      {"duplicate metadata",
       MakeFile("{\"__metadata__\":{},\"__metadata__\":{}}"),
       "the header has the key \"__metadata__\" more than once"},
      {"missing dtype",
       MakeFile(OneTensor("\"shape\":[2],\"data_offsets\":[0,8]"), "12345678"),
       "tensor \"t\" has no \"dtype\" field"},
      {"missing shape",
       MakeFile(OneTensor("\"dtype\":\"F32\",\"data_offsets\":[0,8]"),
                "12345678"),
       "tensor \"t\" has no \"shape\" field"},
      {"missing offsets",
       MakeFile(OneTensor("\"dtype\":\"F32\",\"shape\":[2]")),
       "tensor \"t\" has no \"data_offsets\" field"},
      {"unknown field",
       MakeFile(
           OneTensor("\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[0,1],"
                     "\"offsets\":[0,1]"),
           "1"),
       "tensor \"t\": unknown field \"offsets\""},
      {"duplicate field",
       MakeFile(OneTensor("\"dtype\":\"U8\",\"dtype\":\"U8\",\"shape\":[],"
                          "\"data_offsets\":[0,1]"),
                "1"),
       "tensor \"t\" has the key \"dtype\" more than once"},
      {"dtype not a string",
       MakeFile(OneTensor("\"dtype\":4,\"shape\":[],\"data_offsets\":[0,4]"),
                "1234"),
       "tensor \"t\": \"dtype\" must be a string"},
      {"shape not an array",
       MakeFile(
           OneTensor("\"dtype\":\"U8\",\"shape\":2,\"data_offsets\":[0,2]"),
           "12"),
       "tensor \"t\": \"shape\" must be an array"},
      {"shape holds a string",
       MakeFile(
           OneTensor(
               "\"dtype\":\"U8\",\"shape\":[\"2\"],\"data_offsets\":[0,2]"),
           "12"),
       "tensor \"t\": \"shape\" must hold non-negative integers"},
      {"offsets not an array",
       MakeFile(OneTensor("\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":{}"),
                "12"),
       "tensor \"t\": \"data_offsets\" must be an array"},
      {"negative dimension",
       MakeFile(
           OneTensor("\"dtype\":\"U8\",\"shape\":[-2],\"data_offsets\":[0,2]"),
           "12"),
       "tensor \"t\": \"shape\" holds -2, which is negative"},
      {"fractional dimension",
       MakeFile(
           OneTensor("\"dtype\":\"U8\",\"shape\":[2.0],\"data_offsets\":[0,2]"),
           "12"),
       "tensor \"t\": \"shape\" holds 2.0, which is not an integer"},
      {"exponent dimension",
       MakeFile(
           OneTensor("\"dtype\":\"U8\",\"shape\":[2e0],\"data_offsets\":[0,2]"),
           "12"),
       "holds 2e0, which is not an integer"},
      {"leading zero",
       MakeFile(
           OneTensor("\"dtype\":\"U8\",\"shape\":[02],\"data_offsets\":[0,2]"),
           "12"),
       "leading zeros"},
      {"64-bit overflow",
       MakeFile(OneTensor("\"dtype\":\"U8\",\"shape\":[2],"
                          "\"data_offsets\":[0,18446744073709551616]"),
                "12"),
       "holds 18446744073709551616, which does not fit in 64 bits"},
      {"dimension past int64",
       MakeFile(OneTensor("\"dtype\":\"U8\",\"shape\":[9223372036854775808],"
                          "\"data_offsets\":[0,2]"),
                "12"),
       "tensor \"t\": dimension 9223372036854775808 does not fit in int64"},
      {"too many dimensions",
       MakeFile(OneTensor("\"dtype\":\"U8\",\"shape\":" + deep_shape +
                          ",\"data_offsets\":[0,1]"),
                "1"),
       "tensor \"t\": \"shape\" has more than 64 entries"},
      {"negative offset",
       MakeFile(
           OneTensor("\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[-1,1]"),
           "12"),
       "\"data_offsets\" holds -1, which is negative"},
      {"one offset",
       MakeFile(
           OneTensor("\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2]"),
           "12"),
       "tensor \"t\": \"data_offsets\" must be [begin, end], got 1 entries"},
      {"three offsets",
       MakeFile(
           OneTensor("\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,1,2]"),
           "12"),
       "tensor \"t\": \"data_offsets\" has more than 2 entries"},
      {"unsupported dtype F64",
       MakeFile(
           OneTensor("\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]"),
           "12345678"),
       "tensor \"t\" has dtype \"F64\", which CommVQ does not read"},
      {"unsupported dtype I32",
       MakeFile(
           OneTensor("\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]"),
           "1234"),
       "tensor \"t\" has dtype \"I32\""},
      {"lower-case dtype",
       MakeFile(
           OneTensor("\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]"),
           "1234"),
       "tensor \"t\" has dtype \"f32\""},
      {"element count overflow",
       MakeFile(OneTensor("\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],"
                          "\"data_offsets\":[0,1]"),
                "1"),
       "tensor \"t\": shape [4294967296, 4294967296] has more than 2^63 "
       "elements"},
      {"byte count overflow",
       MakeFile(OneTensor("\"dtype\":\"F32\",\"shape\":[4611686018427387904],"
                          "\"data_offsets\":[0,1]"),
                "1"),
       "tensor \"t\": shape [4611686018427387904] of F32 has more than 2^63 "
       "bytes"},
      {"reversed offsets",
       MakeFile(
           OneTensor("\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[2,1]"),
           "12"),
       "tensor \"t\": data_offsets [2, 1] end before they begin"},
      {"offsets past the data", MakeFile(f32_t, "1234"),
       "tensor \"t\": data_offsets [0, 8] run past the end of the 4-byte data "
       "section"},
      {"size mismatch",
       MakeFile(
           OneTensor("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]"),
           "1234"),
       "tensor \"t\": data_offsets [0, 4] span 4 bytes but F32 of shape [2] "
       "needs 8"},
      {"overlap",
       MakeFile(
           "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
           "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[2,6]}}",
           "123456"),
       "tensor \"b\" (data_offsets [2, 6]) overlaps tensor \"a\" (data_offsets "
       "[0, 4])"},
      {"empty tensor inside another",
       MakeFile(
           "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
           "\"b\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[2,2]}}",
           "1234"),
       "tensor \"b\" (data_offsets [2, 2]) overlaps tensor \"a\""},
      {"same offsets twice",
       MakeFile(
           "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
           "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}",
           "12"),
       "overlaps tensor"},
      {"gap at the start",
       MakeFile(
           OneTensor("\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]"),
           "1234"),
       "bytes [0, 2) of the data section, before tensor \"t\", belong to no "
       "tensor"},
      {"gap between tensors",
       MakeFile(
           "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
           "\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[3,4]}}",
           "1234"),
       "bytes [1, 3) of the data section, before tensor \"b\", belong to no "
       "tensor"},
      {"trailing bytes", MakeFile(f32_t, "123456789"),
       "bytes [8, 9) at the end of the data section belong to no tensor"},
      {"data without tensors", MakeFile("{}", "x"),
       "bytes [0, 1) at the end of the data section"},
      {"duplicate tensor name",
       MakeFile(
           "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
           "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
           "12"),
       "the header has the key \"a\" more than once"},
  };
}

TEST(SafetensorsTest, MalformedFilesAreInvalidArgumentsNamingTheProblem) {
  for (const MalformedCase& c : MalformedCases()) {
    EXPECT_THAT(SafetensorsFile::Parse(c.bytes),
                StatusIs(kInvalid, HasSubstr(c.message)))
        << c.description;
  }
}

TEST(SafetensorsTest, EveryTruncationIsAnError) {
  const float values[3] = {1, 2, 3};
  CVQ_ASSERT_OK_AND_ASSIGN(
      const std::string bytes,
      SerializeSafetensors({{"w", TensorView(values, DType::kF32, {3})}},
                           {{"k", "v"}}));
  for (size_t size = 0; size < bytes.size(); ++size) {
    EXPECT_THAT(SafetensorsFile::Parse(bytes.substr(0, size)),
                StatusIs(kInvalid, ::testing::_))
        << "size " << size;
  }
}

TEST(SafetensorsTest, EveryFlippedHeaderByteIsAnErrorOrStillConsistent) {
  const uint8_t values[4] = {1, 2, 3, 4};
  CVQ_ASSERT_OK_AND_ASSIGN(
      const std::string bytes,
      SerializeSafetensors({{"ab", TensorView(values, DType::kU8, {2, 2})}},
                           {}));
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (const char flip : {'\x01', '\x20', '\x80'}) {
      std::string corrupt = bytes;
      corrupt[i] ^= flip;
      absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Parse(corrupt);
      if (!file.ok()) {
        EXPECT_EQ(file.status().code(), kInvalid) << i;
        continue;
      }
      // A flip that still parses (in a name, the padding or the data) must
      // describe all the data.
      ASSERT_EQ(file->tensors().size(), 1u) << i;
      EXPECT_EQ(file->tensors()[0].data.size(), 4u) << i;
    }
  }
}

TEST(SafetensorsTest, WriterRejectsWhatTheReaderWould) {
  const uint8_t byte = 0;
  const TensorView one(&byte, DType::kU8, {1});
  EXPECT_THAT(
      SerializeSafetensors({{"a", one}, {"a", one}}, {}),
      StatusIs(kInvalid, HasSubstr("tensor \"a\" is given more than once")));
  EXPECT_THAT(SerializeSafetensors({{"__metadata__", one}}, {}),
              StatusIs(kInvalid, HasSubstr("reserves this name")));
  EXPECT_THAT(SerializeSafetensors({{"bad\xff", one}}, {}),
              StatusIs(kInvalid, HasSubstr("tensor \"bad\\xff\": the name is "
                                           "not valid UTF-8")));
  EXPECT_THAT(
      SerializeSafetensors({{"a", one}}, {{"k", "\xc3"}}),
      StatusIs(kInvalid, HasSubstr("metadata entry \"k\" is not valid")));
  EXPECT_THAT(SerializeSafetensors(
                  {{"neg", TensorView(&byte, DType::kU8, {2, -1})}}, {}),
              StatusIs(kInvalid, AllOf(HasSubstr("tensor \"neg\""),
                                       HasSubstr("negative dimension -1"))));
  EXPECT_THAT(SerializeSafetensors(
                  {{"null", TensorView(nullptr, DType::kF32, {2})}}, {}),
              StatusIs(kInvalid, AllOf(HasSubstr("tensor \"null\""),
                                       HasSubstr("data is null"))));
}

TEST(SafetensorsTest, ReserializingAParsedFileGivesTheSameBytes) {
  const float f32[2] = {1, 2};
  const uint8_t u8[3] = {7, 8, 9};
  CVQ_ASSERT_OK_AND_ASSIGN(
      const std::string bytes,
      SerializeSafetensors({{"f", TensorView(f32, DType::kF32, {1, 2})},
                            {"u", TensorView(u8, DType::kU8, {3})}},
                           {{"m", "1"}}));
  CVQ_ASSERT_OK_AND_ASSIGN(const SafetensorsFile file,
                           SafetensorsFile::Parse(bytes));
  std::vector<NamedTensor> again;
  for (const SafetensorsTensor& t : file.tensors()) {
    again.push_back({t.name, TensorView(t.data.data(), t.dtype, t.shape)});
  }
  EXPECT_THAT(SerializeSafetensors(again, file.metadata()),
              ::commvq::testing::IsOkAndHolds(bytes));
  EXPECT_THAT(file.Find("u"), IsOk());
}

}  // namespace
}  // namespace commvq
