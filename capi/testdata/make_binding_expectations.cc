// Writes what the language bindings' tests must reproduce through the C ABI,
// computed here with the C++ library directly (not through libcommvq.so):
// an input batch, the golden file's key quantizer's codes and decoding of
// it, and a quantizer trained from given samples and seed with its codes,
// decoding and serialized size.
//
// Usage: make_binding_expectations GOLDEN_CODEBOOK OUT
//
// Format: one record per line, `name type ndim dims... values...`, with type
// f32 (printed with 9 significant digits, which round-trips a float), u8,
// i64 or str (ndim 0, one value without spaces). Every binding parses it
// with a few lines of code.
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "commvq/base/random.h"
#include "commvq/base/status_macros.h"
#include "commvq/io/codebook_file.h"
#include "commvq/registry/registry.h"

namespace commvq {
namespace {

constexpr int64_t kDim = 8;
constexpr int64_t kNumInputs = 6;
constexpr int64_t kNumSamples = 64;
constexpr char kGoldenQuantizer[] = "layer.0.key";
constexpr char kTrainSpec[] = "rvq:stages=2,bits=3,iterations=5";
constexpr uint64_t kTrainSeed = 11;

std::string Record(const std::string& name, const std::string& type,
                   const std::vector<int64_t>& shape,
                   const std::vector<std::string>& values) {
  return absl::StrCat(name, " ", type, " ", shape.size(),
                      shape.empty() ? "" : " ", absl::StrJoin(shape, " "), " ",
                      absl::StrJoin(values, " "), "\n");
}

std::string F32(const std::string& name, const std::vector<float>& v,
                int64_t rows) {
  std::vector<std::string> text;
  for (float x : v) text.push_back(absl::StrFormat("%.9g", x));
  return Record(name, "f32", {rows, static_cast<int64_t>(v.size()) / rows},
                text);
}

std::string U8(const std::string& name, const std::vector<uint8_t>& v,
               int64_t rows) {
  std::vector<std::string> text;
  for (uint8_t x : v) text.push_back(absl::StrCat(x));
  return Record(name, "u8", {rows, static_cast<int64_t>(v.size()) / rows},
                text);
}

// Encodes `input` ([kNumInputs, kDim]) and decodes it again; appends the
// records `prefix`_codes, _side and _decoded.
absl::Status EncodeDecode(const Quantizer& q, const std::vector<float>& input,
                          const std::string& prefix, std::string& out) {
  const CodeLayout& l = q.layout();
  const int64_t blocks = kNumInputs / l.block_vectors;
  std::vector<uint8_t> codes(kNumInputs * l.code_bytes);
  std::vector<uint8_t> side(blocks * l.side_bytes);
  std::vector<float> decoded(kNumInputs * kDim);
  CVQ_RETURN_IF_ERROR(q.Encode(
      TensorView(input.data(), DType::kF32, {kNumInputs, kDim}),
      MutableTensorView(codes.data(), DType::kU8, {kNumInputs, l.code_bytes}),
      MutableTensorView(side.data(), DType::kU8, {blocks, l.side_bytes})));
  CVQ_RETURN_IF_ERROR(q.Decode(
      TensorView(codes.data(), DType::kU8, {kNumInputs, l.code_bytes}),
      TensorView(side.data(), DType::kU8, {blocks, l.side_bytes}),
      MutableTensorView(decoded.data(), DType::kF32, {kNumInputs, kDim})));
  absl::StrAppend(&out, U8(prefix + "_codes", codes, kNumInputs),
                  U8(prefix + "_side", side, blocks),
                  F32(prefix + "_decoded", decoded, kNumInputs));
  return absl::OkStatus();
}

absl::Status Run(const std::string& golden_path, const std::string& out_path) {
  Rng rng(2024);
  std::vector<float> input(kNumInputs * kDim), samples(kNumSamples * kDim);
  rng.FillNormal(absl::MakeSpan(input), 0.0f, 1.0f);
  rng.FillNormal(absl::MakeSpan(samples), 0.0f, 1.0f);

  std::string out = F32("input", input, kNumInputs);
  CVQ_ASSIGN_OR_RETURN(CodebookFile file, CodebookFile::Open(golden_path));
  CVQ_ASSIGN_OR_RETURN(auto golden, file.LoadQuantizer(kGoldenQuantizer));
  absl::StrAppend(&out, Record("golden_name", "str", {}, {kGoldenQuantizer}));
  CVQ_RETURN_IF_ERROR(EncodeDecode(*golden, input, "golden", out));

  TrainOptions options;
  options.seed = kTrainSeed;
  CVQ_ASSIGN_OR_RETURN(auto trained, QuantizerRegistry::Default().Train(
                                         kTrainSpec,
                                         TensorView(samples.data(), DType::kF32,
                                                    {kNumSamples, kDim}),
                                         options));
  CVQ_ASSIGN_OR_RETURN(const std::string bytes, trained->Serialize());
  absl::StrAppend(
      &out, F32("samples", samples, kNumSamples),
      Record("train_spec", "str", {}, {kTrainSpec}),
      Record("train_seed", "i64", {}, {absl::StrCat(kTrainSeed)}),
      Record("train_canonical_spec", "str", {}, {trained->spec()}),
      Record("train_serialized_size", "i64", {}, {absl::StrCat(bytes.size())}));
  CVQ_RETURN_IF_ERROR(EncodeDecode(*trained, input, "train", out));

  std::ofstream file_out(out_path);
  file_out << out;
  file_out.close();
  if (!file_out)
    return absl::InternalError(absl::StrCat("cannot write ", out_path));
  return absl::OkStatus();
}

}  // namespace
}  // namespace commvq

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: " << argv[0] << " GOLDEN_CODEBOOK OUT\n";
    return 2;
  }
  const absl::Status status = commvq::Run(argv[1], argv[2]);
  if (!status.ok()) {
    std::cerr << status << "\n";
    return 1;
  }
  return 0;
}
