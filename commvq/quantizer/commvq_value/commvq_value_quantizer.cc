#include "commvq/quantizer/commvq_value/commvq_value_quantizer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "commvq/base/byte_io.h"
#include "commvq/base/status_macros.h"
#include "commvq/quantizer/commvq_value/codebook_fit.h"
#include "commvq/quantizer/commvq_value/mlp_encode.h"
#include "commvq/quantizer/commvq_value/search_encode.h"
#include "commvq/quantizer/options.h"
#include "commvq/quantizer/quantizer_spec.h"

namespace commvq {
namespace {

constexpr absl::string_view kName = "commvq_value";
// Side data: the f32 factor f.
constexpr int64_t kFactorBytes = 4;
// Vectors prescaled and encoded at a time by EncodeBlocks.
constexpr int64_t kEncodeSlice = 256;
// Bounds every size derived from a (possibly crafted) payload.
constexpr int64_t kMaxDim = 65536;
constexpr int64_t kMaxCodeBits = 65536;
constexpr int64_t kMaxHidden = 65536;

// What the options and dim make of a quantizer: the shape fields of
// ValueQuantizerParams.
absl::StatusOr<ValueQuantizerParams> MakeShape(const ResolvedOptions& options,
                                               int64_t dim) {
  const int64_t heads = options.GetInt("num_kv_heads");
  if (dim < 1 || dim > kMaxDim || dim % heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "commvq_value quantizer: dim ", dim,
        " is not a positive multiple of num_kv_heads ", heads, " up to ",
        kMaxDim, ": expected the values of whole KV heads"));
  }
  ValueQuantizerParams params;
  params.dim = dim;
  params.num_kv_heads = heads;
  const int64_t code_bits = options.GetInt("code_bits");
  if (code_bits == 0) {
    const int64_t nc = options.GetInt("bits") * dim;
    params.num_code_bits = nc + nc % 2;
  } else if (code_bits % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("commvq_value quantizer: code_bits is ", code_bits,
                     ": expected an even number (bits pair into groups)"));
  } else {
    params.num_code_bits = code_bits;
  }
  return params;
}

bool AllFinite(const std::vector<float>& v) {
  return std::all_of(v.begin(), v.end(),
                     [](float x) { return std::isfinite(x); });
}

// InvalidArgument unless `params` has the shape `expected` and valid values;
// `mlp` says whether encoder weights must be present.
absl::Status CheckParams(const ValueQuantizerParams& params,
                         const ValueQuantizerParams& expected, bool mlp) {
  const auto mismatch = [](absl::string_view what, int64_t got, int64_t want) {
    return absl::InvalidArgumentError(absl::StrCat(
        "commvq_value quantizer: ", what, " is ", got, ": expected ", want));
  };
  if (params.dim != expected.dim)
    return mismatch("dim", params.dim, expected.dim);
  if (params.num_kv_heads != expected.num_kv_heads) {
    return mismatch("num_kv_heads", params.num_kv_heads, expected.num_kv_heads);
  }
  if (params.num_code_bits != expected.num_code_bits) {
    return mismatch("num_code_bits", params.num_code_bits,
                    expected.num_code_bits);
  }
  const int64_t d = params.dim;
  const int64_t nc = params.num_code_bits;
  const auto size = [&](absl::string_view what, const std::vector<float>& v,
                        int64_t want) -> absl::Status {
    if (static_cast<int64_t>(v.size()) != want) {
      return mismatch(absl::StrCat(what, " size"),
                      static_cast<int64_t>(v.size()), want);
    }
    if (!AllFinite(v)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "commvq_value quantizer: ", what, " has a NaN or Inf element"));
    }
    return absl::OkStatus();
  };
  CVQ_RETURN_IF_ERROR(size("codebook", params.codebook, nc * d));
  CVQ_RETURN_IF_ERROR(size("channel_scale", params.channel_scale, d));
  for (int64_t c = 0; c < d; ++c) {
    if (!(params.channel_scale[c] > 0.0f)) {
      return absl::InvalidArgumentError(
          absl::StrCat("commvq_value quantizer: channel_scale[", c, "] is ",
                       params.channel_scale[c], ": expected > 0"));
    }
  }
  const ValueEncoderWeights& e = params.encoder;
  if (mlp != (e.hidden > 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "commvq_value quantizer: encoder hidden width is ", e.hidden,
        mlp ? ": expected > 0 for encoder=mlp"
            : ": expected 0 (no weights) for encoder=search"));
  }
  if (e.hidden < 0 || e.hidden > kMaxHidden) {
    return mismatch("encoder hidden width", e.hidden, kMaxHidden);
  }
  if (!mlp) return absl::OkStatus();
  CVQ_RETURN_IF_ERROR(size("ln_gamma", e.ln_gamma, d));
  CVQ_RETURN_IF_ERROR(size("ln_beta", e.ln_beta, d));
  CVQ_RETURN_IF_ERROR(size("w1", e.w1, e.hidden * d));
  CVQ_RETURN_IF_ERROR(size("b1", e.b1, e.hidden));
  CVQ_RETURN_IF_ERROR(size("w2", e.w2, 2 * nc * e.hidden));
  return size("b2", e.b2, 2 * nc);
}

