// Early-return helpers for absl::Status / absl::StatusOr.
//
// Debian's abseil 20220623 ships no status_macros.h, so the project defines
// its own, prefixed CVQ_ so they can coexist with a monorepo's versions.
#ifndef COMMVQ_BASE_STATUS_MACROS_H_
#define COMMVQ_BASE_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Evaluates `expr` (an absl::Status) and returns it from the enclosing
// function if it is not OK.
#define CVQ_RETURN_IF_ERROR(expr)                          \
  do {                                                     \
    ::absl::Status cvq_status_ = (expr);                   \
    if (!cvq_status_.ok()) return cvq_status_;             \
  } while (0)

// `CVQ_ASSIGN_OR_RETURN(lhs, rexpr)`: evaluates `rexpr` (an absl::StatusOr<T>),
// returns its status if not OK, else moves the value into `lhs`, which may be
// a declaration (`auto x`) or an existing variable.
#define CVQ_ASSIGN_OR_RETURN(lhs, rexpr) \
  CVQ_ASSIGN_OR_RETURN_IMPL_(CVQ_CONCAT_(cvq_statusor_, __LINE__), lhs, rexpr)

#define CVQ_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                               \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()

#define CVQ_CONCAT_(a, b) CVQ_CONCAT_IMPL_(a, b)
#define CVQ_CONCAT_IMPL_(a, b) a##b

#endif  // COMMVQ_BASE_STATUS_MACROS_H_
