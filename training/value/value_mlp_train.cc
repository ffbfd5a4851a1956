#include "training/value/value_mlp_train.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "commvq/base/random.h"
#include "commvq/base/thread_pool.h"
#include "training/value/value_mlp_grad.h"

namespace commvq {
namespace {

constexpr double kBeta1 = 0.9;
constexpr double kBeta2 = 0.999;
constexpr double kAdamEpsilon = 1e-8;
// Streams of Rng(seed).Fork: initialization, shuffling, Gumbel noise.
constexpr uint64_t kInitStream = 0;
constexpr uint64_t kShuffleStream = 1;
constexpr uint64_t kNoiseStream = 2;
constexpr uint64_t kAttentionNoiseStream = 3;

std::vector<std::vector<float>*> Tensors(ValueEncoderWeights& w) {
  return {&w.ln_gamma, &w.ln_beta, &w.w1, &w.b1, &w.w2, &w.b2};
}

// PyTorch's default Linear initialization: U(-1/sqrt(in), 1/sqrt(in)).
void FillUniform(Rng& rng, double bound, std::vector<float>* v) {
  for (float& x : *v)
    x = static_cast<float>((2.0 * rng.Uniform() - 1.0) * bound);
}

ValueEncoderWeights InitialWeights(int64_t dim, int64_t hidden, int64_t nc,
                                   uint64_t seed) {
  Rng rng = Rng(seed).Fork(kInitStream);
  ValueEncoderWeights w;
  w.hidden = hidden;
  w.ln_gamma.assign(dim, 1.0f);
  w.ln_beta.assign(dim, 0.0f);
  w.w1.resize(hidden * dim);
  w.b1.resize(hidden);
  w.w2.resize(2 * nc * hidden);
  w.b2.resize(2 * nc);
  const double b1 = 1.0 / std::sqrt(static_cast<double>(dim));
  const double b2 = 1.0 / std::sqrt(static_cast<double>(hidden));
  FillUniform(rng, b1, &w.w1);
  FillUniform(rng, b1, &w.b1);
  FillUniform(rng, b2, &w.w2);
  FillUniform(rng, b2, &w.b2);
  return w;
}

class Adam {
 public:
  explicit Adam(const ValueEncoderWeights& w)
      : m_(ZerosLike(w)), v_(ZerosLike(w)) {}

  void Step(double lr, ValueEncoderWeights& grads, ValueEncoderWeights* w) {
    ++t_;
    const double c1 = 1.0 - std::pow(kBeta1, t_);
    const double c2 = 1.0 - std::pow(kBeta2, t_);
    const auto params = Tensors(*w);
    const auto g = Tensors(grads);
    const auto m = Tensors(m_);
    const auto v = Tensors(v_);
    for (size_t k = 0; k < params.size(); ++k) {
      for (size_t i = 0; i < params[k]->size(); ++i) {
        const double gi = (*g[k])[i];
        float& mi = (*m[k])[i];
        float& vi = (*v[k])[i];
        mi = static_cast<float>(kBeta1 * mi + (1.0 - kBeta1) * gi);
        vi = static_cast<float>(kBeta2 * vi + (1.0 - kBeta2) * gi * gi);
        (*params[k])[i] -= static_cast<float>(
            lr * (mi / c1) / (std::sqrt(vi / c2) + kAdamEpsilon));
      }
    }
  }

