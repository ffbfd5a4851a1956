#include "commvq/model/gguf/dequantize.h"

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "commvq/base/float16.h"
#include "commvq/base/status_matchers.h"
#include "commvq/base/thread_pool.h"
#include "commvq/model/gguf/gguf_file.h"
#include "commvq/model/gguf/gguf_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

using ::commvq::testing::IsOkAndHolds;
using ::commvq::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

// binary16 bit patterns of the scales used below.
constexpr uint16_t kHalfQuarter = 0x3400;   // 0.25
constexpr uint16_t kHalfHalf = 0x3800;      // 0.5
constexpr uint16_t kHalfMinusOne = 0xbc00;  // -1
constexpr uint16_t kHalfTwo = 0x4000;       // 2

void AppendU16(uint16_t value, std::string* bytes) {
  bytes->append(reinterpret_cast<const char*>(&value), sizeof(value));
}

std::vector<float> Dequantize(GgmlType type, absl::string_view bytes,
                              size_t count) {
  std::vector<float> out(count);
  EXPECT_THAT(DequantizeBlocks(type, bytes, absl::MakeSpan(out)),
              commvq::testing::IsOk());
  return out;
}

bool SameBits(absl::Span<const float> a, absl::Span<const float> b) {
  return a.size() == b.size() &&
         std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

std::string RandomBytes(size_t size, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string bytes(size, '\0');
  for (char& c : bytes) c = static_cast<char>(rng());
  return bytes;
}

TEST(DequantizeTest, F32IsCopied) {
  const float values[] = {1.5f, -0.0f, 3e38f};
  const std::string bytes(reinterpret_cast<const char*>(values),
                          sizeof(values));
  EXPECT_THAT(Dequantize(GgmlType::kF32, bytes, 3),
              ElementsAre(1.5f, -0.0f, 3e38f));
}

TEST(DequantizeTest, F16AndBF16) {
  std::string f16;
  // 1, -2, 65504 (the largest half), 2^-24 (the smallest subnormal).
  for (const uint16_t bits : {0x3c00, 0xc000, 0x7bff, 0x0001}) {
    AppendU16(bits, &f16);
  }
  EXPECT_THAT(Dequantize(GgmlType::kF16, f16, 4),
              ElementsAre(1.0f, -2.0f, 65504.0f, 0x1p-24f));
  std::string bf16;
  // 1; sign, exponent 2^(0x81 - 127) = 4, mantissa 1.25: -5; 2^-126.
  for (const uint16_t bits : {0x3f80, 0xc0a0, 0x0080}) AppendU16(bits, &bf16);
  EXPECT_THAT(Dequantize(GgmlType::kBF16, bf16, 3),
              ElementsAre(1.0f, -5.0f, 0x1p-126f));
}

TEST(DequantizeTest, Q8_0) {
  // Two blocks. Block 0: d = 0.5 and q[i] = i - 16, so x[i] = (i - 16) / 2,
  // except q[0] = -128 -> -64 and q[31] = 127 -> 63.5. Block 1: d = -1 and
  // q[i] = 1, so x = -1.
  std::string bytes;
  AppendU16(kHalfHalf, &bytes);
  for (int i = 0; i < 32; ++i) bytes.push_back(static_cast<char>(i - 16));
  bytes[2] = static_cast<char>(-128);
  bytes[2 + 31] = 127;
  AppendU16(kHalfMinusOne, &bytes);
  bytes.append(32, '\x01');
  std::vector<float> expected;
  for (int i = 0; i < 32; ++i) expected.push_back((i - 16) * 0.5f);
  expected[0] = -64.0f;
  expected[31] = 63.5f;
  expected.insert(expected.end(), 32, -1.0f);
  EXPECT_THAT(Dequantize(GgmlType::kQ8_0, bytes, 64),
              ElementsAreArray(expected));
}

TEST(DequantizeTest, Q4_0) {
  // d = 2; byte i holds q[i] = i in its low nibble and q[i + 16] = 15 - i in
  // its high nibble. x[i] = (i - 8) * 2: -16, -14, ..., 14;
  // x[i + 16] = (15 - i - 8) * 2 = (7 - i) * 2: 14, 12, ..., -16.
  std::string bytes;
  AppendU16(kHalfTwo, &bytes);
  for (int i = 0; i < 16; ++i) bytes.push_back(static_cast<char>(i | ((15 - i) << 4)));
  std::vector<float> expected(32);
  for (int i = 0; i < 16; ++i) {
    expected[i] = (i - 8) * 2.0f;
    expected[i + 16] = (7 - i) * 2.0f;
  }
  EXPECT_THAT(Dequantize(GgmlType::kQ4_0, bytes, 32),
              ElementsAreArray(expected));
  EXPECT_EQ(expected[0], -16.0f);
  EXPECT_EQ(expected[16], 14.0f);
}

TEST(DequantizeTest, Q4_1) {
  // d = 0.25, m = -1, nibbles as in Q4_0: x[i] = i / 4 - 1 (-1 to 2.75) and
  // x[i + 16] = (15 - i) / 4 - 1 (2.75 down to -1).
  std::string bytes;
  AppendU16(kHalfQuarter, &bytes);
  AppendU16(kHalfMinusOne, &bytes);
  for (int i = 0; i < 16; ++i) bytes.push_back(static_cast<char>(i | ((15 - i) << 4)));
  const std::vector<float> x = Dequantize(GgmlType::kQ4_1, bytes, 32);
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(x[i], i * 0.25f - 1.0f) << i;
    EXPECT_EQ(x[i + 16], (15 - i) * 0.25f - 1.0f) << i;
  }
  EXPECT_EQ(x[0], -1.0f);
  EXPECT_EQ(x[15], 2.75f);
  EXPECT_EQ(x[16], 2.75f);
}

