#include "commvq/quantizer/commvq_key/key_test_data.h"

#include <cmath>
#include <utility>

#include "commvq/base/random.h"

namespace commvq {
namespace testing {

KeyCodebook RandomKeyCodebook(const KeyCodebookShape& shape, float scale,
                              uint64_t seed) {
  Rng rng(seed);
  std::vector<float> z(shape.num_floats());
  rng.FillNormal(absl::MakeSpan(z), 0.0f, scale);
  return *KeyCodebook::Create(shape, std::move(z));
}

std::vector<float> KeyLikeRows(int64_t rows, int64_t head_dim, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> mean(head_dim);
  std::vector<float> scale(head_dim);
  for (int64_t c = 0; c < head_dim; ++c) {
    const bool outlier = c % 16 == 5;
    mean[c] = outlier ? ((c / 16) % 2 == 0 ? 4.0f : -4.0f)
                      : static_cast<float>(0.3 * rng.Normal());
    scale[c] =
        static_cast<float>((outlier ? 10.0 : 1.0) * (0.5 + rng.Uniform()));
  }
  std::vector<float> x(rows * head_dim);
  rng.FillNormal(absl::MakeSpan(x), 0.0f, 1.0f);
  // Roughly unit norm: the outliers dominate at ~10 per 16 channels.
  const double unit = 1.0 / (10.0 * std::sqrt(head_dim / 16.0 + 1.0));
  for (int64_t r = 0; r < rows; ++r) {
    const double token_scale = unit * (0.5 + rng.Uniform());
    for (int64_t c = 0; c < head_dim; ++c) {
      float& value = x[r * head_dim + c];
      value = static_cast<float>((mean[c] + scale[c] * value) * token_scale);
    }
  }
  return x;
}

std::vector<KeyCodebook> RandomKeyStages(const KeyCodebookShape& shape,
                                         int stages, uint64_t seed) {
  std::vector<KeyCodebook> codebooks;
  float scale = 1.0f / std::sqrt(static_cast<float>(shape.head_dim));
  for (int s = 0; s < stages; ++s) {
    codebooks.push_back(RandomKeyCodebook(shape, scale, seed + s));
    scale *= 0.6f;
  }
  return codebooks;
}

std::vector<KeyCodebook> TiedKeyStages(const KeyCodebookShape& shape,
                                       int stages, uint64_t seed) {
  const int values = shape.num_values();
  std::vector<KeyCodebook> codebooks;
  for (int s = 0; s < stages; ++s) {
    const KeyCodebook random = RandomKeyCodebook(shape, 0.3f, seed + s);
    std::vector<float> z(random.z().begin(), random.z().end());
    for (int64_t j = 0; j < shape.num_pairs(); ++j) {
      for (int v = values / 2; v < values; ++v) {
        z[(j * values + v) * 2] = z[(j * values + v / 2) * 2];
        z[(j * values + v) * 2 + 1] = z[(j * values + v / 2) * 2 + 1];
      }
    }
    codebooks.push_back(*KeyCodebook::Create(shape, std::move(z)));
  }
  return codebooks;
}

std::vector<float> TiedKeyRows(const std::vector<KeyCodebook>& stages,
                               uint64_t seed) {
  const KeyCodebookShape& shape = stages.front().shape();
  const int values = shape.num_values();
  std::vector<float> rows(shape.head_dim, 0.0f);
  for (int a = values - 1; a >= values / 2; --a) {
    std::vector<float> centre(shape.head_dim, 0.0f);
    stages[0].AddCentre(a, values - 1 - a / 2, centre.data());
    rows.insert(rows.end(), centre.begin(), centre.end());
  }
  const std::vector<float> noise = KeyLikeRows(30, shape.head_dim, seed);
  rows.insert(rows.end(), noise.begin(), noise.end());
  return rows;
}

}  // namespace testing
}  // namespace commvq
