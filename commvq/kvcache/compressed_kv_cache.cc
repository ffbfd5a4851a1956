#include "commvq/kvcache/compressed_kv_cache.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <numeric>
#include <set>
#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "commvq/base/float16.h"
#include "commvq/base/status_macros.h"
#include "commvq/base/thread_pool.h"
#include "commvq/quantizer/commvq_value/commvq_value_quantizer.h"
#include "kernels/cpu/attention_kernels.h"

namespace commvq {
namespace {

// Zero bytes after each page, so kernels may read a code field with a
// multi-byte load at the end of the page.
constexpr int64_t kPagePadding = 8;

// Adds the wall time since the previous lap to a field of the times, when
// there are times to fill.
class PhaseTimer {
 public:
  explicit PhaseTimer(AttendPhaseTimes* times)
      : times_(times), last_(std::chrono::steady_clock::now()) {}
  void Lap(double AttendPhaseTimes::*field) {
    if (times_ == nullptr) return;
    const auto now = std::chrono::steady_clock::now();
    times_->*field +=
        std::chrono::duration<double, std::milli>(now - last_).count();
    last_ = now;
  }

 private:
  AttendPhaseTimes* const times_;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace

// The buffers of one Attend call; Fit grows them, and later calls reuse
// them.
struct CompressedKvCache::Workspace {
  // Grows `buffer` to at least `size` elements, never shrinking it (a later
  // call of the size then allocates nothing), and counts what it allocates.
  // Its first `size` elements, null when size is 0 (an empty buffer has no
  // element an offset could point into).
  template <typename Buffer>
  auto* Fit(Buffer& buffer, int64_t size) {
    if (static_cast<int64_t>(buffer.size()) < size) {
      const size_t before = buffer.capacity();
      buffer.resize(size);
      if (buffer.capacity() != before) {
        ++*allocations;
        *bytes += static_cast<int64_t>((buffer.capacity() - before) *
                                       sizeof(buffer[0]));
      }
    }
    return size == 0 ? nullptr : buffer.data();
  }

  // The cache's counters.
  std::atomic<int64_t>* allocations = nullptr;
  std::atomic<int64_t>* bytes = nullptr;
  // What Prepared points into, and the scores of a query.
  std::vector<float> queries, norms, factors, keys, values, window_keys;
  std::vector<float> scores;
  std::vector<float, CacheLineAllocator<float>> value_acc;
  std::vector<const uint8_t*> value_pages;
  // Per slot (thread of a phase): the kernels' scratch, or the table of
  // the table key kernel.
  std::vector<std::vector<float, CacheLineAllocator<float>>> slots;
};

class CompressedKvCache::WorkspaceLease {
 public:
  explicit WorkspaceLease(const CompressedKvCache& cache) : cache_(cache) {
    std::lock_guard<std::mutex> lock(cache_.workspace_mu_);
    if (!cache_.free_workspaces_.empty()) {
      workspace_ = std::move(cache_.free_workspaces_.back());
      cache_.free_workspaces_.pop_back();
      return;
    }
    workspace_ = std::make_unique<Workspace>();
    workspace_->allocations = &cache_.workspace_allocations_;
    workspace_->bytes = &cache_.workspace_bytes_;
    ++cache_.workspace_allocations_;
    // Room for every workspace in the free list, so giving one back never
    // allocates.
    cache_.free_workspaces_.reserve(++cache_.workspaces_made_);
  }
  WorkspaceLease(const WorkspaceLease&) = delete;
  WorkspaceLease& operator=(const WorkspaceLease&) = delete;
  ~WorkspaceLease() {
    std::lock_guard<std::mutex> lock(cache_.workspace_mu_);
    cache_.free_workspaces_.push_back(std::move(workspace_));
  }

  Workspace& workspace() { return *workspace_; }

