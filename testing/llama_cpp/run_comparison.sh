#!/usr/bin/env bash
# Compares SmolLM2's next-token logits with llama.cpp. Builds llama-cpp-python
# from source (PyPI sdist, ~20 minutes on 2 cores, once) into
# .cache/llama-cpp-venv, then runs the manual test //testing/llama_cpp:...
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=.cache/llama-cpp-venv
if ! "$venv/bin/python" -c "import llama_cpp, numpy" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q numpy
  CMAKE_ARGS="-DGGML_NATIVE=OFF" "$venv/bin/python" -m pip install -q llama-cpp-python
fi
bazel test //testing/llama_cpp:llama_cpp_reference_test --test_output=all \
  --test_env=COMMVQ_LLAMA_CPP_PYTHON="$PWD/$venv/bin/python"