TEST(DequantizeTest, Q6_K) {
  // 210 bytes: ql[128], qh[64], scales[16], d. A quant q = low 4 bits from
  // ql | high 2 bits from qh << 4, and x = d * scale * (q - 32). With all ql
  // 0 and all qh 0xaa (every 2-bit field 2), q = 32 and x = 0 everywhere;
  // the bytes changed below set single elements.
  std::string bytes(210, '\0');
  auto ql = [&bytes](int i) -> char& { return bytes[i]; };
  auto qh = [&bytes](int i) -> char& { return bytes[128 + i]; };
  for (int i = 0; i < 64; ++i) qh(i) = static_cast<char>(0xaa);
  // scales[i] = i + 1 (element e uses scales[e / 16]), but scales[15] = -2.
  for (int i = 0; i < 16; ++i) bytes[192 + i] = static_cast<char>(i + 1);
  bytes[192 + 15] = static_cast<char>(-2);
  bytes[208] = kHalfHalf & 0xff;  // d = 0.5
  bytes[209] = kHalfHalf >> 8;

  std::vector<float> expected(256, 0.0f);
  // Element 0: low nibble of ql[0] = 5, qh[0] bits 0-1 = 2: q = 37,
  // x = 0.5 * 1 * 5 = 2.5. Element 64: high nibble of ql[0] = 7, qh[0] bits
  // 4-5 = 2: q = 39, x = 0.5 * scales[4] = 5 * 7 = 17.5.
  ql(0) = 0x75;
  expected[0] = 2.5f;
  expected[64] = 17.5f;
  // Element 33 (= 32 + 1): low nibble of ql[32 + 1] = 15, qh[1] bits 2-3 = 2:
  // q = 47, x = 0.5 * scales[2] = 3 * 15 = 22.5. Its high nibble (element
  // 97) stays 0, so q = 32 there and x = 0.
  ql(33) = 0x0f;
  expected[33] = 22.5f;
  // Element 98 (= 96 + 2): high nibble of ql[32 + 2] = 0, qh[2] bits 6-7 =
  // 0: q = 0, x = 0.5 * scales[6] = 7 * -32 = -112.
  qh(2) = 0x2a;
  expected[98] = -112.0f;
  // Second half, element 147 (= 128 + 19): low nibble of ql[64 + 19] = 1,
  // qh[32 + 19] bits 0-1 = 3: q = 1 | 48 = 49, x = 0.5 * scales[9] = 10 *
  // 17 = 85.
  ql(83) = 0x01;
  qh(51) = static_cast<char>(0xab);
  expected[147] = 85.0f;
  // Element 255 (= 128 + 96 + 31): high nibble of ql[64 + 32 + 31] = 3,
  // qh[32 + 31] bits 6-7 = 2: q = 35, x = 0.5 * scales[15] = -2 * 3 = -3.
  ql(127) = 0x30;
  expected[255] = -3.0f;
  EXPECT_THAT(Dequantize(GgmlType::kQ6_K, bytes, 256),
              ElementsAreArray(expected));
}