 private:
  const CompressedKvCache& cache_;
  std::unique_ptr<Workspace> workspace_;
};

// Pointers into the call's workspace; null for what the call lacks.
struct CompressedKvCache::Prepared {
  int64_t num_queries = 0;
  const int64_t* positions = nullptr;
  const float* queries = nullptr;  // rotated, [t, num_heads, head_dim]
  int64_t encoded = 0;             // encoded tokens the last query sees
  const float* norms = nullptr;    // commvq keys: [encoded]
  const float* factors = nullptr;  // commvq values: [encoded]
  // Decoded when the kernels cannot read the codes: [encoded rounded up to
  // the chunk, num_kv_heads, head_dim]; keys rotated.
  const float* keys = nullptr;
  const float* values = nullptr;
  const float* window_keys = nullptr;  // rotated, [seen window, kv_heads, dim]
  int64_t max_tokens = 0;
};

absl::StatusOr<std::shared_ptr<const CompressedCacheCodecs>>
CompressedCacheCodecs::Create(const AttentionShape& shape,
                              std::vector<LayerQuantizers> quantizers) {
  CVQ_RETURN_IF_ERROR(ValidateAttentionShape(shape));
  if (static_cast<int>(quantizers.size()) != shape.num_layers) {
    return absl::InvalidArgumentError(
        absl::StrCat("compressed cache: ", quantizers.size(),
                     " layers of quantizers: expected ", shape.num_layers));
  }
  const int64_t dim = int64_t{shape.num_kv_heads} * shape.head_dim;
  std::vector<Layer> layers(quantizers.size());
  for (size_t l = 0; l < quantizers.size(); ++l) {
    Layer& layer = layers[l];
    layer.quantizers = std::move(quantizers[l]);
    for (const Quantizer* q :
         {layer.quantizers.key.get(), layer.quantizers.value.get()}) {
      if (q == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("compressed cache: layer ", l, " lacks a quantizer"));
      }
      if (q->dim() != dim) {
        return absl::InvalidArgumentError(absl::StrCat(
            "compressed cache: layer ", l, " quantizer '", q->spec(),
            "' has dim ", q->dim(), ": expected num_kv_heads * head_dim = ",
            dim));
      }
    }
    const Quantizer& key = *layer.quantizers.key;
    layer.chunk_tokens = std::lcm(key.layout().block_vectors,
                                  layer.quantizers.value->layout().block_vectors);
    layer.value_params = CommvqValueParams(*layer.quantizers.value);
    if (key.name() != "commvq_key") continue;
    CVQ_ASSIGN_OR_RETURN(CommvqKeyArrays arrays, CommvqKeyArraysOf(key));
    if (arrays.num_kv_heads != shape.num_kv_heads ||
        arrays.head_dim != shape.head_dim ||
        arrays.layout != shape.pair_layout) {
      return absl::InvalidArgumentError(absl::StrCat(
          "compressed cache: layer ", l, " key quantizer '", key.spec(),
          "' has ", arrays.num_kv_heads, " heads of ", arrays.head_dim,
          ", pairs ", PairLayoutName(arrays.layout), ": expected ",
          AttentionShapeToString(shape)));
    }
    layer.key_arrays = std::move(arrays);
  }
  return std::shared_ptr<const CompressedCacheCodecs>(
      new CompressedCacheCodecs(shape, std::move(layers)));
}

int64_t CompressedCacheCodecs::ParameterBytes() const {
  // A quantizer shared by several layers is stored once.
  std::set<const Quantizer*> seen;
  int64_t bytes = 0;
  for (const Layer& layer : layers_) {
    for (const Quantizer* q :
         {layer.quantizers.key.get(), layer.quantizers.value.get()}) {
      if (seen.insert(q).second) bytes += q->ParameterBytes();
    }
    if (layer.key_arrays) {
      bytes += static_cast<int64_t>(
          layer.key_arrays->planes.size() * sizeof(int16_t) +
          layer.key_arrays->pair_scale.size() * sizeof(float));
    }
  }
  return bytes;
}

absl::StatusOr<std::unique_ptr<CompressedKvCache>> CompressedKvCache::Create(
    std::shared_ptr<const CompressedCacheCodecs> codecs,
    const CompressedKvCacheOptions& options) {
  if (codecs == nullptr) {
    return absl::InvalidArgumentError("compressed cache: null codecs");
  }
  if (options.window < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "compressed cache: window must be >= 0; got ", options.window));
  }
  if (options.page_tokens < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "compressed cache: page_tokens must be >= 1; got ",
        options.page_tokens));
  }
  const AttentionShape& shape = codecs->shape();
  CVQ_ASSIGN_OR_RETURN(Rope rope, Rope::Create(shape.head_dim, shape.rope_theta,
                                               shape.pair_layout));
  return std::unique_ptr<CompressedKvCache>(
      new CompressedKvCache(std::move(codecs), std::move(rope), options));
}

CompressedKvCache::CompressedKvCache(
    std::shared_ptr<const CompressedCacheCodecs> codecs, Rope rope,
    const CompressedKvCacheOptions& options)
    : KvCache(codecs->shape()),
      codecs_(std::move(codecs)),
      rope_(std::move(rope)),
      options_(options),
      kernels_(options.kernels != nullptr ? *options.kernels
                                          : SelectedAttentionKernels()),
      layers_(shape().num_layers) {
  for (int l = 0; l < shape().num_layers; ++l) {
    const int64_t chunk = codecs_->layer(l).chunk_tokens;
    page_tokens_.push_back((options.page_tokens + chunk - 1) / chunk * chunk);
    page_layouts_.push_back(LayoutOf(l));
  }
}

CompressedKvCache::~CompressedKvCache() = default;

CompressedKvCache::PageLayout CompressedKvCache::LayoutOf(int l) const {
  const CodeLayout& key = codecs_->layer(l).quantizers.key->layout();
  const CodeLayout& value = codecs_->layer(l).quantizers.value->layout();
  const int64_t tokens = page_tokens_[l];
  PageLayout layout;
  layout.key_side = tokens * key.code_bytes;
  layout.value_codes =
      layout.key_side + tokens / key.block_vectors * key.side_bytes;
  layout.value_side = layout.value_codes + tokens * value.code_bytes;
  layout.bytes =
      layout.value_side + tokens / value.block_vectors * value.side_bytes;
  return layout;
}