// The f32 tensors of the payload after the header, in order (P is
// ValueQuantizerParams, const or not).
template <typename P>
auto PayloadTensors(P& p) {
  std::vector<decltype(&p.codebook)> tensors = {&p.channel_scale, &p.codebook};
  if (p.encoder.hidden > 0) {
    auto& e = p.encoder;
    tensors.insert(tensors.end(),
                   {&e.ln_gamma, &e.ln_beta, &e.w1, &e.b1, &e.w2, &e.b2});
  }
  return tensors;
}

}  // namespace

std::vector<float> SearchWeights(const std::vector<float>& channel_scale) {
  std::vector<float> weights(channel_scale.size());
  for (size_t c = 0; c < weights.size(); ++c) {
    weights[c] = channel_scale[c] * channel_scale[c];
  }
  return weights;
}

namespace {

class CommvqValueQuantizer final : public Quantizer {
 public:
  CommvqValueQuantizer(std::string spec, ValueQuantizerParams params,
                       ValueSearchOptions search)
      : Quantizer(std::move(spec),
                  CodeLayout{params.dim, params.num_code_bits,
                             params.code_bytes(), kFactorBytes, 1}),
        params_(std::move(params)),
        search_options_(search) {
    if (params_.encoder.hidden == 0) {
      const std::vector<float> weights = SearchWeights(params_.channel_scale);
      search_.emplace(params_.codebook.data(), params_.num_code_bits,
                      params_.dim, search, weights.data());
    }
  }

  const ValueQuantizerParams& params() const { return params_; }
  const ValueSearchOptions& search_options() const { return search_options_; }

  int64_t ParameterBytes() const override {
    int64_t floats = 0;
    for (const std::vector<float>* t : PayloadTensors(params_)) {
      floats += static_cast<int64_t>(t->size());
    }
    return floats * static_cast<int64_t>(sizeof(float));
  }

 protected:
  absl::Status EncodeBlocks(const float* x, int64_t num_vectors, uint8_t* codes,
                            uint8_t* side) const override {
    const int64_t d = params_.dim;
    const int64_t nc = params_.num_code_bits;
    // Vectors are prescaled to unit rows a slice at a time, so the search
    // encodes them in blocks (search_encode.h) with bounded extra memory;
    // zero vectors get zero bits.
    const int64_t slice = std::min(num_vectors, kEncodeSlice);
    std::vector<float> units(slice * d), y(d);
    std::vector<double> prescale(slice);
    std::vector<uint8_t> bits(slice * nc);
    ValueSearchEncoder::Scratch search_scratch;
    std::vector<float> logits(search_ ? 0 : 2 * nc);
    std::vector<float> scratch(search_ ? 0 : d + params_.encoder.hidden);
    for (int64_t first = 0; first < num_vectors; first += kEncodeSlice) {
      const int64_t count = std::min(kEncodeSlice, num_vectors - first);
      for (int64_t v = 0; v < count; ++v) {
        prescale[v] =
            PrescaleToUnit(x + (first + v) * d, params_.channel_scale.data(), d,
                           &units[v * d]);
      }
      if (search_) {
        search_->EncodeRows(units.data(), count, bits.data(), nullptr,
                            &search_scratch);
      } else {
        for (int64_t v = 0; v < count; ++v) {
          ValueMlpLogits(params_.encoder, d, nc, &units[v * d], logits.data(),
                         scratch.data());
          CategoriesToBits(logits.data(), nc / 2, &bits[v * nc]);
        }
      }
      for (int64_t v = 0; v < count; ++v) {
        uint8_t* row = &bits[v * nc];
        const double p = prescale[v];
        float factor = 0.0f;
        if (p == 0.0) {
          std::fill(row, row + nc, 0);
        } else {
          const double norm = SumRows(row, y.data());
          factor = norm > 0.0 ? static_cast<float>(p / norm) : 0.0f;
          if (!std::isfinite(factor)) {
            return absl::InvalidArgumentError(absl::StrCat(
                "commvq_value quantizer: vector ", first + v,
                " has scaled norm ", p, ", too large for the f32 factor"));
          }
        }
        PackValueCodeBits(row, nc, codes + (first + v) * layout().code_bytes);
        std::memcpy(side + (first + v) * kFactorBytes, &factor, kFactorBytes);
      }
    }
    return absl::OkStatus();
  }

