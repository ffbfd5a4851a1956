// Quantizer entry points: train, (de)serialize, describe, encode, decode.
#include <atomic>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "capi/handles.h"
#include "capi/internal.h"
#include "commvq/base/status_macros.h"
#include "commvq/registry/registry.h"

namespace {

using commvq::MutableTensorView;
using commvq::QuantizerRegistry;
using commvq::capi::CheckNotNull;
using commvq::capi::CheckStruct;
using commvq::capi::FromCTensor;
using commvq::capi::Guard;
using commvq::capi::PoolOf;

absl::Status CheckQuantizer(const cvq_quantizer* quantizer) {
  return CheckNotNull(quantizer, "quantizer", "a cvq_quantizer");
}

absl::Status CheckOut(cvq_quantizer** out) {
  return CheckNotNull(out, "out", "a cvq_quantizer* to fill");
}

// Logs training progress in steps of 10%, so the callback sees a handful of
// lines rather than one per iteration.
std::function<void(double)> ProgressLogger(const std::string& spec) {
  auto last_step = std::make_shared<std::atomic<int>>(0);
  return [spec, last_step](double done) {
    const int step = static_cast<int>(done * 10.0);
    int previous = last_step->load();
    while (step > previous) {
      if (last_step->compare_exchange_weak(previous, step)) {
        commvq::capi::Log(CVQ_LOG_DEBUG, absl::StrFormat("training %s: %d%%",
                                                         spec, 10 * step));
        return;
      }
    }
  };
}

}  // namespace

extern "C" {

cvq_status* cvq_quantizer_train(cvq_context* context, const char* spec,
                                const cvq_tensor* samples, uint64_t seed,
                                cvq_quantizer** out) {
  return Guard([&]() -> absl::Status {
    CVQ_RETURN_IF_ERROR(CheckNotNull(spec, "spec", "a quantizer spec string"));
    CVQ_RETURN_IF_ERROR(CheckOut(out));
    CVQ_ASSIGN_OR_RETURN(MutableTensorView view,
                         FromCTensor(samples, "samples"));
    commvq::TrainOptions options;
    options.seed = seed;
    options.pool = PoolOf(context);
    options.progress = ProgressLogger(spec);
    CVQ_ASSIGN_OR_RETURN(auto quantizer, QuantizerRegistry::Default().Train(
                                             spec, view, options));
    commvq::capi::Log(
        CVQ_LOG_INFO,
        absl::StrCat("trained ", quantizer->spec(), " on ",
                     view.rank() > 0 ? view.dim(0) : 0, " samples"));
    *out = new cvq_quantizer{std::move(quantizer)};
    return absl::OkStatus();
  });
}

cvq_status* cvq_quantizer_deserialize(const uint8_t* bytes, size_t size,
                                      cvq_quantizer** out) {
  return Guard([&]() -> absl::Status {
    if (size > 0) {
      CVQ_RETURN_IF_ERROR(CheckNotNull(
          bytes, "bytes", "`size` bytes of a serialized quantizer"));
    }
    CVQ_RETURN_IF_ERROR(CheckOut(out));
    CVQ_ASSIGN_OR_RETURN(
        auto quantizer,
        QuantizerRegistry::Default().Deserialize(
            absl::string_view(reinterpret_cast<const char*>(bytes), size)));
    *out = new cvq_quantizer{std::move(quantizer)};
    return absl::OkStatus();
  });
}

cvq_status* cvq_quantizer_serialize(const cvq_quantizer* quantizer,
                                    uint8_t* buffer, size_t capacity,
                                    size_t* size) {
  return Guard([&]() -> absl::Status {
    CVQ_RETURN_IF_ERROR(CheckQuantizer(quantizer));
    CVQ_RETURN_IF_ERROR(CheckNotNull(size, "size", "a size_t to fill"));
    if (capacity > 0) {
      CVQ_RETURN_IF_ERROR(
          CheckNotNull(buffer, "buffer", "`capacity` writable bytes"));
    }
    CVQ_ASSIGN_OR_RETURN(const std::string bytes,
                         quantizer->quantizer->Serialize());
    if (capacity > 0 && capacity < bytes.size()) {
      return absl::OutOfRangeError(absl::StrCat(
          "`capacity` is ", capacity, " bytes; the serialized quantizer takes ",
          bytes.size(), " (query the size with buffer NULL, capacity 0)"));
    }
    if (capacity > 0) std::memcpy(buffer, bytes.data(), bytes.size());
    *size = bytes.size();
    return absl::OkStatus();
  });
}

void cvq_quantizer_destroy(cvq_quantizer* quantizer) { delete quantizer; }

cvq_status* cvq_quantizer_spec(const cvq_quantizer* quantizer,
                               const char** spec) {
  return Guard([&]() -> absl::Status {
    CVQ_RETURN_IF_ERROR(CheckQuantizer(quantizer));
    CVQ_RETURN_IF_ERROR(CheckNotNull(spec, "spec", "a const char* to fill"));
    *spec = quantizer->quantizer->spec().c_str();
    return absl::OkStatus();
  });
}

cvq_status* cvq_quantizer_layout(const cvq_quantizer* quantizer,
                                 cvq_code_layout* layout) {
  return Guard([&]() -> absl::Status {
    CVQ_RETURN_IF_ERROR(CheckQuantizer(quantizer));
    CVQ_RETURN_IF_ERROR(CheckStruct(layout, "layout", "cvq_code_layout"));
    const commvq::CodeLayout& l = quantizer->quantizer->layout();
    layout->dim = l.dim;
    layout->code_bits = l.code_bits;
    layout->code_bytes = l.code_bytes;
    layout->side_bytes = l.side_bytes;
    layout->block_vectors = l.block_vectors;
    layout->parameter_bytes = quantizer->quantizer->ParameterBytes();
    return absl::OkStatus();
  });
}

cvq_status* cvq_quantizer_stored_bytes(const cvq_quantizer* quantizer,
                                       int64_t num_vectors, int64_t* bytes) {
  return Guard([&]() -> absl::Status {
    CVQ_RETURN_IF_ERROR(CheckQuantizer(quantizer));
    CVQ_RETURN_IF_ERROR(CheckNotNull(bytes, "bytes", "an int64_t to fill"));
    const int64_t block = quantizer->quantizer->layout().block_vectors;
    if (num_vectors < 0 || num_vectors % block != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "`num_vectors` is ", num_vectors,
          "; expected a non-negative multiple of block_vectors (", block, ")"));
    }
    *bytes = quantizer->quantizer->StoredBytes(num_vectors);
    return absl::OkStatus();
  });
}

