#!/usr/bin/env bash
# The GPU checks of the CUDA backend, for a machine with a GPU (nothing here
# needs one to build): builds with CUDA on, runs every test tagged "gpu"
# (each compares a CUDA kernel with its CPU reference), then the decode
# attention benchmark at 32K and 128K tokens (CommVQ-1/2 vs dense bf16).
# Budget: under 10 minutes on a 16-core machine, timeouts included.
#
# Usage: testing/gpu/run_gpu_checks.sh   (from any directory)
set -uo pipefail
cd "$(dirname "$0")/../.."
start=$(date +%s)
elapsed() { echo "$(( $(date +%s) - start )) s"; }

echo "== device"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv ||
  echo "nvidia-smi failed: the tests below will skip"

targets=(//kernels/cuda:all //commvq/backend:all //testing/gpu:all)

echo "== build ($(elapsed))"
if ! timeout 360 bazel build "${targets[@]}"; then
  echo "BUILD FAILED after $(elapsed)"
  exit 1
fi

# The real-dump test needs the model setup.sh downloads; without it, say so
# and run the rest.
tags=gpu
if [[ ! -f .cache/models/SmolLM2-135M-Instruct.Q4_1.gguf ]]; then
  echo "no SmolLM2 model under .cache/models: leaving out tests tagged model"
  tags=gpu,-model
fi

echo "== GPU tests ($(elapsed))"
timeout 150 bazel test --test_tag_filters="${tags}" --test_output=errors \
  --test_summary=short "${targets[@]}"
tests_rc=$?
# A skipped GPU test passes in Bazel's summary; count GoogleTest's own
# results so a run without a working device cannot pass unnoticed.
echo "GoogleTest results (a GPU run should show no SKIPPED):"
cat bazel-testlogs/kernels/cuda/*/test.log \
  bazel-testlogs/commvq/backend/*/test.log \
  bazel-testlogs/testing/gpu/*/test.log 2>/dev/null |
  grep -E '^\[ +(OK|SKIPPED|FAILED) +\] .*\([0-9]+ ms\)$' |
  sed -E 's/^\[ +([A-Z]+) +\].*/\1/' | sort | uniq -c

echo "== attention benchmark ($(elapsed))"
timeout 90 bazel-bin/testing/gpu/attention_benchmark \
  --tokens=32768,131072 --iters=50
bench_rc=$?

echo "== done in $(elapsed): tests rc=${tests_rc}, benchmark rc=${bench_rc}"
[[ ${tests_rc} -eq 0 && ${bench_rc} -eq 0 ]]
