#!/usr/bin/env bash
# Runs the README's C program on the golden codebook file's 2-bit int keys
# (dim 8, blocks of one vector) and checks what it prints: the vectors it
# encoded and a relative error that 2-bit codes reach (0 < e < 0.2).
set -euo pipefail
out=$("$1" "$2" layer.0.key)
echo "$out"
error=$(sed -n 's/^4 vectors of 8: relative error //p' <<<"$out")
[[ -n "$error" ]] || { echo "unexpected output" >&2; exit 1; }
awk -v e="$error" 'BEGIN { exit !(e > 0 && e < 0.2) }'
# A missing quantizer is an error with the status message, not a crash.
if "$1" "$2" layer.9.key 2>"$TEST_TMPDIR/err.txt"; then exit 1; fi
grep -q "layer.9.key" "$TEST_TMPDIR/err.txt"
echo OK