  absl::Status DecodeBlocks(const uint8_t* codes, const uint8_t* side,
                            int64_t num_vectors, float* out) const override {
    const int64_t d = params_.dim;
    const int64_t nc = params_.num_code_bits;
    std::vector<uint8_t> bits(nc);
    for (int64_t v = 0; v < num_vectors; ++v) {
      float factor;
      std::memcpy(&factor, side + v * kFactorBytes, kFactorBytes);
      if (!std::isfinite(factor) || factor < 0.0f) {
        return absl::InvalidArgumentError(
            absl::StrCat("commvq_value quantizer: side factor of vector ", v,
                         " is ", factor, ": expected a finite f >= 0"));
      }
      const uint8_t* packed = codes + v * layout().code_bytes;
      for (int64_t i = 0; i < nc; ++i) bits[i] = ValueCodeBit(packed, i);
      float* row = out + v * d;
      SumRows(bits.data(), row);
      for (int64_t c = 0; c < d; ++c) {
        row[c] *= params_.channel_scale[c] * factor;
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> SerializePayload() const override {
    std::string payload;
    ByteWriter writer(&payload);
    writer.Write(static_cast<uint32_t>(params_.num_kv_heads));
    writer.Write(static_cast<uint32_t>(params_.num_code_bits));
    writer.Write(static_cast<uint32_t>(params_.encoder.hidden));
    for (const std::vector<float>* t : PayloadTensors(params_)) {
      writer.WriteBytes(absl::string_view(
          reinterpret_cast<const char*>(t->data()), t->size() * sizeof(float)));
    }
    return payload;
  }

 private:
  // y = s C ([dim]); returns ||y||.
  double SumRows(const uint8_t* bits, float* y) const {
    const int64_t d = params_.dim;
    std::fill(y, y + d, 0.0f);
    for (int64_t i = 0; i < params_.num_code_bits; ++i) {
      if (!bits[i]) continue;
      const float* row = &params_.codebook[i * d];
      for (int64_t c = 0; c < d; ++c) y[c] += row[c];
    }
    double norm2 = 0.0;
    for (int64_t c = 0; c < d; ++c) norm2 += double{y[c]} * y[c];
    return std::sqrt(norm2);
  }

  ValueQuantizerParams params_;
  ValueSearchOptions search_options_;
  // Set for encoder=search (no encoder weights).
  std::optional<ValueSearchEncoder> search_;
};

ValueSearchOptions SearchOptions(const ResolvedOptions& options) {
  ValueSearchOptions search;
  search.sweeps = static_cast<int>(options.GetInt("sweeps"));
  search.restarts = static_cast<int>(options.GetInt("restarts"));
  search.relaxed_start = options.GetBool("relaxed_start");
  return search;
}

class CommvqValueQuantizerFactory final : public QuantizerFactory {
 public:
  CommvqValueQuantizerFactory() {
    description_.name = std::string(kName);
    description_.summary =
        "CommVQ values: additive binary codes s.C of x / scale / ||.|| "
        "(f32 factor per token, decoding linear in the bits), search or "
        "mlp encoder";
    description_.options = {
        {"num_kv_heads",
         OptionType::kInt,
         "1",
         "KV heads per input vector (head slices of dim)",
         1,
         65536,
         {}},
        {"bits",
         OptionType::kInt,
         "1",
         "code bits per element: Nc = bits * dim (rounded up to even)",
         1,
         2,
         {}},
        {"code_bits",
         OptionType::kInt,
         "0",
         "Nc, even; 0 = from bits",
         0,
         static_cast<double>(kMaxCodeBits),
         {}},
        {"encoder",
         OptionType::kString,
         "search",
         "search: local search on ||x - sC||^2; mlp: the light network "
         "(trained by commvq train-values)",
         0,
         0,
         {"search", "mlp"}},
        {"sweeps",
         OptionType::kInt,
         "16",
         "search sweeps over the groups",
         1,
         64,
         {}},
        {"relaxed_start",
         OptionType::kBool,
         "true",
         "search from the rounded least-squares solution (else from 0)",
         0,
         0,
         {}},
        {"restarts",
         OptionType::kInt,
         "0",
         "extra random starts of the search",
         0,
         16,
         {}},
        {"iterations",
         OptionType::kInt,
         "6",
         "training rounds of least squares and search",
         1,
         1000,
         {}},
    };
    description_.example_specs = {"commvq_value:bits=1",
                                  "commvq_value:num_kv_heads=2,bits=2"};
  }

  const QuantizerDescription& description() const override {
    return description_;
  }

  absl::StatusOr<std::unique_ptr<Quantizer>> Train(
      const ResolvedOptions& options, const TensorView& samples,
      const TrainOptions& train) const override {
    const int64_t dim = samples.dim(1);
    CVQ_ASSIGN_OR_RETURN(ValueQuantizerParams params, MakeShape(options, dim));
    if (options.GetString("encoder") != "search") {
      return absl::InvalidArgumentError(
          "commvq_value quantizer: the registry trains encoder=search only: "
          "expected encoder=search (train an mlp encoder with commvq "
          "train-values)");
    }
    const int64_t n = samples.dim(0);
    const float* x = samples.span<float>().data();
    params.channel_scale = ValueChannelScale(x, n, dim);
    std::vector<float> units;
    units.reserve(n * dim);
    std::vector<float> unit(dim);
    for (int64_t i = 0; i < n; ++i) {
      if (PrescaleToUnit(x + i * dim, params.channel_scale.data(), dim,
                         unit.data()) == 0.0) {
        continue;
      }
      units.insert(units.end(), unit.begin(), unit.end());
    }
    const int64_t rows = static_cast<int64_t>(units.size()) / dim;
    if (rows < 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "commvq_value quantizer: ", n,
          " training samples, none non-zero: expected at least 1"));
    }
    ValueCodebookTrainOptions fit;
    fit.iterations = static_cast<int>(options.GetInt("iterations"));
    fit.search = SearchOptions(options);
    fit.channel_weights = SearchWeights(params.channel_scale);
    fit.seed = train.seed;
    fit.pool = train.pool;
    fit.progress = train.progress;
    CVQ_ASSIGN_OR_RETURN(ValueCodebookTrainResult result,
                         TrainValueCodebookBySearch(units.data(), rows, dim,
                                                    params.num_code_bits, fit));
    params.codebook = std::move(result.codebook);
    return Make(options, std::move(params));
  }

  absl::StatusOr<std::unique_ptr<Quantizer>> Deserialize(
      const ResolvedOptions& options, int64_t dim,
      absl::string_view payload) const override {
    CVQ_ASSIGN_OR_RETURN(ValueQuantizerParams params, MakeShape(options, dim));
    ByteReader reader(payload, "commvq_value quantizer payload");
    CVQ_RETURN_IF_ERROR(reader.ExpectU32("num_kv_heads", params.num_kv_heads));
    CVQ_RETURN_IF_ERROR(
        reader.ExpectU32("num_code_bits", params.num_code_bits));
    CVQ_ASSIGN_OR_RETURN(const uint32_t hidden,
                         reader.Read<uint32_t>("hidden"));
    if (hidden > kMaxHidden) {
      return absl::InvalidArgumentError(
          absl::StrCat("commvq_value quantizer payload: hidden is ", hidden,
                       ": expected at most ", kMaxHidden));
    }
    const int64_t d = dim;
    const int64_t nc = params.num_code_bits;
    const int64_t h = hidden;
    // Checked before allocating: sizes are bounded, so this cannot overflow.
    const int64_t floats =
        d + nc * d + (h > 0 ? 2 * d + h * d + h + 2 * nc * h + 2 * nc : 0);
    if (static_cast<int64_t>(reader.remaining()) != floats * 4) {
      return absl::InvalidArgumentError(
          absl::StrCat("commvq_value quantizer payload: ", reader.remaining(),
                       " bytes of tensors: expected ", floats * 4, " (dim ", d,
                       ", ", nc, " code bits, hidden ", h, ")"));
    }
    ValueEncoderWeights& e = params.encoder;
    e.hidden = h;
    params.channel_scale.resize(d);
    params.codebook.resize(nc * d);
    if (h > 0) {
      e.ln_gamma.resize(d);
      e.ln_beta.resize(d);
      e.w1.resize(h * d);
      e.b1.resize(h);
      e.w2.resize(2 * nc * h);
      e.b2.resize(2 * nc);
    }
    for (std::vector<float>* t : PayloadTensors(params)) {
      CVQ_ASSIGN_OR_RETURN(const absl::string_view bytes,
                           reader.ReadBytes(t->size() * 4, "tensor"));
      std::memcpy(t->data(), bytes.data(), bytes.size());
    }
    CVQ_ASSIGN_OR_RETURN(const ValueQuantizerParams shape,
                         MakeShape(options, dim));
    CVQ_RETURN_IF_ERROR(
        CheckParams(params, shape, options.GetString("encoder") == "mlp"));
    return Make(options, std::move(params));
  }

  static std::unique_ptr<Quantizer> Make(const ResolvedOptions& options,
                                         ValueQuantizerParams params) {
    return std::make_unique<CommvqValueQuantizer>(
        options.canonical_spec(), std::move(params), SearchOptions(options));
  }

 private:
  QuantizerDescription description_;
};

}  // namespace

std::unique_ptr<QuantizerFactory> MakeCommvqValueQuantizerFactory() {
  return std::make_unique<CommvqValueQuantizerFactory>();
}

std::string CommvqValueSpec(int64_t num_kv_heads, int bits,
                            absl::string_view encoder) {
  return absl::StrCat(kName, ":num_kv_heads=", num_kv_heads, ",bits=", bits,
                      ",encoder=", encoder);
}

absl::StatusOr<std::unique_ptr<Quantizer>> MakeCommvqValueQuantizer(
    absl::string_view spec, int64_t dim, ValueQuantizerParams params) {
  CVQ_ASSIGN_OR_RETURN(const QuantizerSpec parsed, ParseQuantizerSpec(spec));
  const CommvqValueQuantizerFactory factory;
  if (parsed.name != kName) {
    return absl::InvalidArgumentError(
        absl::StrCat("commvq_value quantizer: spec '", spec, "' names '",
                     parsed.name, "': expected 'commvq_value'"));
  }
  CVQ_ASSIGN_OR_RETURN(const ResolvedOptions options,
                       ResolveOptions(factory.description().options, parsed));
  CVQ_ASSIGN_OR_RETURN(const ValueQuantizerParams shape,
                       MakeShape(options, dim));
  CVQ_RETURN_IF_ERROR(
      CheckParams(params, shape, options.GetString("encoder") == "mlp"));
  return CommvqValueQuantizerFactory::Make(options, std::move(params));
}

const ValueQuantizerParams* CommvqValueParams(const Quantizer& quantizer) {
  const auto* value = dynamic_cast<const CommvqValueQuantizer*>(&quantizer);
  return value == nullptr ? nullptr : &value->params();
}

const ValueSearchOptions* CommvqValueSearchOptions(const Quantizer& quantizer) {
  const auto* value = dynamic_cast<const CommvqValueQuantizer*>(&quantizer);
  return value == nullptr ? nullptr : &value->search_options();
}

}  // namespace commvq
