#!/usr/bin/env bash
# Keeps the ABI promise checkable: libcommvq.so must export every symbol of
# the golden list (a removed one breaks ABI 1), each in version node COMMVQ_1,
# nothing but cvq_* functions, and carry the SONAME libcommvq.so.1. A new
# symbol must be added to the list in the same change. It must also not need
# any CUDA library: it loads on machines without the toolkit, and backend
# "cuda" dlopens the provider library instead.
set -euo pipefail
lib=$1
golden=$2

fail=0
exported=$(nm -D --defined-only "$lib" | awk '$2 != "A" {print $3}')
names=$(echo "$exported" | sed 's/@.*//' | sort)

missing=$(comm -23 "$golden" <(echo "$names"))
if [[ -n $missing ]]; then
  echo "FAIL: symbols of the golden list no longer exported (ABI break):"
  echo "$missing"
  fail=1
fi
extra=$(comm -13 "$golden" <(echo "$names"))
if [[ -n $extra ]]; then
  echo "FAIL: exported but not in $golden (add new cvq_* functions to it):"
  echo "$extra"
  fail=1
fi
unversioned=$(echo "$exported" | grep -v '@@COMMVQ_1$' || true)
if [[ -n $unversioned ]]; then
  echo "FAIL: exported outside version node COMMVQ_1:"
  echo "$unversioned"
  fail=1
fi
soname=$(objdump -p "$lib" | awk '$1 == "SONAME" {print $2}')
if [[ $soname != libcommvq.so.1 ]]; then
  echo "FAIL: SONAME is '$soname'; expected libcommvq.so.1"
  fail=1
fi
cuda_needed=$(objdump -p "$lib" | awk '$1 == "NEEDED" {print $2}' |
  grep -E '^lib(cuda|cudart|cublas|nvrtc)' || true)
if [[ -n $cuda_needed ]]; then
  echo "FAIL: needs CUDA libraries (they belong in libcommvq_cuda.so):"
  echo "$cuda_needed"
  fail=1
fi
[[ $fail -eq 0 ]] && echo "OK: $(echo "$names" | wc -l) symbols, SONAME $soname"
exit $fail
