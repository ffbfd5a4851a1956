// Compares the C++ reader and dequantizer with an independent implementation,
// the `gguf` Python package (gguf_reference.py), on the real model (every
// metadata key, every tensor's type, shape, offset and bit-exact
// dequantization) and on random blocks of every supported type. Needs
// COMMVQ_PYTHON and COMMVQ_MODEL_DIR from ./setup.sh; fails without them.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "commvq/base/status_matchers.h"
#include "commvq/base/thread_pool.h"
#include "commvq/io/atomic_file.h"
#include "commvq/model/gguf/dequantize.h"
#include "commvq/model/gguf/gguf_file.h"
#include "commvq/model/gguf/gguf_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

// Relative to the test's working directory, the workspace's runfiles.
constexpr char kScript[] = "commvq/model/gguf/gguf_reference.py";

std::string ShellQuote(absl::string_view text) {
  return absl::StrCat("'", absl::StrReplaceAll(text, {{"'", "'\\''"}}), "'");
}

// Runs gguf_reference.py with `args`; the error output goes to the log.
void RunReference(const std::string& python, const std::string& args) {
  const std::string command =
      absl::StrCat(ShellQuote(python), " ", ShellQuote(kScript), " ", args);
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
}

// The checksum gguf_reference.py computes: sum of (i + 1) * bits(values[i])
// modulo 2^64.
uint64_t Checksum(absl::Span<const float> values) {
  uint64_t sum = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    uint32_t bits;
    std::memcpy(&bits, &values[i], sizeof(bits));
    sum += (i + 1) * static_cast<uint64_t>(bits);
  }
  return sum;
}

// A value as gguf_reference.py prints it: integers in decimal, bools 0/1,
// strings in hex, floats with %.17g (printed the same by Python and C).
std::string ReferenceText(const GgufValue& value) {
  switch (value.type()) {
    case GgufValueType::kString:
      return absl::BytesToHexString(*value.AsString());
    case GgufValueType::kBool:
      return *value.AsBool() ? "1" : "0";
    case GgufValueType::kFloat32:
    case GgufValueType::kFloat64:
      return absl::StrFormat("%.17g", *value.AsFloat());
    case GgufValueType::kArray: {
      std::string text = absl::StrCat(value.size());
      if (value.size() > 0) {
        absl::StrAppend(&text, " ", ReferenceText(value.element(0)), " ",
                        ReferenceText(value.element(value.size() - 1)));
      }
      return text;
    }
    default:
      return absl::StrCat(*value.AsInt());
  }
}

std::string TypeText(const GgufValue& value) {
  const auto number = [](GgufValueType type) {
    return static_cast<uint32_t>(type);
  };
  if (value.type() != GgufValueType::kArray) {
    return absl::StrCat(number(value.type()));
  }
  return absl::StrCat(number(value.type()), ":", number(value.element_type()));
}

std::vector<float> FloatsFromBytes(absl::string_view bytes) {
  std::vector<float> values(bytes.size() / sizeof(float));
  std::memcpy(values.data(), bytes.data(), values.size() * sizeof(float));
  return values;
}

struct TypeReport {
  int tensors = 0;
  int checksums_equal = 0;
  int64_t row_values = 0;
  double max_abs_diff = 0;
};

