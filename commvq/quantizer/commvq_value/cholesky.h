// Cholesky factorization and solves for the small dense symmetric systems of
// the value quantizer (the least-squares codebook, the search's relaxed
// start). Double precision, row-major [m, m].
#ifndef COMMVQ_QUANTIZER_COMMVQ_VALUE_CHOLESKY_H_
#define COMMVQ_QUANTIZER_COMMVQ_VALUE_CHOLESKY_H_

#include <cstdint>
#include <vector>

namespace commvq {

// a = L L^T in place (the lower triangle becomes L; the upper is left
// as it was). False when a pivot is not positive (a is not definite).
bool CholeskyInPlace(std::vector<double>& a, int64_t m);

// Solves L L^T y = y in place for the factor `l` of CholeskyInPlace
// (y: [m], one right-hand side).
void CholeskySolve(const std::vector<double>& l, int64_t m, double* y);

// Solves L L^T Y = Y in place for `k` right-hand sides at once (y: [m, k]
// row-major, one column per system), in chunks of columns that stay in
// cache while the factor streams past.
void CholeskySolveColumns(const std::vector<double>& l, int64_t m, double* y,
                          int64_t k);

}  // namespace commvq

#endif  // COMMVQ_QUANTIZER_COMMVQ_VALUE_CHOLESKY_H_
