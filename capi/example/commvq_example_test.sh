#!/usr/bin/env bash
# Runs the C example on the golden codebook file and checks what it prints:
# the model shape read from the file, every token encoded, the bytes codes
# and side data take (the golden file's 2-bit int keys: 2 + 8 bytes per
# token, fp16 values: 16; 64 tokens) and a finite attention error below 1
# (the compressed cache is closer than no answer).
set -euo pipefail
out=$("$1" "$2" 64)
echo "$out"
grep -q "model golden-model: 1 layers, 4 heads, 2 KV heads, head_dim 4" <<<"$out"
grep -q "64 tokens, 64 encoded: codes and side data take 1664 bytes (fp32: 4096)" <<<"$out"
error=$(sed -n 's/^attention relative error //p' <<<"$out")
awk -v e="$error" 'BEGIN { exit !(e >= 0 && e < 1) }'
echo "OK: relative error $error"