TEST(GgufReferenceTest, ModelMatchesGgufPackage) {
  CVQ_ASSERT_OK_AND_ASSIGN(const std::string python, ReferencePythonFromEnv());
  CVQ_ASSERT_OK_AND_ASSIGN(const std::string model, ModelPathFromEnv());
  const std::string out =
      absl::StrCat(std::getenv("TEST_TMPDIR"), "/reference.tsv");
  RunReference(python,
               absl::StrCat("tensors ", ShellQuote(model), " ", ShellQuote(out)));
  CVQ_ASSERT_OK_AND_ASSIGN(const std::string text, ReadFile(out));
  CVQ_ASSERT_OK_AND_ASSIGN(const GgufFile file, GgufFile::Open(model));

  ThreadPool pool(ThreadPool::DefaultNumThreads());
  int keys = 0;
  int tensors = 0;
  std::map<std::string, TypeReport> reports;
  // The current tensor's values, dequantized once for its row lines.
  std::string current;
  std::vector<float> values;
  for (const absl::string_view line :
       absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    const std::vector<absl::string_view> fields = absl::StrSplit(line, '\t');
    ASSERT_GE(fields.size(), 4u) << line;
    const std::string name(fields[1]);
    if (fields[0] == "kv") {
      ++keys;
      CVQ_ASSERT_OK_AND_ASSIGN(const GgufValue* value, file.Find(name));
      EXPECT_EQ(TypeText(*value), fields[2]) << name;
      EXPECT_EQ(ReferenceText(*value), fields[3]) << name;
    } else if (fields[0] == "tensor") {
      ASSERT_EQ(fields.size(), 6u) << line;
      ++tensors;
      CVQ_ASSERT_OK_AND_ASSIGN(const GgufTensorInfo* tensor,
                               file.FindTensor(name));
      EXPECT_EQ(GgmlTypeName(tensor->type), fields[2]) << name;
      EXPECT_EQ(absl::StrJoin(tensor->dims, ","), fields[3]) << name;
      EXPECT_EQ(absl::StrCat(file.data_offset() + tensor->offset), fields[4])
          << name;
      CVQ_ASSERT_OK_AND_ASSIGN(values, DequantizeTensor(file, name, &pool));
      current = name;
      TypeReport& report = reports[std::string(fields[2])];
      ++report.tensors;
      const std::string checksum = absl::StrCat(absl::Hex(Checksum(values)));
      EXPECT_EQ(checksum, fields[5]) << name;
      report.checksums_equal += checksum == fields[5];
    } else {
      ASSERT_EQ(fields[0], "row") << line;
      ASSERT_EQ(name, current) << "row lines follow their tensor";
      CVQ_ASSERT_OK_AND_ASSIGN(const GgufTensorInfo* tensor,
                               file.FindTensor(name));
      int64_t row;
      ASSERT_TRUE(absl::SimpleAtoi(fields[2], &row)) << line;
      const std::vector<float> expected =
          FloatsFromBytes(absl::HexStringToBytes(fields[3]));
      ASSERT_EQ(static_cast<int64_t>(expected.size()), tensor->dims[0]);
      TypeReport& report = reports[GgmlTypeName(tensor->type)];
      for (int64_t i = 0; i < tensor->dims[0]; ++i) {
        const float got = values[row * tensor->dims[0] + i];
        EXPECT_EQ(got, expected[i]) << name << " row " << row << " [" << i
                                    << "]";
        report.max_abs_diff = std::max<double>(
            report.max_abs_diff, std::fabs(got - expected[i]));
        ++report.row_values;
      }
    }
  }
  EXPECT_EQ(keys, static_cast<int>(file.metadata().size()));
  EXPECT_EQ(tensors, static_cast<int>(file.tensors().size()));
  for (const auto& [type, report] : reports) {
    std::cout << type << ": " << report.checksums_equal << " of "
              << report.tensors
              << " tensors bit-identical to the gguf package (checksum); "
              << report.row_values
              << " values of first/last rows compared, max abs diff "
              << report.max_abs_diff << "\n";
  }
}

TEST(GgufReferenceTest, RandomBlocksMatchGgufPackage) {
  CVQ_ASSERT_OK_AND_ASSIGN(const std::string python, ReferencePythonFromEnv());
  const std::string dir = std::getenv("TEST_TMPDIR");
  const GgmlType types[] = {GgmlType::kF32,  GgmlType::kF16,
                            GgmlType::kBF16, GgmlType::kQ8_0,
                            GgmlType::kQ4_0, GgmlType::kQ4_1,
                            GgmlType::kQ6_K};
  constexpr int kBlocks = 64;
  std::mt19937_64 rng(42);
  std::map<GgmlType, std::string> inputs;
  for (const GgmlType type : types) {
    const GgmlTypeTraits& traits = *FindGgmlType(type);
    // Enough elements for whole blocks of every type.
    const int64_t size = kBlocks * 256 / traits.block_size * traits.block_bytes;
    std::string bytes(size, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    CVQ_ASSERT_OK(
        WriteFileAtomically(absl::StrCat(dir, "/", traits.name, ".bin"), bytes));
    inputs[type] = bytes;
  }
  RunReference(python, absl::StrCat("blocks ", ShellQuote(dir)));
  for (const GgmlType type : types) {
    const GgmlTypeTraits& traits = *FindGgmlType(type);
    CVQ_ASSERT_OK_AND_ASSIGN(
        const std::string reference_bytes,
        ReadFile(absl::StrCat(dir, "/", traits.name, ".f32")));
    const std::vector<float> expected = FloatsFromBytes(reference_bytes);
    std::vector<float> got(kBlocks * 256);
    ASSERT_EQ(expected.size(), got.size()) << traits.name;
    CVQ_ASSERT_OK(DequantizeBlocks(type, inputs[type], absl::MakeSpan(got)));
    // Random bits make some scales infinite or NaN; NaNs match any NaN (the
    // quiet bit and payload of a converted NaN are not specified).
    int nans = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      if (std::isnan(expected[i])) {
        EXPECT_TRUE(std::isnan(got[i])) << traits.name << " [" << i << "]";
        ++nans;
        continue;
      }
      uint32_t got_bits, expected_bits;
      std::memcpy(&got_bits, &got[i], 4);
      std::memcpy(&expected_bits, &expected[i], 4);
      EXPECT_EQ(got_bits, expected_bits)
          << traits.name << " [" << i << "]: " << got[i] << " vs "
          << expected[i];
    }
    std::cout << traits.name << ": " << got.size()
              << " random-block values bit-identical to the gguf package ("
              << nans << " NaN)\n";
  }
}

}  // namespace
}  // namespace commvq