int64_t CompressedKvCache::Layer::window_tokens() const {
  return static_cast<int64_t>(window_count);
}

int64_t CompressedKvCache::length(int layer) const {
  return layers_[layer].encoded + layers_[layer].window_tokens();
}

int64_t CompressedKvCache::encoded_length(int layer) const {
  return layers_[layer].encoded;
}

bool CompressedKvCache::UseTableKernel() const {
  return options_.key_kernel == KeyKernel::kTable;
}

std::string CompressedKvCache::KeyKernelName() const {
  if (!codecs_->layer(0).key_arrays) {
    return absl::StrCat("dense-", kernels_.isa);
  }
  return absl::StrCat(UseTableKernel() ? "table-" : "decode-", kernels_.isa);
}

CompressedKvCacheMemory CompressedKvCache::Memory() const {
  CompressedKvCacheMemory memory;
  for (int l = 0; l < shape().num_layers; ++l) {
    const Layer& layer = layers_[l];
    const CodeLayout& key = codecs_->layer(l).quantizers.key->layout();
    const CodeLayout& value = codecs_->layer(l).quantizers.value->layout();
    const int64_t codes =
        layer.encoded * (key.code_bytes + value.code_bytes);
    const int64_t side =
        layer.encoded / key.block_vectors * key.side_bytes +
        layer.encoded / value.block_vectors * value.side_bytes;
    memory.codes += codes;
    memory.side += side;
    memory.page_slack += static_cast<int64_t>(layer.pages.size()) *
                             (page_layouts_[l].bytes + kPagePadding) -
                         codes - side;
    memory.window += static_cast<int64_t>(
        (layer.window_keys.capacity() + layer.window_values.capacity()) *
        sizeof(float));
  }
  memory.codebooks = codecs_->ParameterBytes();
  memory.rope_table = static_cast<int64_t>(
      (rope_cos_.capacity() + rope_sin_.capacity()) * sizeof(float));
  memory.workspace = workspace_bytes_;
  return memory;
}

void CompressedKvCache::GrowRopeTable(int64_t length) {
  if (length <= rope_positions_) return;
  // Doubling keeps appends of one token amortized O(1).
  const int64_t grown = std::max(length, 2 * rope_positions_);
  std::vector<int64_t> positions(grown - rope_positions_);
  std::iota(positions.begin(), positions.end(), rope_positions_);
  const int64_t pairs = rope_.num_pairs();
  rope_cos_.resize(grown * pairs);
  rope_sin_.resize(grown * pairs);
  rope_.ComputeCosSin(
      positions,
      absl::MakeSpan(rope_cos_).subspan(rope_positions_ * pairs),
      absl::MakeSpan(rope_sin_).subspan(rope_positions_ * pairs));
  rope_positions_ = grown;
}

absl::Status CompressedKvCache::DoAppend(int l, const float* keys,
                                         const float* values,
                                         int64_t num_tokens) {
  if (options_.capacity > 0 && length(l) + num_tokens > options_.capacity) {
    return absl::OutOfRangeError(absl::StrCat(
        "appending ", num_tokens, " tokens to layer ", l, " of length ",
        length(l), "; expected at most ", options_.capacity - length(l),
        " (the cache's capacity=", options_.capacity, ")"));
  }
  Layer& layer = layers_[l];
  const int64_t row = int64_t{shape().num_kv_heads} * shape().head_dim;
  const int64_t earlier = layer.window_count;
  layer.window_keys.insert(layer.window_keys.end(), keys,
                           keys + num_tokens * row);
  layer.window_values.insert(layer.window_values.end(), values,
                             values + num_tokens * row);
  layer.window_count += num_tokens;
  GrowRopeTable(length(l));
  // The oldest whole chunks beyond `window`; with full-precision prefill
  // only tokens of earlier appends, so the new ones stay exact for the
  // attention of the forward pass that appends them.
  const int64_t chunk = codecs_->layer(l).chunk_tokens;
  const int64_t eligible =
      options_.full_precision_prefill ? earlier : layer.window_count;
  const int64_t beyond =
      std::min(layer.window_count - options_.window, eligible);
  if (beyond >= chunk) {
    CVQ_RETURN_IF_ERROR(EncodeFromWindow(l, beyond / chunk * chunk));
  }
  return absl::OkStatus();
}

absl::Status CompressedKvCache::AddToPages(
    int l, int64_t count,
    const std::function<absl::Status(uint8_t*, int64_t, int64_t, int64_t)>&
        write) {
  Layer& layer = layers_[l];
  const int64_t page_tokens = page_tokens_[l];
  for (int64_t done = 0; done < count;) {
    const int64_t page_index = layer.encoded / page_tokens;
    const int64_t slot = layer.encoded % page_tokens;
    const int64_t n = std::min(count - done, page_tokens - slot);
    if (page_index == static_cast<int64_t>(layer.pages.size())) {
      layer.pages.emplace_back(page_layouts_[l].bytes + kPagePadding, 0);
    }
    CVQ_RETURN_IF_ERROR(write(layer.pages[page_index].data(), slot, done, n));
    layer.encoded += n;
    done += n;
  }
  return absl::OkStatus();
}

