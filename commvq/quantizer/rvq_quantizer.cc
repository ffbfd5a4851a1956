#include "commvq/quantizer/rvq_quantizer.h"

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
#include "commvq/quantizer/kmeans.h"
#include "commvq/quantizer/vector_norm.h"

namespace commvq {
namespace {

// Side data with normalize=true: the fp16 norm of the vector.
constexpr int64_t kNormBytes = 2;

// The payload header: stages, bits, subvector, dim, each a u32.
constexpr int64_t kHeaderBytes = 4 * sizeof(uint32_t);

// What the options and dim make of a quantizer.
struct RvqShape {
  int64_t dim = 0;
  int64_t chunk_dim = 0;  // the resolved `subvector`
  int64_t num_chunks = 0;
  int stages = 0;
  int bits = 0;
  bool normalize = false;

  int64_t codebook_size() const { return int64_t{1} << bits; }
  int64_t num_codebooks() const { return num_chunks * stages; }
  int64_t codebook_floats() const { return codebook_size() * chunk_dim; }
  int64_t codebook_bytes() const {
    return num_codebooks() * codebook_floats() *
           static_cast<int64_t>(sizeof(float));
  }
};

absl::StatusOr<RvqShape> MakeShape(const ResolvedOptions& options,
                                   int64_t dim) {
  if (dim < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("rvq quantizer: dim is ", dim, ": expected at least 1"));
  }
  const int64_t subvector = options.GetInt("subvector");
  const int64_t chunk_dim = subvector == 0 ? dim : subvector;
  if (dim % chunk_dim != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rvq quantizer: subvector ", subvector, " does not divide dim ", dim));
  }
  RvqShape shape;
  shape.dim = dim;
  shape.chunk_dim = chunk_dim;
  shape.num_chunks = dim / chunk_dim;
  shape.stages = static_cast<int>(options.GetInt("stages"));
  shape.bits = static_cast<int>(options.GetInt("bits"));
  shape.normalize = options.GetBool("normalize");
  return shape;
}

// residual ([codebook.dim()]) -= codeword `index` of `codebook`: what the
// next stage quantizes, in training and encoding alike.
void SubtractCodeword(const Codebook& codebook, int64_t index,
                      float* residual) {
  const float* codeword = codebook.centroid(index);
  for (int64_t j = 0; j < codebook.dim(); ++j) residual[j] -= codeword[j];
}

class RvqQuantizer final : public Quantizer {
 public:
  // codebooks: [shape.num_codebooks()], the one of chunk c and stage s at
  // c * stages + s, each of shape.codebook_size() codewords of chunk_dim.
  RvqQuantizer(std::string spec, const RvqShape& shape,
               std::vector<Codebook> codebooks)
      : Quantizer(std::move(spec),
                  CodeLayout{shape.dim, shape.num_codebooks() * shape.bits,
                             PackedBytes(shape.num_codebooks(), shape.bits),
                             shape.normalize ? kNormBytes : 0, 1}),
        shape_(shape),
        codebooks_(std::move(codebooks)) {}

  int64_t ParameterBytes() const override { return shape_.codebook_bytes(); }

 protected:
  absl::Status EncodeBlocks(const float* x, int64_t num_vectors, uint8_t* codes,
                            uint8_t* side) const override {
    std::vector<float> unit(dim());
    std::vector<float> residual(shape_.chunk_dim);
    std::vector<uint16_t> q(shape_.num_codebooks());
    for (int64_t v = 0; v < num_vectors; ++v) {
      const float* row = x + v * dim();
      if (shape_.normalize) {
        CVQ_ASSIGN_OR_RETURN(const uint16_t norm_bits,
                             NormalizeToUnit(row, dim(), unit.data(), "rvq",
                                             absl::StrCat("vector ", v)));
        std::memcpy(side + v * kNormBytes, &norm_bits, kNormBytes);
        row = unit.data();
      }
      for (int64_t c = 0; c < shape_.num_chunks; ++c) {
        std::memcpy(residual.data(), row + c * shape_.chunk_dim,
                    shape_.chunk_dim * sizeof(float));
        for (int s = 0; s < shape_.stages; ++s) {
          const int64_t k = c * shape_.stages + s;
          const int64_t index = codebooks_[k].Nearest(residual.data());
          q[k] = static_cast<uint16_t>(index);
          SubtractCodeword(codebooks_[k], index, residual.data());
        }
      }
      CVQ_RETURN_IF_ERROR(
          PackCodes(q, shape_.bits,
                    absl::MakeSpan(codes + v * layout().code_bytes,
                                   layout().code_bytes)));
    }
    return absl::OkStatus();
  }