TEST(DequantizeTest, BlocksErrors) {
  std::vector<float> out(32);
  EXPECT_THAT(DequantizeBlocks(GgmlType::kQ4_K, std::string(144, '\0'),
                               absl::MakeSpan(out)),
              StatusIs(kInvalid, HasSubstr("of ggml type Q4_K: supported "
                                           "are F32, F16, BF16, Q8_0")));
  EXPECT_THAT(DequantizeBlocks(static_cast<GgmlType>(5), "",
                               absl::MakeSpan(out)),
              StatusIs(kInvalid, HasSubstr("unknown type 5")));
  EXPECT_THAT(DequantizeBlocks(GgmlType::kQ8_0, std::string(33, '\0'),
                               absl::MakeSpan(out)),
              StatusIs(kInvalid, HasSubstr("needs 34 bytes, got 33")));
  EXPECT_THAT(DequantizeBlocks(GgmlType::kQ8_0, std::string(34, '\0'),
                               absl::MakeSpan(out).subspan(1)),
              StatusIs(kInvalid, HasSubstr("31 elements of Q8_0: not a "
                                           "multiple of its block size 32")));
  CVQ_EXPECT_OK(
      DequantizeBlocks(GgmlType::kQ8_0, "", absl::Span<float>()));
}

GgufTensorInfo MakeTensor(GgmlType type, int64_t row, int64_t rows,
                          absl::string_view data) {
  GgufTensorInfo tensor;
  tensor.name = "t";
  tensor.type = type;
  tensor.dims = {row, rows};
  tensor.num_elements = row * rows;
  tensor.num_rows = rows;
  tensor.data = data;
  return tensor;
}

TEST(DequantizeTest, RowsAreSlicesOfTheWholeTensor) {
  // 3 rows of 64 Q8_0 elements (2 blocks of 34 bytes each).
  const std::string bytes = RandomBytes(3 * 2 * 34, 1);
  const GgufTensorInfo tensor = MakeTensor(GgmlType::kQ8_0, 64, 3, bytes);
  std::vector<float> all(192);
  CVQ_ASSERT_OK(DequantizeRows(tensor, bytes, 0, 3, absl::MakeSpan(all)));
  EXPECT_TRUE(SameBits(all, Dequantize(GgmlType::kQ8_0, bytes, 192)));
  std::vector<float> rows(128);
  CVQ_ASSERT_OK(DequantizeRows(tensor, bytes, 1, 2, absl::MakeSpan(rows)));
  EXPECT_TRUE(SameBits(rows, absl::MakeSpan(all).subspan(64)));
  CVQ_EXPECT_OK(DequantizeRows(tensor, bytes, 3, 0, absl::Span<float>()));
}