absl::Status CompressedKvCache::EncodeFromWindow(int l, int64_t count) {
  Layer& layer = layers_[l];
  const Quantizer& key = *codecs_->layer(l).quantizers.key;
  const Quantizer& value = *codecs_->layer(l).quantizers.value;
  const PageLayout& page_layout = page_layouts_[l];
  const int64_t row = int64_t{shape().num_kv_heads} * shape().head_dim;
  // Encodes n rows into the page slots from `slot` on.
  const auto encode = [&](const Quantizer& q, const float* rows, int64_t n,
                          uint8_t* page, int64_t codes_offset,
                          int64_t side_offset, int64_t slot) {
    const CodeLayout& layout = q.layout();
    return q.Encode(
        TensorView(rows, DType::kF32, {n, row}),
        MutableTensorView(page + codes_offset + slot * layout.code_bytes,
                          DType::kU8, {n, layout.code_bytes}),
        MutableTensorView(
            page + side_offset + slot / layout.block_vectors * layout.side_bytes,
            DType::kU8, {n / layout.block_vectors, layout.side_bytes}),
        options_.pool);
  };
  CVQ_RETURN_IF_ERROR(AddToPages(
      l, count,
      [&](uint8_t* page, int64_t slot, int64_t done, int64_t n) {
        CVQ_RETURN_IF_ERROR(encode(key, &layer.window_keys[done * row], n,
                                   page, page_layout.key_codes,
                                   page_layout.key_side, slot));
        return encode(value, layer.window_values.data() + done * row, n, page,
                      page_layout.value_codes, page_layout.value_side, slot);
      }));
  layer.window_keys.erase(layer.window_keys.begin(),
                          layer.window_keys.begin() + count * row);
  layer.window_values.erase(layer.window_values.begin(),
                            layer.window_values.begin() + count * row);
  layer.window_count -= count;
  // A long append leaves a large window buffer behind; release it rather
  // than count (and hold) memory no token uses.
  if (layer.window_keys.capacity() > 2 * layer.window_keys.size() + 1024) {
    layer.window_keys.shrink_to_fit();
    layer.window_values.shrink_to_fit();
  }
  return absl::OkStatus();
}

absl::Status CompressedKvCache::AppendEncoded(int l,
                                              const TensorView& key_codes,
                                              const TensorView& key_side,
                                              const TensorView& value_codes,
                                              const TensorView& value_side) {
  if (l < 0 || l >= shape().num_layers) {
    return absl::InvalidArgumentError(
        absl::StrCat("AppendEncoded: layer ", l, " out of range [0, ",
                     shape().num_layers, ")"));
  }
  if (layers_[l].window_count != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "AppendEncoded: layer ", l, " has ", layers_[l].window_count,
        " tokens in its window: encoded tokens would land before them"));
  }
  const int64_t n = key_codes.rank() == 2 ? key_codes.dim(0) : -1;
  const int64_t chunk = codecs_->layer(l).chunk_tokens;
  if (n < 0 || n % chunk != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("AppendEncoded: key_codes must be [n, code_bytes] with n "
                     "a multiple of the chunk ", chunk));
  }
  const CodeLayout& kl = codecs_->layer(l).quantizers.key->layout();
  const CodeLayout& vl = codecs_->layer(l).quantizers.value->layout();
  CVQ_RETURN_IF_ERROR(
      CheckTensor(key_codes, "key_codes", DType::kU8, {n, kl.code_bytes}));
  CVQ_RETURN_IF_ERROR(CheckTensor(key_side, "key_side", DType::kU8,
                                  {n / kl.block_vectors, kl.side_bytes}));
  CVQ_RETURN_IF_ERROR(
      CheckTensor(value_codes, "value_codes", DType::kU8, {n, vl.code_bytes}));
  CVQ_RETURN_IF_ERROR(CheckTensor(value_side, "value_side", DType::kU8,
                                  {n / vl.block_vectors, vl.side_bytes}));
  const PageLayout& page_layout = page_layouts_[l];
  // Copies rows [first, first + rows) of `from` ([*, row bytes] u8) to `to`.
  const auto copy_rows = [](const TensorView& from, int64_t first,
                            int64_t rows, uint8_t* to) {
    if (rows == 0 || from.dim(1) == 0) return;
    std::memcpy(to, static_cast<const uint8_t*>(from.data()) + first * from.dim(1),
                rows * from.dim(1));
  };
  CVQ_RETURN_IF_ERROR(AddToPages(
      l, n, [&](uint8_t* page, int64_t slot, int64_t done, int64_t count) {
        uint8_t* kc = page + page_layout.key_codes + slot * kl.code_bytes;
        uint8_t* ks = page + page_layout.key_side +
                      slot / kl.block_vectors * kl.side_bytes;
        uint8_t* vc = page + page_layout.value_codes + slot * vl.code_bytes;
        uint8_t* vs = page + page_layout.value_side +
                      slot / vl.block_vectors * vl.side_bytes;
        copy_rows(key_codes, done, count, kc);
        copy_rows(key_side, done / kl.block_vectors, count / kl.block_vectors,
                  ks);
        copy_rows(value_codes, done, count, vc);
        copy_rows(value_side, done / vl.block_vectors,
                  count / vl.block_vectors, vs);
        return absl::OkStatus();
      }));
  GrowRopeTable(length(l));
  return absl::OkStatus();
}

