#!/usr/bin/env bash
# The project's test command: `bazel test` over //... (or the targets given)
# with any extra Bazel flags, then one line `N passed, N failed, N skipped`
# counted over GoogleTest cases of this invocation (testing/ci/
# count_test_results.py). Exit status non-zero if anything failed.
#
#   testing/run_tests.sh                              # everything
#   testing/run_tests.sh --config=asan //commvq/...   # core under ASan+UBSan
#
# CVQ_TEST_SUMMARY=FILE appends the three counts to FILE (used by .ci/run).
set -uo pipefail
cd "$(dirname "$0")/.."

flags=()
targets=()
# Target patterns start with // (or @repo//); everything else is a Bazel
# flag or a flag's value (e.g. `--define cuda=off`).
for arg in "$@"; do
  if [[ $arg == //* || $arg == @* ]]; then targets+=("$arg"); else flags+=("$arg"); fi
done
((${#targets[@]})) || targets=(//...)

bep=$(mktemp "${TMPDIR:-/tmp}/commvq-bep.XXXXXX.json")
trap 'rm -f "$bep"' EXIT
# --keep_going: one target that fails to build must not hide the others.
bazel test --keep_going "${flags[@]}" --build_event_json_file="$bep" -- "${targets[@]}"
bazel_status=$?

summary=()
[[ -n ${CVQ_TEST_SUMMARY:-} ]] && summary=(--summary-file "$CVQ_TEST_SUMMARY")
python3 testing/ci/count_test_results.py "$bep" "${summary[@]}"
count_status=$?
# Bazel exits 4 when there is no test target to run: not a failure here. A
# non-test target that failed to build makes bazel fail without any test
# failing: count it, so the summary line never reads "0 failed" then.
if [[ $bazel_status -ne 0 && $bazel_status -ne 4 ]]; then
  if [[ $count_status -eq 0 ]]; then
    echo "FAILED bazel exited with status $bazel_status (a target failed to build)" >&2
    [[ -n ${CVQ_TEST_SUMMARY:-} ]] && echo "0 1 0" >> "$CVQ_TEST_SUMMARY"
  fi
  exit 1
fi
[[ $count_status -eq 0 ]] || exit 1
