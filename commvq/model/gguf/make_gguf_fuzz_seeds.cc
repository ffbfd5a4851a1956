// Writes the seed corpus of //testing/fuzz:gguf_fuzzer: a few tiny GGUF
// files that together hold every metadata type, nested arrays, a non-default
// alignment, version 2, and a tensor of every type the dequantizer supports
// plus one it does not. Rerun after a format change:
//
//   bazel run //commvq/model/gguf:make_gguf_fuzz_seeds -- "$PWD/testing/fuzz/corpus/gguf"
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "commvq/io/atomic_file.h"
#include "commvq/model/gguf/ggml_type.h"
#include "commvq/model/gguf/gguf_file.h"
#include "commvq/model/gguf/gguf_test_util.h"

namespace commvq {
namespace {

using T = GgufValueType;

uint32_t Type(GgmlType type) { return static_cast<uint32_t>(type); }

// `num_blocks` blocks of `type` of random bytes below 64, so that every
// float, binary16 or bfloat16 made of them (scales included) is finite.
std::string Blocks(GgmlType type, int num_blocks, uint64_t seed) {
  const GgmlTypeTraits& traits = *FindGgmlType(type);
  std::mt19937_64 rng(seed);
  std::string bytes(num_blocks * traits.block_bytes, '\0');
  for (char& c : bytes) c = static_cast<char>(rng() % 64);
  return bytes;
}

std::string MetadataFile() {
  return GgufTestFileBuilder()
      .Add("u8", GgufScalar(T::kUint8, uint8_t{200}))
      .Add("i8", GgufScalar(T::kInt8, int8_t{-100}))
      .Add("u16", GgufScalar(T::kUint16, uint16_t{60000}))
      .Add("i16", GgufScalar(T::kInt16, int16_t{-30000}))
      .Add("u32", GgufScalar(T::kUint32, uint32_t{4000000000}))
      .Add("i32", GgufScalar(T::kInt32, int32_t{-2000000000}))
      .Add("f32", GgufScalar(T::kFloat32, 1e-5f))
      .Add("bool", GgufScalar(T::kBool, uint8_t{1}))
      .Add("str", GgufString("llama"))
      .Add("u64", GgufScalar(T::kUint64, ~uint64_t{0}))
      .Add("i64", GgufScalar(T::kInt64, int64_t{-1}))
      .Add("f64", GgufScalar(T::kFloat64, 0.1))
      .Add("tokens", GgufArray(T::kString, {GgufString("<unk>"),
                                            GgufString("\xc4\xa0the")}))
      .Add("ids", GgufArray(T::kInt32, {GgufScalar(T::kInt32, int32_t{1}),
                                        GgufScalar(T::kInt32, int32_t{-2})}))
      .Add("flags", GgufArray(T::kBool, {GgufScalar(T::kBool, uint8_t{0})}))
      .Add("scores", GgufArray(T::kFloat32, {GgufScalar(T::kFloat32, 0.5f)}))
      .Add("nested",
           GgufArray(T::kArray,
                     {GgufArray(T::kUint16, {GgufScalar(T::kUint16,
                                                        uint16_t{7})}),
                      GgufArray(T::kArray, {GgufArray(T::kString, {})})}))
      .Build();
}

std::string SupportedTensorsFile() {
  return GgufTestFileBuilder()
      .Add("general.architecture", GgufString("llama"))
      .AddTensor("f32", {4}, Type(GgmlType::kF32), Blocks(GgmlType::kF32, 4, 1))
      .AddTensor("f16", {4, 2}, Type(GgmlType::kF16),
                 Blocks(GgmlType::kF16, 8, 2))
      .AddTensor("bf16", {2}, Type(GgmlType::kBF16),
                 Blocks(GgmlType::kBF16, 2, 3))
      .AddTensor("q8_0", {32, 2}, Type(GgmlType::kQ8_0),
                 Blocks(GgmlType::kQ8_0, 2, 4))
      .AddTensor("q4_0", {32}, Type(GgmlType::kQ4_0),
                 Blocks(GgmlType::kQ4_0, 1, 5))
      .AddTensor("q4_1", {64}, Type(GgmlType::kQ4_1),
                 Blocks(GgmlType::kQ4_1, 2, 6))
      .AddTensor("q6_k", {256}, Type(GgmlType::kQ6_K),
                 Blocks(GgmlType::kQ6_K, 1, 7))
      .Build();
}

std::string AlignedV2File() {
  return GgufTestFileBuilder()
      .Version(2)
      .Add("general.alignment", GgufScalar(T::kUint32, uint32_t{64}))
      .Alignment(64)
      .AddTensor("a", {2, 2, 1, 1}, Type(GgmlType::kF32),
                 Blocks(GgmlType::kF32, 4, 8))
      .AddTensor("empty", {0, 3}, Type(GgmlType::kQ8_0), "")
      .Build();
}

std::string UnsupportedTypeFile() {
  return GgufTestFileBuilder()
      .AddTensor("q4_k", {256}, Type(GgmlType::kQ4_K),
                 Blocks(GgmlType::kQ4_K, 1, 9))
      .AddTensor("i32", {2}, Type(GgmlType::kI32), Blocks(GgmlType::kI32, 2, 10))
      .Build();
}

int Main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUTPUT_DIR\n", argv[0]);
    return 2;
  }
  const std::pair<const char*, std::string> seeds[] = {
      {"metadata_all_types.gguf", MetadataFile()},
      {"tensors_supported_types.gguf", SupportedTensorsFile()},
      {"aligned_64_v2.gguf", AlignedV2File()},
      {"tensors_unsupported_types.gguf", UnsupportedTypeFile()},
  };
  for (const auto& [name, bytes] : seeds) {
    // Each seed must parse, or it seeds nothing past the parser.
    const absl::Status parsed = GgufFile::Parse(bytes).status();
    const absl::Status written =
        parsed.ok() ? WriteFileAtomically(absl::StrCat(argv[1], "/", name),
                                          bytes)
                    : parsed;
    if (!written.ok()) {
      std::fprintf(stderr, "%s: %s\n", name, written.ToString().c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace
}  // namespace commvq

int main(int argc, char** argv) { return commvq::Main(argc, argv); }