absl::Status CompressedKvCache::DecodeRange(int l, int64_t begin,
                                            int64_t count, float* keys,
                                            float* values) const {
  const Layer& layer = layers_[l];
  const int64_t page_tokens = page_tokens_[l];
  const PageLayout& page_layout = page_layouts_[l];
  const uint8_t* page = layer.pages[begin / page_tokens].data();
  const int64_t slot = begin % page_tokens;
  const int64_t row = int64_t{shape().num_kv_heads} * shape().head_dim;
  const auto decode = [&](const Quantizer& q, int64_t codes_offset,
                          int64_t side_offset, float* out) {
    const CodeLayout& layout = q.layout();
    return q.Decode(
        TensorView(page + codes_offset + slot * layout.code_bytes, DType::kU8,
                   {count, layout.code_bytes}),
        TensorView(page + side_offset +
                       slot / layout.block_vectors * layout.side_bytes,
                   DType::kU8, {count / layout.block_vectors, layout.side_bytes}),
        MutableTensorView(out, DType::kF32, {count, row}), options_.pool);
  };
  const LayerQuantizers& quantizers = codecs_->layer(l).quantizers;
  if (keys != nullptr) {
    CVQ_RETURN_IF_ERROR(decode(*quantizers.key, page_layout.key_codes,
                               page_layout.key_side, keys));
  }
  if (values != nullptr) {
    CVQ_RETURN_IF_ERROR(decode(*quantizers.value, page_layout.value_codes,
                               page_layout.value_side, values));
  }
  return absl::OkStatus();
}

absl::Status CompressedKvCache::DoTruncate(int64_t length) {
  const int64_t row = int64_t{shape().num_kv_heads} * shape().head_dim;
  for (int l = 0; l < shape().num_layers; ++l) {
    Layer& layer = layers_[l];
    if (length >= this->length(l)) continue;
    if (length >= layer.encoded) {
      layer.window_count = length - layer.encoded;
      layer.window_keys.resize(layer.window_count * row);
      layer.window_values.resize(layer.window_count * row);
      continue;
    }
    // The kept tokens of a partly dropped chunk cannot stay encoded (its
    // side data covers the whole chunk): they return to the window decoded.
    const int64_t chunk = codecs_->layer(l).chunk_tokens;
    const int64_t kept = length / chunk * chunk;
    const int64_t partial = length - kept;
    std::vector<float> keys(chunk * row), values(chunk * row);
    if (partial > 0) {
      CVQ_RETURN_IF_ERROR(
          DecodeRange(l, kept, chunk, keys.data(), values.data()));
    }
    keys.resize(partial * row);
    values.resize(partial * row);
    layer.window_keys = std::move(keys);
    layer.window_values = std::move(values);
    layer.window_count = partial;
    layer.encoded = kept;
    layer.pages.resize((kept + page_tokens_[l] - 1) / page_tokens_[l]);
  }
  return absl::OkStatus();
}

void CompressedKvCache::Clear() {
  for (Layer& layer : layers_) layer = Layer();
  // Exclusive access: no Attend holds a workspace.
  std::lock_guard<std::mutex> lock(workspace_mu_);
  free_workspaces_.clear();
  free_workspaces_.shrink_to_fit();
  workspaces_made_ = 0;
  workspace_allocations_ = 0;
  workspace_bytes_ = 0;
}

