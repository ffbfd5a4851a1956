// Throws random arguments at the C ABI's entry points: wrong struct sizes,
// dtypes, devices, ndims, shapes, strides, NULL pointers, specs and bytes,
// on a few quantizers and a cache. Beyond "no crash" (and no sanitizer
// report), checks the ABI's promises: every error has a valid code and a
// message, and out-parameters are untouched on error.
//
// Tensors always point at buffers as large as the shape they claim (or
// NULL): a caller lying about a buffer's size is outside any C contract.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "capi/commvq.h"

namespace {

// Reads the fuzz input as a stream of choices; zeros once exhausted.
class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return pos_ >= size_; }
  uint8_t Byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  uint32_t U32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | Byte();
    return v;
  }
  // Small values most of the time, any value sometimes.
  int64_t Dim() {
    const uint8_t b = Byte();
    if (b < 200) return b % 9;
    if (b < 250) return static_cast<int32_t>(U32());
    return -static_cast<int64_t>(b);
  }
  std::string String(size_t max) {
    const size_t n = Byte() % (max + 1);
    std::string s;
    for (size_t i = 0; i < n; ++i) s.push_back(static_cast<char>(Byte()));
    return s;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

[[noreturn]] void Violation() { __builtin_trap(); }

// Checks a returned status against the ABI and frees it; true on success.
bool Ok(cvq_status* status) {
  if (status == nullptr) return true;
  const int32_t code = cvq_status_code(status);
  if (code < 1 || code > 16 || std::strlen(cvq_status_message(status)) == 0) {
    Violation();
  }
  cvq_status_destroy(status);
  return false;
}

// A tensor argument and the buffer it points at.
struct FuzzTensor {
  cvq_tensor tensor;
  int64_t shape[CVQ_MAX_NDIM];
  int64_t strides[CVQ_MAX_NDIM];
  std::vector<uint8_t> buffer;
};

constexpr int64_t kMaxBytes = 1 << 16;

void MakeTensor(Input& in, FuzzTensor& t) {
  std::memset(&t.tensor, 0, sizeof(t.tensor));
  const uint8_t flags = in.Byte();
  t.tensor.struct_size = (flags & 0x80) ? in.Byte() : sizeof(cvq_tensor);
  static const uint8_t kDtypes[][2] = {{2, 32}, {2, 16}, {4, 16},
                                       {1, 8},  {2, 64}, {0, 32}};
  const uint8_t* dtype = kDtypes[in.Byte() % 6];
  t.tensor.dtype_code = dtype[0];
  t.tensor.dtype_bits = dtype[1];
  t.tensor.dtype_lanes = (flags & 0x40) ? in.Byte() : 1;
  t.tensor.device_type = (flags & 0x20) ? in.Byte() % 4 : CVQ_DEVICE_CPU;
  t.tensor.ndim =
      (flags & 0x10) ? static_cast<int8_t>(in.Byte()) : 1 + in.Byte() % 3;
  // The library reads ndim entries when 0 <= ndim <= CVQ_MAX_NDIM.
  const int ndim =
      t.tensor.ndim >= 0 && t.tensor.ndim <= CVQ_MAX_NDIM ? t.tensor.ndim : 0;
  int64_t bytes = dtype[1] / 8;
  bool sane = true;
  for (int i = 0; i < ndim; ++i) {
    t.shape[i] = in.Dim();
    t.strides[i] = in.Dim();
    if (t.shape[i] < 0 || t.shape[i] > kMaxBytes) sane = false;
    if (sane) bytes *= t.shape[i];
    if (bytes > kMaxBytes) sane = false;
  }
  t.tensor.shape = (flags & 0x08) ? nullptr : t.shape;
  t.tensor.strides = (flags & 0x04) ? t.strides : nullptr;
  if (sane && !(flags & 0x02)) {
    t.buffer.assign(static_cast<size_t>(bytes) + 1, 0);
    for (size_t i = 0; i < t.buffer.size() && !in.empty(); i += 7) {
      t.buffer[i] = in.Byte();
    }
    t.tensor.data = t.buffer.data();
  }
}

// Quantizers cheap enough to train on every input.
const char* const kSpecs[] = {"fp16",
                              "bf16",
                              "fp8",
                              "int:bits=2,group_size=4",
                              "kivi:mode=key,bits=2,group_size=2",
                              "rvq:stages=1,bits=2,iterations=2"};

template <typename T>
T* Sentinel() {
  static char sentinel;
  return reinterpret_cast<T*>(&sentinel);
}

void FuzzQuantizer(Input& in, cvq_context* context) {
  FuzzTensor samples;
  MakeTensor(in, samples);
  const std::string spec =
      in.Byte() < 230 ? kSpecs[in.Byte() % 6] : in.String(24);
  cvq_quantizer* q = Sentinel<cvq_quantizer>();
  if (!Ok(cvq_quantizer_train(in.Byte() & 1 ? context : nullptr,
                              in.Byte() == 255 ? nullptr : spec.c_str(),
                              &samples.tensor, in.Byte(), &q))) {
    if (q != Sentinel<cvq_quantizer>()) Violation();
    return;
  }
  for (int step = 0; step < 4 && !in.empty(); ++step) {
    FuzzTensor a, b, c;
    MakeTensor(in, a);
    MakeTensor(in, b);
    MakeTensor(in, c);
    switch (in.Byte() % 5) {
      case 0:
        Ok(cvq_quantizer_encode(context, q, &a.tensor, &b.tensor, &c.tensor));
        break;
      case 1:
        Ok(cvq_quantizer_decode(context, q, &a.tensor, &b.tensor, &c.tensor));
        break;
      case 2: {
        size_t size = 12345;
        std::vector<uint8_t> buffer(in.Byte() * 4);
        if (!Ok(cvq_quantizer_serialize(q, buffer.data(), buffer.size(),
                                        &size)) &&
            size != 12345) {
          Violation();
        }
        if (size != 12345 && size <= buffer.size() && !buffer.empty()) {
          // Rebuild from the bytes, a few of them flipped.
          for (int i = in.Byte() % 3; i > 0; --i) {
            buffer[in.U32() % size] ^= in.Byte();
          }
          cvq_quantizer* copy = Sentinel<cvq_quantizer>();
          if (Ok(cvq_quantizer_deserialize(buffer.data(), size, &copy))) {
            cvq_quantizer_destroy(copy);
          } else if (copy != Sentinel<cvq_quantizer>()) {
            Violation();
          }
        }
        break;
      }
      case 3: {
        cvq_code_layout layout;
        std::memset(&layout, 0, sizeof(layout));
        layout.struct_size = in.Byte() < 200 ? sizeof(layout) : in.Byte();
        Ok(cvq_quantizer_layout(q, &layout));
        int64_t bytes = -7;
        if (!Ok(cvq_quantizer_stored_bytes(q, in.Dim(), &bytes)) &&
            bytes != -7) {
          Violation();
        }
        break;
      }
      default: {
        const char* s = nullptr;
        Ok(cvq_quantizer_spec(q, in.Byte() & 1 ? &s : nullptr));
      }
    }
  }
  cvq_quantizer_destroy(q);
}

void FuzzCache(Input& in, cvq_context* context) {
  cvq_cache_options options;
  std::memset(&options, 0, sizeof(options));
  options.struct_size = in.Byte() < 220 ? sizeof(options) : in.Byte();
  options.num_layers = 1 + in.Byte() % 3;
  options.num_heads = static_cast<int32_t>(in.Dim());
  options.num_kv_heads = static_cast<int32_t>(in.Dim());
  options.head_dim = 2 * (in.Byte() % 5);
  options.pair_layout = in.Byte() % 4;
  options.rope_theta = in.Byte() < 240 ? 10000.0 : -1.0;
  // Full precision, compressed caches that need no codebook file, and bad
  // specs.
  static const char* const kStorages[] = {
      nullptr,
      "fp32",
      "int:bits=4,group_size=2;window=0",
      "int:bits=2,group_size=2;window=1;page=2",
      "kivi:bits=2,group_size=2,window=0",
      "commvq",
      "int:bits=99",
      "fp16;window=-1"};
  options.storage = kStorages[in.Byte() % 8];
  cvq_cache* cache = Sentinel<cvq_cache>();
  if (!Ok(cvq_cache_create(in.Byte() & 1 ? context : nullptr, &options,
                           &cache))) {
    if (cache != Sentinel<cvq_cache>()) Violation();
    return;
  }
  for (int step = 0; step < 6 && !in.empty(); ++step) {
    FuzzTensor a, b;
    MakeTensor(in, a);
    MakeTensor(in, b);
    const int32_t layer = static_cast<int32_t>(in.Dim());
    switch (in.Byte() % 4) {
      case 0:
        Ok(cvq_cache_append(cache, layer, &a.tensor, &b.tensor));
        break;
      case 1: {
        std::vector<int64_t> positions(in.Byte() % 4);
        for (int64_t& p : positions) p = in.Dim();
        Ok(cvq_cache_attend(cache, layer, &a.tensor, positions.data(),
                            static_cast<int64_t>(positions.size()), &b.tensor));
        break;
      }
      case 2:
        Ok(cvq_cache_truncate(cache, in.Dim()));
        break;
      default: {
        int64_t length = -7;
        if (!Ok(cvq_cache_length(cache, layer, &length)) && length != -7) {
          Violation();
        }
        cvq_cache_memory memory;
        std::memset(&memory, 0, sizeof(memory));
        memory.struct_size = in.Byte() < 200 ? sizeof(memory) : in.Byte();
        Ok(cvq_cache_memory_get(cache, &memory));
      }
    }
  }
  cvq_cache_destroy(cache);
}

void FuzzMisc(Input& in) {
  cvq_context_options options;
  std::memset(&options, 0, sizeof(options));
  options.struct_size = in.Byte() < 200 ? sizeof(options) : in.Byte();
  options.num_threads = static_cast<int32_t>(in.Dim()) % 5;
  const std::string backend = in.String(5);
  options.backend = in.Byte() & 1 ? backend.c_str() : nullptr;
  options.device_id = in.Byte() < 240 ? 0 : 1;
  cvq_context* context = Sentinel<cvq_context>();
  if (Ok(cvq_context_create(in.Byte() < 250 ? &options : nullptr, &context))) {
    cvq_context_destroy(context);
  } else if (context != Sentinel<cvq_context>()) {
    Violation();
  }
  cvq_quantizer_kind kind;
  std::memset(&kind, 0, sizeof(kind));
  kind.struct_size = in.Byte() < 200 ? sizeof(kind) : in.Byte();
  Ok(cvq_registry_get(in.U32() % 16, &kind));
  Ok(cvq_set_log_callback(nullptr, nullptr,
                          static_cast<int8_t>(in.Byte()) % 6));
  const std::string bytes = in.String(64);
  cvq_quantizer* q = Sentinel<cvq_quantizer>();
  if (Ok(cvq_quantizer_deserialize(
          reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), &q))) {
    cvq_quantizer_destroy(q);
  } else if (q != Sentinel<cvq_quantizer>()) {
    Violation();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static cvq_context* context = [] {
    cvq_context_options options;
    std::memset(&options, 0, sizeof(options));
    options.struct_size = sizeof(options);
    options.num_threads = 2;
    cvq_context* c = nullptr;
    if (!Ok(cvq_context_create(&options, &c))) Violation();
    return c;
  }();
  Input in(data, size);
  switch (in.Byte() % 3) {
    case 0:
      FuzzQuantizer(in, context);
      break;
    case 1:
      FuzzCache(in, context);
      break;
    default:
      FuzzMisc(in);
  }
  return 0;
}