TEST(DequantizeTest, RowsErrors) {
  const std::string bytes(3 * 2 * 34, '\0');
  const GgufTensorInfo tensor = MakeTensor(GgmlType::kQ8_0, 64, 3, bytes);
  std::vector<float> out(64);
  const auto rows = [&](int64_t first, int64_t count, size_t out_size) {
    out.resize(out_size);
    return DequantizeRows(tensor, bytes, first, count, absl::MakeSpan(out));
  };
  EXPECT_THAT(rows(2, 2, 128),
              StatusIs(kInvalid, HasSubstr("rows [2, 2 + 2) are outside "
                                           "tensor \"t\" of 3 rows")));
  EXPECT_THAT(rows(-1, 1, 64), StatusIs(kInvalid, HasSubstr("outside")));
  EXPECT_THAT(rows(0, -1, 0), StatusIs(kInvalid, HasSubstr("outside")));
  EXPECT_THAT(rows(0, 1, 63),
              StatusIs(kInvalid, HasSubstr("the output for 1 rows of 64 "
                                           "elements of tensor \"t\" has 63 "
                                           "floats")));
  EXPECT_THAT(DequantizeRows(tensor, absl::string_view(bytes).substr(1), 0, 1,
                             absl::MakeSpan(out)),
              StatusIs(kInvalid, HasSubstr("has 3 rows of 64 Q8_0 elements "
                                           "but 203 bytes of data")));
  const GgufTensorInfo ragged = MakeTensor(GgmlType::kQ8_0, 48, 1, bytes);
  EXPECT_THAT(DequantizeRows(ragged, bytes, 0, 1, absl::MakeSpan(out)),
              StatusIs(kInvalid, HasSubstr("does not have rows of whole "
                                           "32-element blocks")));
  const GgufTensorInfo q4_k = MakeTensor(GgmlType::kQ4_K, 256, 1, bytes);
  EXPECT_THAT(DequantizeRows(q4_k, bytes, 0, 1, absl::MakeSpan(out)),
              StatusIs(kInvalid, HasSubstr("cannot dequantize tensor \"t\" "
                                           "of ggml type Q4_K")));
}

// The thread pool only splits the work: results are bit-identical.
TEST(DequantizeTest, PoolGivesTheSameResult) {
  ThreadPool pool(4);
  for (const GgmlType type : {GgmlType::kQ4_1, GgmlType::kQ6_K,
                              GgmlType::kF16}) {
    const int64_t row = 1024;
    const int64_t num_rows = 300;
    const GgmlTypeTraits& traits = *FindGgmlType(type);
    const std::string bytes = RandomBytes(
        num_rows * row / traits.block_size * traits.block_bytes, 7);
    const GgufTensorInfo tensor = MakeTensor(type, row, num_rows, bytes);
    std::vector<float> serial(row * (num_rows - 5));
    std::vector<float> parallel(serial.size());
    CVQ_ASSERT_OK(DequantizeRows(tensor, bytes, 5, num_rows - 5,
                                 absl::MakeSpan(serial)));
    CVQ_ASSERT_OK(DequantizeRows(tensor, bytes, 5, num_rows - 5,
                                 absl::MakeSpan(parallel), &pool));
    EXPECT_TRUE(SameBits(serial, parallel)) << traits.name;
  }
}

TEST(DequantizeTest, TensorOfAParsedFile) {
  std::string f16;
  for (const uint16_t bits : {0x3c00, 0x4000, 0x4200, 0x4400}) {
    AppendU16(bits, &f16);  // 1, 2, 3, 4
  }
  const std::string bytes =
      GgufTestFileBuilder()
          .AddTensor("half", {2, 2}, static_cast<uint32_t>(GgmlType::kF16),
                     f16)
          .AddTensor("k_quant", {256}, static_cast<uint32_t>(GgmlType::kQ4_K),
                     std::string(144, '\0'))
          .Build();
  CVQ_ASSERT_OK_AND_ASSIGN(const GgufFile file, GgufFile::Parse(bytes));
  EXPECT_THAT(DequantizeTensor(file, "half"),
              IsOkAndHolds(ElementsAre(1.0f, 2.0f, 3.0f, 4.0f)));
  ThreadPool pool(2);
  EXPECT_THAT(DequantizeTensor(file, "half", &pool),
              IsOkAndHolds(ElementsAre(1.0f, 2.0f, 3.0f, 4.0f)));
  EXPECT_THAT(DequantizeTensor(file, "k_quant"),
              StatusIs(kInvalid, HasSubstr("tensor \"k_quant\" of ggml type "
                                           "Q4_K")));
  EXPECT_THAT(DequantizeTensor(file, "nope"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("\"nope\"")));
  EXPECT_TRUE(CanDequantize(GgmlType::kQ6_K));
  EXPECT_FALSE(CanDequantize(GgmlType::kQ4_K));
}

}  // namespace
}  // namespace commvq