cvq_status* cvq_quantizer_encode(cvq_context* context,
                                 const cvq_quantizer* quantizer,
                                 const cvq_tensor* input,
                                 const cvq_tensor* codes,
                                 const cvq_tensor* side) {
  return Guard([&]() -> absl::Status {
    CVQ_RETURN_IF_ERROR(CheckQuantizer(quantizer));
    CVQ_ASSIGN_OR_RETURN(MutableTensorView in, FromCTensor(input, "input"));
    CVQ_ASSIGN_OR_RETURN(MutableTensorView c, FromCTensor(codes, "codes"));
    CVQ_ASSIGN_OR_RETURN(MutableTensorView s, FromCTensor(side, "side"));
    return quantizer->quantizer->Encode(in, c, s, PoolOf(context));
  });
}

cvq_status* cvq_quantizer_decode(cvq_context* context,
                                 const cvq_quantizer* quantizer,
                                 const cvq_tensor* codes,
                                 const cvq_tensor* side,
                                 const cvq_tensor* output) {
  return Guard([&]() -> absl::Status {
    CVQ_RETURN_IF_ERROR(CheckQuantizer(quantizer));
    CVQ_ASSIGN_OR_RETURN(MutableTensorView c, FromCTensor(codes, "codes"));
    CVQ_ASSIGN_OR_RETURN(MutableTensorView s, FromCTensor(side, "side"));
    CVQ_ASSIGN_OR_RETURN(MutableTensorView o, FromCTensor(output, "output"));
    return quantizer->quantizer->Decode(c, s, o, PoolOf(context));
  });
}

}  // extern "C"
