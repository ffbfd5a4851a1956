#include "commvq/quantizer/commvq_key/commvq_key_quantizer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "commvq/base/bit_packing.h"
#include "commvq/base/byte_io.h"
#include "commvq/base/float16.h"
#include "commvq/base/random.h"
#include "commvq/base/status_macros.h"
#include "commvq/base/thread_pool.h"
#include "commvq/quantizer/commvq_key/hard_fit.h"
#include "commvq/quantizer/commvq_key/key_codebook.h"
#include "commvq/quantizer/commvq_key/structured_encode.h"
#include "commvq/quantizer/options.h"
#include "commvq/quantizer/quantizer_spec.h"
#include "commvq/quantizer/vector_norm.h"

namespace commvq {
namespace {

// Side data: the fp16 norm of the vector.
constexpr int64_t kNormBytes = 2;

// The payload header: num_kv_heads, head_dim, half_bits, stages, layout,
// each a u32.
constexpr int64_t kHeaderBytes = 5 * sizeof(uint32_t);

// Rounds of hard alternating least squares per codebook (hard_fit.h).
constexpr int kHardFitIterations = 5;

// Largest head_dim and automatic stage count accepted (real models use
// head_dim <= 256; the `stages` option allows up to 64).
constexpr int64_t kMaxHeadDim = 4096;
constexpr int64_t kMaxStages = 64;

// What the options and dim make of a quantizer: everything but the
// codebooks of KeyQuantizerParams.
absl::StatusOr<KeyQuantizerParams> MakeShape(const ResolvedOptions& options,
                                             int64_t dim) {
  const int64_t num_kv_heads = options.GetInt("num_kv_heads");
  if (dim < 1 || dim % num_kv_heads != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("commvq_key quantizer: dim ", dim,
                     " is not a positive multiple of num_kv_heads ",
                     num_kv_heads, ": expected a whole key of equal heads"));
  }
  KeyQuantizerParams params;
  params.num_kv_heads = num_kv_heads;
  params.shape.head_dim = dim / num_kv_heads;
  params.shape.half_bits = static_cast<int>(options.GetInt("half_bits"));
  params.shape.layout = options.GetString("layout") == "half"
                            ? PairLayout::kHalf
                            : PairLayout::kInterleaved;
  if (params.shape.head_dim % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "commvq_key quantizer: head_dim (dim ", dim, " / num_kv_heads ",
        num_kv_heads, ") is ", params.shape.head_dim,
        ": expected an even number, RoPE rotates channel pairs"));
  }
  // Bounds every size derived below (codebook bytes, packed code bits), so
  // a crafted serialized quantizer cannot make them overflow.
  if (params.shape.head_dim > kMaxHeadDim) {
    return absl::InvalidArgumentError(
        absl::StrCat("commvq_key quantizer: head_dim ", params.shape.head_dim,
                     " exceeds the supported maximum ", kMaxHeadDim));
  }
  const int64_t stages = options.GetInt("stages");
  // 0: about one code bit per element, 2h bits per stage, within the
  // option's own maximum.
  params.stages = static_cast<int>(
      stages != 0
          ? stages
          : std::clamp<int64_t>(
                std::llround(static_cast<double>(params.shape.head_dim) /
                             (2.0 * params.shape.half_bits)),
                1, kMaxStages));
  return params;
}

class CommvqKeyQuantizer final : public Quantizer {
 public:
  explicit CommvqKeyQuantizer(std::string spec, KeyQuantizerParams params)
      : Quantizer(std::move(spec),
                  CodeLayout{params.num_kv_heads * params.shape.head_dim,
                             num_codes(params) * 2 * params.shape.half_bits,
                             PackedBytes(num_codes(params),
                                         2 * params.shape.half_bits),
                             kNormBytes, 1}),
        params_(std::move(params)) {
    encoders_.reserve(params_.num_kv_heads);
    for (int64_t h = 0; h < params_.num_kv_heads; ++h) {
      encoders_.emplace_back(params_.head_codebooks(h));
    }
  }

  int64_t ParameterBytes() const override { return params_.codebook_bytes(); }