 private:
  ValueEncoderWeights m_, v_;
  int t_ = 0;
};

void AddInto(ValueEncoderWeights& from, ValueEncoderWeights* to) {
  const auto a = Tensors(from);
  const auto b = Tensors(*to);
  for (size_t k = 0; k < a.size(); ++k) {
    for (size_t i = 0; i < a[k]->size(); ++i) (*b[k])[i] += (*a[k])[i];
  }
}

// Standard Gumbel samples into `noise`.
void FillGumbel(Rng& rng, std::vector<float>* noise) {
  for (float& g : *noise) {
    const double u = std::max(rng.Uniform(), 1e-20);
    g = static_cast<float>(-std::log(-std::log(u) + 1e-20));
  }
}

void Zero(ValueEncoderWeights* w) {
  for (std::vector<float>* t : Tensors(*w))
    std::fill(t->begin(), t->end(), 0.0f);
}

// The attention-output term of block (step mod blocks) with hard
// Gumbel-softmax codes: its gradient goes into `grads` (one per shard of
// kValueMlpShard tokens, summed in order by the caller); returns the term.
double AttentionStep(const ValueAttentionData& data, int64_t step,
                     const ValueEncoderWeights& w, const float* codebook,
                     int64_t nc, double tau, double weight, const Rng& noise,
                     ThreadPool* pool,
                     std::vector<ValueEncoderWeights>* grads) {
  const ValueAttentionBlock& block =
      data.blocks[step % static_cast<int64_t>(data.blocks.size())];
  const int64_t window = data.window;
  const int64_t dim = data.dim();
  const int64_t shards = static_cast<int64_t>(grads->size());
  std::vector<ValueMlpActivations> acts(window);
  std::vector<double> soft(window * 2 * nc), s(window * nc), ds(window * nc);
  const auto parallel = [&](const std::function<void(int64_t)>& token) {
    const auto run = [&](int64_t first, int64_t last) {
      for (int64_t sh = first; sh < last; ++sh) {
        const int64_t end = std::min(window, (sh + 1) * kValueMlpShard);
        for (int64_t t = sh * kValueMlpShard; t < end; ++t) token(t);
      }
    };
    if (pool == nullptr) {
      run(0, shards);
    } else {
      pool->ParallelFor(0, shards, 1, run);
    }
  };
  parallel([&](int64_t t) {
    ValueMlpForward(w, dim, nc, &block.units[t * dim], &acts[t]);
    Rng rng =
        noise.Fork(static_cast<uint64_t>(step)).Fork(static_cast<uint64_t>(t));
    std::vector<float> gumbel(2 * nc);
    FillGumbel(rng, &gumbel);
    GumbelBits(acts[t].logits.data(), gumbel.data(), tau, true, nc,
               &soft[t * 2 * nc], &s[t * nc]);
  });
  const double loss = AttentionOutputLoss(data, block, codebook, nc, s.data(),
                                          weight, ds.data());
  for (ValueEncoderWeights& g : *grads) Zero(&g);
  parallel([&](int64_t t) {
    std::vector<float> dlogits(2 * nc);
    GumbelBitsBackward(&soft[t * 2 * nc], &ds[t * nc], tau, nc, dlogits.data());
    ValueMlpBackward(w, dim, nc, acts[t], dlogits.data(),
                     &(*grads)[t / kValueMlpShard]);
  });
  return loss;
}

}  // namespace

absl::StatusOr<ValueMlpTrainResult> TrainValueMlp(
    const float* units, int64_t n, int64_t dim, const float* codebook,
    int64_t nc, const uint8_t* search_bits,
    const ValueMlpTrainOptions& options) {
  if (n < 1 || dim < 1 || nc < 2 || nc % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "value mlp training: ", n, " rows, dim ", dim, ", ", nc,
        " code bits: expected >= 1 rows, dim >= 1 and an even Nc >= 2"));
  }
  if (options.batch < 1 || options.epochs < 0 || options.distill_epochs < 0 ||
      !(options.learning_rate > 0.0) || !(options.tau > 0.0) ||
      options.hidden < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "value mlp training: batch ", options.batch, ", epochs ",
        options.epochs, ", distill_epochs ", options.distill_epochs,
        ", learning rate ", options.learning_rate, ", tau ", options.tau,
        ", hidden ", options.hidden,
        ": expected batch >= 1, epochs >= 0, rate and tau > 0, hidden >= 0"));
  }
  const bool attend = options.attention != nullptr &&
                      options.attention_weight > 0.0 &&
                      !options.attention->blocks.empty();
  if (attend && (options.attention->dim() != dim ||
                 options.attention->blocks[0].units.size() !=
                     static_cast<size_t>(options.attention->window * dim))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "value mlp training: attention blocks of dim ",
        options.attention->dim(), " (prescaled: ",
        options.attention->blocks[0].units.empty() ? "no" : "yes",
        ") for rows of dim ", dim, ": expected equal dims, prescaled"));
  }
  if (!(options.attention_weight >= 0.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("value mlp training: attention weight ",
                     options.attention_weight, ": expected >= 0"));
  }
  const int64_t hidden =
      options.hidden > 0 ? options.hidden : std::min<int64_t>(4096, 2 * nc);
  ValueMlpTrainResult result;
  result.weights = InitialWeights(dim, hidden, nc, options.seed);
  ValueEncoderWeights& w = result.weights;

  const int64_t steps_per_epoch = (n + options.batch - 1) / options.batch;
  const int distill_epochs =
      search_bits != nullptr ? options.distill_epochs : 0;
  const int64_t total_steps =
      steps_per_epoch * (distill_epochs + options.epochs);
  const int64_t max_shards =
      (options.batch + kValueMlpShard - 1) / kValueMlpShard;
  std::vector<ValueEncoderWeights> shard_grads(max_shards, ZerosLike(w));
  std::vector<double> shard_loss(max_shards);
  const int64_t window = attend ? options.attention->window : 0;
  const int64_t window_shards = (window + kValueMlpShard - 1) / kValueMlpShard;
  std::vector<ValueEncoderWeights> window_grads(window_shards, ZerosLike(w));
  ValueEncoderWeights grads = ZerosLike(w);
  const Rng root(options.seed);
  std::vector<int64_t> order(n);
  int64_t step = 0;

  for (int phase = 0; phase < 2; ++phase) {
    const bool distill = phase == 0;
    const int epochs = distill ? distill_epochs : options.epochs;
    if (epochs == 0) continue;
    Adam adam(w);
    const int64_t phase_steps = steps_per_epoch * epochs;
    for (int epoch = 0; epoch < epochs; ++epoch) {
      std::iota(order.begin(), order.end(), 0);
      Rng shuffle = root.Fork(kShuffleStream)
                        .Fork(static_cast<uint64_t>(phase * 1000003 + epoch));
      for (int64_t i = n - 1; i > 0; --i) {
        std::swap(order[i], order[shuffle.UniformInt(i + 1)]);
      }
      double epoch_loss = 0.0;
      double epoch_attention = 0.0;
      for (int64_t s = 0; s < steps_per_epoch; ++s, ++step) {
        const int64_t begin = s * options.batch;
        const int64_t size = std::min(options.batch, n - begin);
        const int64_t shards = (size + kValueMlpShard - 1) / kValueMlpShard;
        const double weight = 1.0 / static_cast<double>(size);
        const auto run = [&](int64_t first, int64_t last) {
          ValueMlpActivations act;
          std::vector<float> noise(2 * nc, 0.0f), dlogits(2 * nc);
          for (int64_t sh = first; sh < last; ++sh) {
            Zero(&shard_grads[sh]);
            shard_loss[sh] = 0.0;
            const int64_t end = std::min(size, (sh + 1) * kValueMlpShard);
            for (int64_t j = sh * kValueMlpShard; j < end; ++j) {
              const int64_t row = order[begin + j];
              const float* x = units + row * dim;
              ValueMlpForward(w, dim, nc, x, &act);
              if (distill) {
                shard_loss[sh] +=
                    DistillationLoss(act.logits.data(), search_bits + row * nc,
                                     nc, weight, dlogits.data());
              } else {
                Rng rng = root.Fork(kNoiseStream)
                              .Fork(static_cast<uint64_t>(step))
                              .Fork(static_cast<uint64_t>(j));
                FillGumbel(rng, &noise);
                shard_loss[sh] += GumbelReconstructionLoss(
                    act.logits.data(), noise.data(), options.tau, true,
                    codebook, nc, dim, x, weight, dlogits.data());
              }
              ValueMlpBackward(w, dim, nc, act, dlogits.data(),
                               &shard_grads[sh]);
            }
          }
        };
        if (options.pool == nullptr) {
          run(0, shards);
        } else {
          options.pool->ParallelFor(0, shards, 1, run);
        }
        Zero(&grads);
        for (int64_t sh = 0; sh < shards; ++sh) {
          AddInto(shard_grads[sh], &grads);
          epoch_loss += shard_loss[sh] * static_cast<double>(size);
        }
        if (attend && !distill) {
          epoch_attention += AttentionStep(
              *options.attention, step, w, codebook, nc, options.tau,
              options.attention_weight, root.Fork(kAttentionNoiseStream),
              options.pool, &window_grads);
          for (ValueEncoderWeights& g : window_grads) AddInto(g, &grads);
        }
        const int64_t t =
            step - (distill ? 0 : steps_per_epoch * distill_epochs);
        const double lr = options.learning_rate * 0.5 *
                          (1.0 + std::cos(M_PI * static_cast<double>(t) /
                                          static_cast<double>(phase_steps)));
        adam.Step(lr, grads, &w);
        if (options.progress) {
          options.progress(static_cast<double>(step + 1) /
                           static_cast<double>(total_steps));
        }
      }
      (distill ? result.distill_loss : result.reconstruction_loss)
          .push_back(epoch_loss / static_cast<double>(n));
      if (attend && !distill) {
        result.attention_loss.push_back(epoch_attention /
                                        static_cast<double>(steps_per_epoch));
      }
    }
  }
  return result;
}

}  // namespace commvq