absl::Status CompressedKvCache::DoAttend(int l, const float* queries,
                                         absl::Span<const int64_t> positions,
                                         float* out) const {
  const Layer& layer = layers_[l];
  const CompressedCacheCodecs::Layer& codec = codecs_->layer(l);
  const int num_heads = shape().num_heads;
  const int kv_heads = shape().num_kv_heads;
  const int head_dim = shape().head_dim;
  const int64_t row = int64_t{kv_heads} * head_dim;
  const int64_t pairs = rope_.num_pairs();

  PhaseTimer timer(options_.phase_times);
  WorkspaceLease lease(*this);
  Workspace& workspace = lease.workspace();
  Prepared prepared;
  prepared.num_queries = static_cast<int64_t>(positions.size());
  prepared.positions = positions.data();
  prepared.max_tokens = positions.back() + 1;
  prepared.encoded = std::min(prepared.max_tokens, layer.encoded);
  const int64_t query_floats = prepared.num_queries * num_heads * head_dim;
  float* rotated_queries = workspace.Fit(workspace.queries, query_floats);
  std::copy(queries, queries + query_floats, rotated_queries);
  for (int64_t i = 0; i < prepared.num_queries; ++i) {
    for (int h = 0; h < num_heads; ++h) {
      rope_.RotateHead(&rope_cos_[positions[i] * pairs],
                       &rope_sin_[positions[i] * pairs],
                       rotated_queries + (i * num_heads + h) * head_dim);
    }
  }
  prepared.queries = rotated_queries;
  const int64_t window_seen = prepared.max_tokens - prepared.encoded;
  float* window_keys = workspace.Fit(workspace.window_keys, window_seen * row);
  std::copy(layer.window_keys.begin(),
            layer.window_keys.begin() + window_seen * row, window_keys);
  for (int64_t t = 0; t < window_seen; ++t) {
    const int64_t p = layer.encoded + t;
    for (int g = 0; g < kv_heads; ++g) {
      rope_.RotateHead(&rope_cos_[p * pairs], &rope_sin_[p * pairs],
                       window_keys + t * row + g * head_dim);
    }
  }
  prepared.window_keys = window_keys;

  // Encoded tokens the kernels cannot read in place are decoded, whole
  // chunks at a time, page by page.
  const int64_t chunk = codec.chunk_tokens;
  const int64_t decoded = (prepared.encoded + chunk - 1) / chunk * chunk;
  const bool keys_on_codes = codec.key_arrays.has_value();
  const bool values_on_codes = codec.value_params != nullptr;
  float* keys =
      keys_on_codes ? nullptr : workspace.Fit(workspace.keys, decoded * row);
  float* values = values_on_codes
                      ? nullptr
                      : workspace.Fit(workspace.values, decoded * row);
  if (!keys_on_codes || !values_on_codes) {
    for (int64_t begin = 0; begin < decoded; begin += page_tokens_[l]) {
      const int64_t count = std::min(page_tokens_[l], decoded - begin);
      CVQ_RETURN_IF_ERROR(DecodeRange(
          l, begin, count, keys_on_codes ? nullptr : keys + begin * row,
          values_on_codes ? nullptr : values + begin * row));
    }
  }
  prepared.keys = keys;
  prepared.values = values;
  // The per-token scalars the kernels scale by, from the side data: the
  // fp16 key norm, the f32 value factor.
  const auto side_scalars = [&](int64_t side_offset, auto stored_type,
                                std::vector<float>& buffer) {
    using Stored = decltype(stored_type);
    float* scalars = workspace.Fit(buffer, prepared.encoded);
    for (int64_t t = 0; t < prepared.encoded; ++t) {
      const uint8_t* side = layer.pages[t / page_tokens_[l]].data() +
                            side_offset + t % page_tokens_[l] * sizeof(Stored);
      Stored stored;
      std::memcpy(&stored, side, sizeof(stored));
      if constexpr (std::is_same_v<Stored, uint16_t>) {
        scalars[t] = HalfBitsToFloat(stored);
      } else {
        scalars[t] = stored;
      }
    }
    return scalars;
  };
  if (values_on_codes) {
    prepared.factors =
        side_scalars(page_layouts_[l].value_side, float{}, workspace.factors);
  }
  if (keys_on_codes) {
    prepared.norms =
        side_scalars(page_layouts_[l].key_side, uint16_t{}, workspace.norms);
  } else {
    for (int64_t t = 0; t < prepared.encoded; ++t) {
      for (int g = 0; g < kv_heads; ++g) {
        rope_.RotateHead(&rope_cos_[t * pairs], &rope_sin_[t * pairs],
                         keys + t * row + g * head_dim);
      }
    }
  }
  // Every slot's kernel scratch, for the longest query of the call.
  const int64_t slot_floats =
      (SlotScratchBytes(l, prepared.max_tokens) + sizeof(float) - 1) /
      sizeof(float);
  workspace.Fit(workspace.slots, Slots());
  for (int s = 0; s < Slots(); ++s) {
    workspace.Fit(workspace.slots[s], slot_floats);
  }

  timer.Lap(&AttendPhaseTimes::prepare_ms);
  for (int64_t i = 0; i < prepared.num_queries; ++i) {
    AttendQuery(l, prepared, i, workspace,
                out + i * int64_t{num_heads} * head_dim);
  }
  return absl::OkStatus();
}

int64_t CompressedKvCache::SlotScratchBytes(int l, int64_t n) const {
  const CompressedCacheCodecs::Layer& codec = codecs_->layer(l);
  const int group = shape().group_size();
  int64_t bytes = 0;
  if (codec.key_arrays) {
    bytes = UseTableKernel()
                ? static_cast<int64_t>(codec.key_arrays->floats_per_head() *
                                       sizeof(float))
                : kernels_.key_decoding_scratch_bytes(
                      codec.key_arrays->head(0), group);
  }
  if (codec.value_params != nullptr) {
    bytes = std::max({bytes,
                      kernels_.accumulate_values_scratch_bytes(
                          shape().num_heads, n),
                      kernels_.value_product_scratch_bytes(
                          codec.value_params->num_code_bits, group,
                          shape().head_dim)});
  }
  return bytes;
}

int CompressedKvCache::Slots() const {
  return options_.pool == nullptr ? 1
                                  : std::max(1, options_.pool->num_threads());
}

