#!/usr/bin/env bash
# The C example on real data: SmolLM2-135M's layer-0 keys, values and last
# query over 256 tokens (commvq dump-kv), a 2-bit CommVQ key codebook trained
# on them (commvq train-keys, 3 EM iterations: a smoke run, not a quality
# claim), and attention on the compressed cache against full precision.
# Needs the model and texts from setup.sh ($COMMVQ_MODEL_DIR,
# $COMMVQ_TEXT_DIR, $COMMVQ_PYTHON with numpy).
set -euo pipefail
commvq=$1
example=$2
tmp=${TEST_TMPDIR:-$(mktemp -d)}
tokens=256

"$commvq" dump-kv --model "$COMMVQ_MODEL_DIR/SmolLM2-135M-Instruct.Q4_1.gguf" \
  --text "$COMMVQ_TEXT_DIR/calibration.txt" --tokens $tokens \
  --out "$tmp/kv.safetensors" --threads 2
"$commvq" train-keys --kv "$tmp/kv.safetensors" --bits 2 --iters 3 \
  --samples 128 --threads 2 --out "$tmp/keys.cvqcb"

# Layer 0 of the dump as raw f32: keys, values, then the last query.
"$COMMVQ_PYTHON" - "$tmp/kv.safetensors" "$tmp/kv.f32" <<'PY'
import json, struct, sys
import numpy as np
data = open(sys.argv[1], "rb").read()
size = struct.unpack("<Q", data[:8])[0]
header, base = json.loads(data[8:8 + size]), 8 + size
def tensor(name):
    info = header[name]
    begin, end = info["data_offsets"]
    dtype = {"F16": np.float16, "F32": np.float32}[info["dtype"]]
    return np.frombuffer(data[base + begin:base + end], dtype).reshape(info["shape"])
parts = [tensor("layers.0.keys"), tensor("layers.0.values"),
         tensor("layers.0.queries")[-1:]]
np.concatenate([p.astype("<f4").ravel() for p in parts]).tofile(sys.argv[2])
PY

out=$("$example" "$tmp/keys.cvqcb" $tokens "$tmp/kv.f32")
echo "$out"
grep -q ": 30 layers, 9 heads, 3 KV heads, head_dim 64" <<<"$out"
grep -q "$tokens tokens, $tokens encoded" <<<"$out"
error=$(sed -n 's/^attention relative error //p' <<<"$out")
awk -v e="$error" 'BEGIN { exit !(e >= 0 && e < 1) }'
echo "OK: real layer-0 keys, relative attention error $error"