 protected:
  absl::Status EncodeBlocks(const float* x, int64_t num_vectors, uint8_t* codes,
                            uint8_t* side) const override {
    const int64_t head_dim = params_.shape.head_dim;
    std::vector<float> unit(dim());
    std::vector<uint16_t> q(num_codes(params_));
    for (int64_t v = 0; v < num_vectors; ++v) {
      CVQ_ASSIGN_OR_RETURN(
          const uint16_t norm_bits,
          NormalizeToUnit(x + v * dim(), dim(), unit.data(), "commvq_key",
                          absl::StrCat("vector ", v)));
      std::memcpy(side + v * kNormBytes, &norm_bits, kNormBytes);
      if (HalfBitsToFloat(norm_bits) == 0.0f) {
        std::fill(q.begin(), q.end(), 0);
      } else {
        for (int64_t h = 0; h < params_.num_kv_heads; ++h) {
          encoders_[h].Encode(unit.data() + h * head_dim,
                              &q[h * params_.stages]);
        }
      }
      CVQ_RETURN_IF_ERROR(
          PackCodes(q, 2 * params_.shape.half_bits,
                    absl::MakeSpan(codes + v * layout().code_bytes,
                                   layout().code_bytes)));
    }
    return absl::OkStatus();
  }

  absl::Status DecodeBlocks(const uint8_t* codes, const uint8_t* side,
                            int64_t num_vectors, float* out) const override {
    const int64_t head_dim = params_.shape.head_dim;
    const int half_bits = params_.shape.half_bits;
    std::vector<uint16_t> q(num_codes(params_));
    for (int64_t v = 0; v < num_vectors; ++v) {
      CVQ_RETURN_IF_ERROR(
          UnpackCodes(absl::MakeConstSpan(codes + v * layout().code_bytes,
                                          layout().code_bytes),
                      2 * half_bits, absl::MakeSpan(q)));
      float* row = out + v * dim();
      std::fill(row, row + dim(), 0.0f);
      for (int64_t h = 0; h < params_.num_kv_heads; ++h) {
        for (int s = 0; s < params_.stages; ++s) {
          const uint16_t code = q[h * params_.stages + s];
          params_.codebook(h, s).AddCentre(KeyCodeA(code, half_bits),
                                           KeyCodeB(code, half_bits),
                                           row + h * head_dim);
        }
      }
      ScaleByStoredNorm(side + v * kNormBytes, row, dim());
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> SerializePayload() const override {
    std::string payload;
    payload.reserve(kHeaderBytes + params_.codebook_bytes());
    ByteWriter writer(&payload);
    writer.Write(static_cast<uint32_t>(params_.num_kv_heads));
    writer.Write(static_cast<uint32_t>(params_.shape.head_dim));
    writer.Write(static_cast<uint32_t>(params_.shape.half_bits));
    writer.Write(static_cast<uint32_t>(params_.stages));
    writer.Write(static_cast<uint32_t>(params_.shape.layout));
    for (const KeyCodebook& codebook : params_.codebooks) {
      writer.WriteBytes(
          absl::string_view(reinterpret_cast<const char*>(codebook.z().data()),
                            codebook.z().size() * sizeof(float)));
    }
    return payload;
  }

 private:
  static int64_t num_codes(const KeyQuantizerParams& params) {
    return params.num_kv_heads * params.stages;
  }

  KeyQuantizerParams params_;
  // [num_kv_heads].
  std::vector<StructuredKeyEncoder> encoders_;
};

class CommvqKeyQuantizerFactory final : public QuantizerFactory {
 public:
  CommvqKeyQuantizerFactory() {
    description_.name = "commvq_key";
    description_.summary =
        "CommVQ keys: RoPE-commutative residual VQ per KV head of x / ||x|| "
        "(fp16 norm), 2 * half_bits bits per stage, exact structured search";
    description_.options = {
        {"num_kv_heads",
         OptionType::kInt,
         "1",
         "KV heads per input vector; head_dim = dim / num_kv_heads, even",
         1,
         65536,
         {}},
        {"layout",
         OptionType::kString,
         "interleaved",
         "RoPE channel pairs: half = (j, j + head_dim/2), interleaved = "
         "(2j, 2j + 1)",
         0,
         0,
         {"half", "interleaved"}},
        {"half_bits",
         OptionType::kInt,
         "6",
         "bits per code half: 2^half_bits complex values per pair",
         1,
         kMaxKeyHalfBits,
         {}},
        {"stages",
         OptionType::kInt,
         "0",
         "residual stages per head; 0 = round(head_dim / (2 half_bits)), "
         "about 1 code bit per element",
         0,
         64,
         {}},
    };
    // ~1 bit (5 stages at head_dim 64) and ~1 bit over two heads of 32 in
    // the half layout (4 stages of 8 bits).
    description_.example_specs = {
        "commvq_key:num_kv_heads=1,half_bits=6",
        "commvq_key:num_kv_heads=2,layout=half,half_bits=4"};
  }

  const QuantizerDescription& description() const override {
    return description_;
  }

  absl::StatusOr<std::unique_ptr<Quantizer>> Train(
      const ResolvedOptions& options, const TensorView& samples,
      const TrainOptions& train) const override {
    CVQ_ASSIGN_OR_RETURN(KeyQuantizerParams params,
                         MakeShape(options, samples.dim(1)));
    const int64_t n = samples.dim(0);
    if (n < 1) {
      return absl::InvalidArgumentError(
          "commvq_key quantizer: no training samples: expected at least 1");
    }
    const int64_t dim = samples.dim(1);
    const int64_t head_dim = params.shape.head_dim;
    const float* x = samples.span<float>().data();
    std::vector<float> units(n * dim);
    for (int64_t i = 0; i < n; ++i) {
      CVQ_RETURN_IF_ERROR(NormalizeToUnit(x + i * dim, dim, &units[i * dim],
                                          "commvq_key",
                                          absl::StrCat("training sample ", i))
                              .status());
    }

    const Rng root(train.seed);
    const int64_t total = params.num_kv_heads * params.stages;
    params.codebooks.reserve(total);
    // residual: [n, head_dim] of one head; heads are independent.
    std::vector<float> residual(n * head_dim);
    for (int64_t h = 0; h < params.num_kv_heads; ++h) {
      for (int64_t i = 0; i < n; ++i) {
        std::memcpy(&residual[i * head_dim], &units[i * dim + h * head_dim],
                    head_dim * sizeof(float));
      }
      for (int s = 0; s < params.stages; ++s) {
        // A stream per codebook, so each is independent of the others.
        Rng rng = root.Fork(h * params.stages + s);
        CVQ_ASSIGN_OR_RETURN(KeyCodebook codebook,
                             HardFitKeyCodebook(params.shape, residual.data(),
                                                n, kHardFitIterations, &rng));
        SubtractNearestCentres(codebook, residual.data(), n, train.pool);
        params.codebooks.push_back(std::move(codebook));
        if (train.progress) {
          train.progress(static_cast<double>(params.codebooks.size()) /
                         static_cast<double>(total));
        }
      }
    }
    return Make(options, std::move(params));
  }

  absl::StatusOr<std::unique_ptr<Quantizer>> Deserialize(
      const ResolvedOptions& options, int64_t dim,
      absl::string_view payload) const override {
    CVQ_ASSIGN_OR_RETURN(KeyQuantizerParams params, MakeShape(options, dim));
    ByteReader reader(payload, "commvq_key quantizer payload");
    // MakeShape bounded head_dim and stages, so codebook_bytes() fits int64;
    // the header must then repeat the shape the options and dim give.
    CVQ_RETURN_IF_ERROR(reader.ExpectU32("num_kv_heads", params.num_kv_heads));
    CVQ_RETURN_IF_ERROR(reader.ExpectU32("head_dim", params.shape.head_dim));
    CVQ_RETURN_IF_ERROR(reader.ExpectU32("half_bits", params.shape.half_bits));
    CVQ_RETURN_IF_ERROR(reader.ExpectU32("stages", params.stages));
    CVQ_RETURN_IF_ERROR(
        reader.ExpectU32("layout", static_cast<int64_t>(params.shape.layout)));
    if (static_cast<int64_t>(reader.remaining()) != params.codebook_bytes()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "commvq_key quantizer: payload has ", reader.remaining(),
          " bytes of codebooks: expected ", params.codebook_bytes(), " (",
          params.num_kv_heads * params.stages, " codebooks of ",
          params.shape.num_floats(), " f32)"));
    }
    CVQ_ASSIGN_OR_RETURN(
        const absl::string_view bytes,
        reader.ReadBytes(params.codebook_bytes(), "codebooks"));
    std::vector<float> z(params.codebook_bytes() / sizeof(float));
    std::memcpy(z.data(), bytes.data(), bytes.size());
    absl::StatusOr<KeyQuantizerParams> read = KeyQuantizerParamsFromZ(
        params.num_kv_heads, params.stages, params.shape, z);
    if (!read.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "commvq_key quantizer: ", read.status().message()));
    }
    return Make(options, *std::move(read));
  }

 private:
  static std::unique_ptr<Quantizer> Make(const ResolvedOptions& options,
                                         KeyQuantizerParams params) {
    return std::make_unique<CommvqKeyQuantizer>(options.canonical_spec(),
                                                std::move(params));
  }

  QuantizerDescription description_;
};

}  // namespace