void CompressedKvCache::ParallelItems(
    int64_t count, absl::FunctionRef<void(int64_t, int)> run) const {
  const int64_t parts = std::min<int64_t>(count, Slots());
  if (parts <= 1) {
    for (int64_t item = 0; item < count; ++item) run(item, 0);
    return;
  }
  // The pool's std::function holds a lambda of one reference inline: no
  // allocation.
  struct Split {
    absl::FunctionRef<void(int64_t, int)> run;
    int64_t count;
    int64_t parts;
  } split{run, count, parts};
  options_.pool->ParallelFor(0, parts, 1, [&split](int64_t begin, int64_t end) {
    for (int64_t part = begin; part < end; ++part) {
      for (int64_t item = split.count * part / split.parts;
           item < split.count * (part + 1) / split.parts; ++item) {
        split.run(item, static_cast<int>(part));
      }
    }
  });
}

void CompressedKvCache::AttendQuery(int l, const Prepared& prepared, int64_t i,
                                    Workspace& workspace, float* out) const {
  const Layer& layer = layers_[l];
  const CompressedCacheCodecs::Layer& codec = codecs_->layer(l);
  const int num_heads = shape().num_heads;
  const int kv_heads = shape().num_kv_heads;
  const int group = shape().group_size();
  const int head_dim = shape().head_dim;
  const int64_t row = int64_t{kv_heads} * head_dim;
  const int64_t pairs = rope_.num_pairs();
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  const int64_t n = prepared.positions[i] + 1;
  const int64_t encoded = std::min(n, layer.encoded);
  const int64_t window = n - encoded;
  const int64_t page_tokens = page_tokens_[l];
  const float* queries = prepared.queries + i * int64_t{num_heads} * head_dim;
  // scores[h * n + t]: the scores, then the weights, of query head h (every
  // element is written before it is read).
  float* scores = workspace.Fit(workspace.scores, int64_t{num_heads} * n);
  PhaseTimer timer(options_.phase_times);

  // KV head kv_head's columns of a [tokens, kv_heads, head_dim] buffer; null
  // for a missing or empty one (no offset may be added to null).
  const auto head_column = [&](const float* rows,
                               int kv_head) -> const float* {
    return rows == nullptr ? nullptr : rows + int64_t{kv_head} * head_dim;
  };

  // Keys: the encoded tokens' scores, split over (KV head, token chunk)
  // items so that every thread has work even with few KV heads; chunks are
  // whole pages.
  const int64_t num_pages = (encoded + page_tokens - 1) / page_tokens;
  const int64_t chunks = std::min<int64_t>(num_pages, Slots());
  const auto key_item = [&](int64_t item, int slot) {
    const int kv_head = static_cast<int>(item / chunks);
    const int64_t chunk = item % chunks;
    const int64_t page_begin = num_pages * chunk / chunks;
    const int64_t page_end = num_pages * (chunk + 1) / chunks;
    const int64_t begin_token = page_begin * page_tokens;
    const int64_t end_token = std::min(encoded, page_end * page_tokens);
    const float* group_queries = queries + int64_t{kv_head} * group * head_dim;
    float* group_scores = scores + int64_t{kv_head} * group * n;
    if (!codec.key_arrays) {
      for (int q = 0; q < group; ++q) {
        kernels_.dense_scores(
            group_queries + q * head_dim,
            head_column(prepared.keys, kv_head) + begin_token * row, row,
            head_dim, end_token - begin_token, scale,
            group_scores + q * n + begin_token);
      }
      return;
    }
    const CommvqKeyArrays& arrays = *codec.key_arrays;
    const KeyCodebookArrays codebooks = arrays.head(kv_head);
    const auto page_keys = [&](int64_t begin) {
      PackedKeyCodes keys;
      keys.codes = layer.pages[begin / page_tokens].data() +
                   page_layouts_[l].key_codes;
      keys.code_stride = codec.quantizers.key->layout().code_bytes;
      keys.first_code = int64_t{kv_head} * arrays.stages;
      keys.norms = prepared.norms + begin;
      keys.cos = &rope_cos_[begin * pairs];
      keys.sin = &rope_sin_[begin * pairs];
      keys.n = std::min(page_tokens, encoded - begin);
      return keys;
    };
    float* scratch = workspace.slots[slot].data();
    if (UseTableKernel()) {
      for (int q = 0; q < group; ++q) {
        kernels_.build_key_score_table(codebooks, group_queries + q * head_dim,
                                       scratch);
        for (int64_t begin = begin_token; begin < end_token;
             begin += page_tokens) {
          kernels_.key_scores_from_table(codebooks, scratch, page_keys(begin),
                                         scale, group_scores + q * n + begin);
        }
      }
    } else {
      const int16_t* planes =
          arrays.planes.data() + kv_head * arrays.entries_per_head_planes();
      const float* pair_scale = arrays.pair_scale.data() + kv_head * pairs;
      for (int64_t begin = begin_token; begin < end_token;
           begin += page_tokens) {
        kernels_.key_scores_by_decoding(codebooks, planes, pair_scale,
                                        group_queries, group, page_keys(begin),
                                        scale, group_scores + begin, n,
                                        scratch);
      }
    }
  };
  if (encoded > 0) ParallelItems(kv_heads * chunks, key_item);
  timer.Lap(&AttendPhaseTimes::key_ms);

  // Per query head: the window's scores, one softmax over all tokens, and
  // the values the kernels do not read as codes.
  ParallelItems(num_heads, [&](int64_t h, int) {
    const int kv_head = static_cast<int>(h / group);
    float* weights = scores + h * n;
    kernels_.dense_scores(queries + h * head_dim,
                          head_column(prepared.window_keys, kv_head), row,
                          head_dim, window, scale, weights + encoded);
    kernels_.softmax(weights, n);
    float* head_out = out + h * head_dim;
    std::fill(head_out, head_out + head_dim, 0.0f);
    if (codec.value_params == nullptr) {
      kernels_.dense_weighted_sum(weights, head_column(prepared.values, kv_head),
                                  row, head_dim, encoded, head_out);
    }
    kernels_.dense_weighted_sum(
        weights + encoded,
        head_column(layer.window_values.empty() ? nullptr
                                                : layer.window_values.data(),
                    kv_head),
        row, head_dim, window, head_out);
  });
  timer.Lap(&AttendPhaseTimes::softmax_ms);
  if (codec.value_params != nullptr && encoded > 0) {
    AttendValueCodes(l, prepared, scores, n, encoded, workspace, out);
  }
  timer.Lap(&AttendPhaseTimes::value_ms);
}

