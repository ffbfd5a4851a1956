#!/usr/bin/env bash
# Installs everything CommVQ needs on Debian 12 and checks the result.
# Idempotent: packages already present are not reinstalled, and apt is only
# contacted when something is missing. Run as root (or with sudo available).
set -euo pipefail

APT_PACKAGES=(
  bazel-bootstrap      # Bazel 4.2.3, used offline through third_party/shims
  g++ clang            # gcc builds; clang builds the libFuzzer targets
  libclang-rt-14-dev   # libFuzzer and sanitizer runtimes for clang
  pkg-config           # third_party/absl reads link flags from it
  libabsl-dev          # @com_google_absl
  libprotobuf-dev protobuf-compiler  # @com_google_protobuf
  libgtest-dev libgmock-dev          # @com_google_googletest
  libbenchmark-dev                   # @com_github_google_benchmark
  python3              # testing/ci scripts
)

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

missing=()
for package in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$package")
  fi
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Check that what the build relies on is really there.
fail() { echo "setup: $*" >&2; exit 1; }
command -v bazel >/dev/null || fail "bazel not found after installing bazel-bootstrap"
pkg-config --exists absl_statusor || fail "pkg-config cannot find absl_statusor (libabsl-dev)"
command -v protoc >/dev/null || fail "protoc not found (protobuf-compiler)"
[[ -f /usr/include/gtest/gtest.h && -f /usr/include/gmock/gmock.h ]] || fail "GoogleTest headers missing (libgtest-dev, libgmock-dev)"
[[ -f /usr/include/benchmark/benchmark.h ]] || fail "Google Benchmark headers missing (libbenchmark-dev)"
command -v clang >/dev/null || fail "clang not found"
if [[ -x "${CUDA_PATH:-/usr/local/cuda}/bin/nvcc" ]]; then
  echo "setup: CUDA toolkit at ${CUDA_PATH:-/usr/local/cuda}: CUDA targets will be built" >&2
else
  echo "setup: no CUDA toolkit at ${CUDA_PATH:-/usr/local/cuda}: CUDA targets will be skipped" >&2
fi
echo "setup: ok" >&2