std::unique_ptr<QuantizerFactory> MakeCommvqKeyQuantizerFactory() {
  return std::make_unique<CommvqKeyQuantizerFactory>();
}

absl::StatusOr<std::unique_ptr<Quantizer>> MakeCommvqKeyQuantizer(
    absl::string_view spec, int64_t dim, KeyQuantizerParams params) {
  CVQ_ASSIGN_OR_RETURN(const QuantizerSpec parsed, ParseQuantizerSpec(spec));
  const CommvqKeyQuantizerFactory factory;
  if (parsed.name != factory.description().name) {
    return absl::InvalidArgumentError(
        absl::StrCat("commvq_key quantizer: spec '", spec, "' names '",
                     parsed.name, "': expected 'commvq_key'"));
  }
  CVQ_ASSIGN_OR_RETURN(
      const ResolvedOptions options,
      ResolveOptions(factory.description().options, parsed));
  CVQ_ASSIGN_OR_RETURN(const KeyQuantizerParams expected,
                       MakeShape(options, dim));
  const auto mismatch = [&](absl::string_view what, int64_t got,
                            int64_t want) {
    return absl::InvalidArgumentError(absl::StrCat(
        "commvq_key quantizer: params ", what, " is ", got, ": expected ",
        want, " for spec '", options.canonical_spec(), "' and dim ", dim));
  };
  if (params.num_kv_heads != expected.num_kv_heads) {
    return mismatch("num_kv_heads", params.num_kv_heads,
                    expected.num_kv_heads);
  }
  if (params.stages != expected.stages) {
    return mismatch("stages", params.stages, expected.stages);
  }
  if (params.shape.head_dim != expected.shape.head_dim) {
    return mismatch("head_dim", params.shape.head_dim,
                    expected.shape.head_dim);
  }
  if (params.shape.half_bits != expected.shape.half_bits) {
    return mismatch("half_bits", params.shape.half_bits,
                    expected.shape.half_bits);
  }
  if (params.shape.layout != expected.shape.layout) {
    return mismatch("layout", static_cast<int64_t>(params.shape.layout),
                    static_cast<int64_t>(expected.shape.layout));
  }
  const int64_t total = expected.num_kv_heads * expected.stages;
  if (static_cast<int64_t>(params.codebooks.size()) != total) {
    return mismatch("codebook count",
                    static_cast<int64_t>(params.codebooks.size()), total);
  }
  for (int64_t k = 0; k < total; ++k) {
    const KeyCodebookShape& shape = params.codebooks[k].shape();
    if (shape.head_dim != expected.shape.head_dim ||
        shape.half_bits != expected.shape.half_bits ||
        shape.layout != expected.shape.layout ||
        static_cast<int64_t>(params.codebooks[k].z().size()) !=
            expected.shape.num_floats()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "commvq_key quantizer: codebook of head ", k / expected.stages,
          ", stage ", k % expected.stages, " has head_dim ", shape.head_dim,
          ", half_bits ", shape.half_bits, ", layout ",
          PairLayoutName(shape.layout), ": expected head_dim ",
          expected.shape.head_dim, ", half_bits ", expected.shape.half_bits,
          ", layout ", PairLayoutName(expected.shape.layout)));
    }
  }
  return std::unique_ptr<Quantizer>(std::make_unique<CommvqKeyQuantizer>(
      options.canonical_spec(), std::move(params)));
}

}  // namespace commvq