  absl::Status DecodeBlocks(const uint8_t* codes, const uint8_t* side,
                            int64_t num_vectors, float* out) const override {
    std::vector<uint16_t> q(shape_.num_codebooks());
    for (int64_t v = 0; v < num_vectors; ++v) {
      CVQ_RETURN_IF_ERROR(
          UnpackCodes(absl::MakeConstSpan(codes + v * layout().code_bytes,
                                          layout().code_bytes),
                      shape_.bits, absl::MakeSpan(q)));
      float* row = out + v * dim();
      std::fill(row, row + dim(), 0.0f);
      for (int64_t c = 0; c < shape_.num_chunks; ++c) {
        float* chunk = row + c * shape_.chunk_dim;
        for (int s = 0; s < shape_.stages; ++s) {
          const int64_t k = c * shape_.stages + s;
          const float* codeword = codebooks_[k].centroid(q[k]);
          for (int64_t j = 0; j < shape_.chunk_dim; ++j) {
            chunk[j] += codeword[j];
          }
        }
      }
      if (shape_.normalize) ScaleByStoredNorm(side + v * kNormBytes, row, dim());
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> SerializePayload() const override {
    std::string payload;
    payload.reserve(kHeaderBytes + shape_.codebook_bytes());
    ByteWriter writer(&payload);
    writer.Write(static_cast<uint32_t>(shape_.stages));
    writer.Write(static_cast<uint32_t>(shape_.bits));
    writer.Write(static_cast<uint32_t>(shape_.chunk_dim));
    writer.Write(static_cast<uint32_t>(shape_.dim));
    for (const Codebook& codebook : codebooks_) {
      const std::vector<float>& centroids = codebook.centroids();
      writer.WriteBytes(
          absl::string_view(reinterpret_cast<const char*>(centroids.data()),
                            centroids.size() * sizeof(float)));
    }
    return payload;
  }

 private:
  RvqShape shape_;
  std::vector<Codebook> codebooks_;
};

class RvqQuantizerFactory final : public QuantizerFactory {
 public:
  RvqQuantizerFactory() {
    description_.name = "rvq";
    description_.summary =
        "residual vector quantization, a k-means codebook per stage (the "
        "VQLLM baseline); optionally of x / ||x|| with an fp16 norm";
    description_.options = {
        {"stages",
         OptionType::kInt,
         "4",
         "residual stages, each with its own codebook",
         1,
         64,
         {}},
        {"bits",
         OptionType::kInt,
         "8",
         "code bits per stage: 2^bits codewords per codebook",
         1,
         12,
         {}},
        {"subvector",
         OptionType::kInt,
         "0",
         "elements per independently quantized chunk of a vector; must "
         "divide dim; 0 = the whole vector",
         0,
         65536,
         {}},
        {"iterations",
         OptionType::kInt,
         "20",
         "k-means (Lloyd) iterations per codebook at most",
         0,
         1000,
         {}},
        {"normalize",
         OptionType::kBool,
         "true",
         "quantize x / ||x|| and store ||x|| as fp16 side data per vector",
         0,
         1,
         {}},
    };
    // About 1 and 2 code bits per element plus 16 / dim for the norm.
    description_.example_specs = {"rvq:stages=1,bits=8,subvector=8",
                                  "rvq:stages=2,bits=8,subvector=8"};
  }

  const QuantizerDescription& description() const override {
    return description_;
  }

  absl::StatusOr<std::unique_ptr<Quantizer>> Train(
      const ResolvedOptions& options, const TensorView& samples,
      const TrainOptions& train) const override {
    CVQ_ASSIGN_OR_RETURN(const RvqShape shape,
                         MakeShape(options, samples.dim(1)));
    const int64_t n = samples.dim(0);
    if (n < shape.codebook_size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "rvq quantizer: ", n, " training samples are fewer than the ",
          shape.codebook_size(), " codewords per codebook (bits=", shape.bits,
          "): expected at least ", shape.codebook_size(), " samples"));
    }
    const float* x = samples.span<float>().data();
    std::vector<float> units;
    if (shape.normalize) {
      units.resize(n * shape.dim);
      for (int64_t i = 0; i < n; ++i) {
        CVQ_RETURN_IF_ERROR(NormalizeToUnit(x + i * shape.dim, shape.dim,
                                            &units[i * shape.dim], "rvq",
                                            absl::StrCat("training sample ", i))
                                .status());
      }
      x = units.data();
    }

    const Rng root(train.seed);
    KMeansOptions kmeans;
    kmeans.num_clusters = shape.codebook_size();
    kmeans.max_iterations = static_cast<int>(options.GetInt("iterations"));
    kmeans.pool = train.pool;
    std::vector<Codebook> codebooks;
    codebooks.reserve(shape.num_codebooks());
    // Chunks are independent, so training them one after the other equals
    // training all chunks stage by stage; residual: [n, chunk_dim].
    std::vector<float> residual(n * shape.chunk_dim);
    for (int64_t c = 0; c < shape.num_chunks; ++c) {
      for (int64_t i = 0; i < n; ++i) {
        std::memcpy(&residual[i * shape.chunk_dim],
                    x + i * shape.dim + c * shape.chunk_dim,
                    shape.chunk_dim * sizeof(float));
      }
      for (int s = 0; s < shape.stages; ++s) {
        // A stream per codebook, so each is independent of the others.
        Rng rng = root.Fork(c * shape.stages + s);
        CVQ_ASSIGN_OR_RETURN(
            KMeansResult result,
            TrainKMeans(residual.data(), n, shape.chunk_dim, kmeans, &rng));
        for (int64_t i = 0; i < n; ++i) {
          SubtractCodeword(result.codebook, result.assignments[i],
                           &residual[i * shape.chunk_dim]);
        }
        codebooks.push_back(std::move(result.codebook));
        if (train.progress) {
          train.progress(static_cast<double>(codebooks.size()) /
                         static_cast<double>(shape.num_codebooks()));
        }
      }
    }
    return Make(options, shape, std::move(codebooks));
  }

