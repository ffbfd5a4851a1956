#!/usr/bin/env bash
# Runs the C example on the golden codebook file and checks what it prints:
# the model shape read from the file, the bytes the codes take (int 2-bit
# keys: 10 bytes per token, fp16 values: 16, for 64 tokens) and a finite
# attention error below 1 (the decoded cache is closer than no answer).
set -euo pipefail
out=$("$1" "$2" 64)
echo "$out"
grep -q "model golden-model: 1 layers, 4 heads, 2 KV heads, head_dim 4" <<<"$out"
grep -q "64 tokens: codes take 1664 bytes (fp32: 4096)" <<<"$out"
error=$(sed -n 's/^attention relative error //p' <<<"$out")
awk -v e="$error" 'BEGIN { exit !(e >= 0 && e < 1) }'
echo "OK: relative error $error"