void CompressedKvCache::AttendValueCodes(int l, const Prepared& prepared,
                                         const float* weights, int64_t n,
                                         int64_t encoded, Workspace& workspace,
                                         float* out) const {
  const Layer& layer = layers_[l];
  const CompressedCacheCodecs::Layer& codec = codecs_->layer(l);
  const ValueQuantizerParams& params = *codec.value_params;
  const int num_heads = shape().num_heads;
  const int group = shape().group_size();
  const int head_dim = shape().head_dim;
  const int64_t num_bits = params.num_code_bits;
  const int64_t page_tokens = page_tokens_[l];
  // One accumulator for all query heads: a token's code bits are read once
  // for all of them. Threads take disjoint ranges of code bytes.
  const int64_t acc_floats =
      kernels_.value_accumulator_floats(num_bits, num_heads);
  float* acc = workspace.Fit(workspace.value_acc, acc_floats);
  std::fill(acc, acc + acc_floats, 0.0f);
  const int64_t num_pages = (encoded + page_tokens - 1) / page_tokens;
  const uint8_t** pages = workspace.Fit(workspace.value_pages, num_pages);
  for (int64_t p = 0; p < num_pages; ++p) {
    pages[p] = layer.pages[p].data() + page_layouts_[l].value_codes;
  }
  const int64_t code_bytes = (num_bits + 7) / 8;
  const int64_t parts = std::min<int64_t>(code_bytes, Slots());
  ParallelItems(parts, [&](int64_t part, int slot) {
    kernels_.accumulate_values(
        weights, n, num_heads, prepared.factors, pages, page_tokens,
        codec.quantizers.value->layout().code_bytes, num_bits,
        code_bytes * part / parts, code_bytes * (part + 1) / parts, encoded,
        acc, workspace.slots[slot].data());
  });
  ParallelItems(shape().num_kv_heads, [&](int64_t kv_head, int slot) {
    kernels_.value_product(acc, num_heads, static_cast<int>(kv_head) * group,
                           group, params.codebook.data(),
                           params.channel_scale.data(), num_bits, params.dim,
                           kv_head * head_dim, head_dim,
                           out + kv_head * group * head_dim,
                           workspace.slots[slot].data());
  });
}

absl::Status AttendBatch(absl::Span<const CompressedKvCache* const> caches,
                         int layer, const TensorView& queries,
                         const MutableTensorView& out, ThreadPool* pool) {
  if (caches.empty()) return absl::OkStatus();
  const AttentionShape& shape = caches[0]->shape();
  const int64_t batch = static_cast<int64_t>(caches.size());
  CVQ_RETURN_IF_ERROR(CheckTensor(queries, "queries", DType::kF32,
                                  {batch, shape.num_heads, shape.head_dim}));
  CVQ_RETURN_IF_ERROR(CheckTensor(out, "out", DType::kF32,
                                  {batch, shape.num_heads, shape.head_dim}));
  for (int64_t b = 0; b < batch; ++b) {
    if (&caches[b]->codecs() != &caches[0]->codecs()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "AttendBatch: sequence ", b, " uses other codecs than sequence 0"));
    }
    if (layer < 0 || layer >= shape.num_layers ||
        caches[b]->length(layer) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "AttendBatch: sequence ", b, " has no tokens in layer ", layer));
    }
  }
  std::vector<absl::Status> status(batch);
  const auto attend = [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const int64_t position = caches[b]->length(layer) - 1;
      status[b] = caches[b]->Attend(layer, queries.Rows(b, 1),
                                    absl::MakeConstSpan(&position, 1),
                                    out.Rows(b, 1));
    }
  };
  if (pool == nullptr) {
    attend(0, batch);
  } else {
    pool->ParallelFor(0, batch, 1, attend);
  }
  for (const absl::Status& s : status) CVQ_RETURN_IF_ERROR(s);
  return absl::OkStatus();
}

}  // namespace commvq