  absl::StatusOr<std::unique_ptr<Quantizer>> Deserialize(
      const ResolvedOptions& options, int64_t dim,
      absl::string_view payload) const override {
    CVQ_ASSIGN_OR_RETURN(const RvqShape shape, MakeShape(options, dim));
    ByteReader reader(payload, "rvq quantizer payload");
    CVQ_RETURN_IF_ERROR(reader.ExpectU32("stages", shape.stages));
    CVQ_RETURN_IF_ERROR(reader.ExpectU32("bits", shape.bits));
    CVQ_RETURN_IF_ERROR(reader.ExpectU32("subvector", shape.chunk_dim));
    // Also bounds dim below 2^32, so codebook_bytes() cannot overflow.
    CVQ_RETURN_IF_ERROR(reader.ExpectU32("dim", shape.dim));
    if (static_cast<int64_t>(reader.remaining()) != shape.codebook_bytes()) {
      return absl::InvalidArgumentError(
          absl::StrCat("rvq quantizer: payload has ", reader.remaining(),
                       " bytes of codebooks: expected ", shape.codebook_bytes(),
                       " (", shape.num_codebooks(), " codebooks of ",
                       shape.codebook_size(), " x ", shape.chunk_dim, " f32)"));
    }
    std::vector<Codebook> codebooks;
    codebooks.reserve(shape.num_codebooks());
    for (int64_t k = 0; k < shape.num_codebooks(); ++k) {
      const std::string name = absl::StrCat(
          "codebook of chunk ", k / shape.stages, ", stage ", k % shape.stages);
      CVQ_ASSIGN_OR_RETURN(
          const absl::string_view bytes,
          reader.ReadBytes(shape.codebook_floats() * sizeof(float), name));
      std::vector<float> centroids(shape.codebook_floats());
      std::memcpy(centroids.data(), bytes.data(), bytes.size());
      // Rows are codewords, columns their elements.
      CVQ_RETURN_IF_ERROR(CheckFinite(centroids.data(), shape.codebook_size(),
                                      shape.chunk_dim,
                                      absl::StrCat("rvq quantizer: ", name)));
      codebooks.emplace_back(std::move(centroids), shape.chunk_dim);
    }
    return Make(options, shape, std::move(codebooks));
  }

 private:
  static std::unique_ptr<Quantizer> Make(const ResolvedOptions& options,
                                         const RvqShape& shape,
                                         std::vector<Codebook> codebooks) {
    return std::make_unique<RvqQuantizer>(options.canonical_spec(), shape,
                                          std::move(codebooks));
  }

  QuantizerDescription description_;
};

}  // namespace

std::unique_ptr<QuantizerFactory> MakeRvqQuantizerFactory() {
  return std::make_unique<RvqQuantizerFactory>();
}

}  // namespace commvq
