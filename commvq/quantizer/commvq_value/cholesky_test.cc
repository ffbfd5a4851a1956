#include "commvq/quantizer/commvq_value/cholesky.h"

#include <cstdint>
#include <vector>

#include "commvq/base/random.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

// A random symmetric positive definite [m, m] matrix: B B^T + m I.
std::vector<double> Definite(int64_t m, uint64_t seed) {
  Rng rng(seed);
  std::vector<double> b(m * m), a(m * m, 0.0);
  for (double& v : b) v = rng.Normal();
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < m; ++j) {
      for (int64_t k = 0; k < m; ++k)
        a[i * m + j] += b[i * m + k] * b[j * m + k];
    }
    a[i * m + i] += static_cast<double>(m);
  }
  return a;
}

TEST(CholeskyTest, SolvesTheSystem) {
  constexpr int64_t kM = 7;
  const std::vector<double> a = Definite(kM, 1);
  std::vector<double> l = a;
  ASSERT_TRUE(CholeskyInPlace(l, kM));
  std::vector<double> y(kM);
  for (int64_t i = 0; i < kM; ++i) y[i] = static_cast<double>(i) - 2.0;
  const std::vector<double> rhs = y;
  CholeskySolve(l, kM, y.data());
  for (int64_t i = 0; i < kM; ++i) {
    double sum = 0.0;
    for (int64_t j = 0; j < kM; ++j) sum += a[i * kM + j] * y[j];
    EXPECT_NEAR(sum, rhs[i], 1e-9);
  }
}

TEST(CholeskyTest, ColumnsSolveEachColumnAsOneSystem) {
  constexpr int64_t kM = 9;
  constexpr int64_t kK =
      37;  // more than one chunk of columns, the last partial
  std::vector<double> l = Definite(kM, 2);
  ASSERT_TRUE(CholeskyInPlace(l, kM));
  Rng rng(3);
  std::vector<double> y(kM * kK);
  for (double& v : y) v = rng.Normal();
  std::vector<double> columns = y;
  CholeskySolveColumns(l, kM, columns.data(), kK);
  for (int64_t c = 0; c < kK; ++c) {
    std::vector<double> one(kM);
    for (int64_t i = 0; i < kM; ++i) one[i] = y[i * kK + c];
    CholeskySolve(l, kM, one.data());
    for (int64_t i = 0; i < kM; ++i) {
      EXPECT_NEAR(columns[i * kK + c], one[i], 1e-12) << i << ", " << c;
    }
  }
}

TEST(CholeskyTest, RefusesAMatrixThatIsNotDefinite) {
  std::vector<double> a = {1.0, 2.0, 2.0, 1.0};
  EXPECT_FALSE(CholeskyInPlace(a, 2));
}

}  // namespace
}  // namespace commvq
