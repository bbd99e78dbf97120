#!/usr/bin/env bash
# Runs on the GPU machine from the repository root: every test, the kernel benchmarks and the
# PyTorch side-by-side; logs and JSON under $OUT. Each step has its own time limit and a failure
# does not stop the rest. Try it here first: OUT=/tmp/out bash .gpu/run.sh (no GPU: tests skip).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/.gpu/out}
mkdir -p "$OUT"
BIN=.gpu/bin
export IPDPP_BIN=$PWD/$BIN/ipdpp IPDPP_SOURCE_DIR=$PWD IPDPP_CACHE_DIR=$OUT/ptx-cache
SUMMARY=$OUT/summary.txt
: > "$SUMMARY"
step() { # name timeout_s command...
  local name=$1 t=$2; shift 2
  local t0=$(date +%s.%N)
  timeout "$t" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  local dt=$(python3 -c "print(f'{$(date +%s.%N)-$t0:.1f}')" 2>/dev/null || echo '?')
  printf '%-28s rc=%-3s %6ss\n' "$name" "$rc" "$dt" | tee -a "$SUMMARY"
}
echo "commit $(cat .gpu/COMMIT 2>/dev/null)  $(date -u +%FT%TZ)" | tee -a "$SUMMARY"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv > "$OUT/nvidia-smi.csv" 2>&1
step info            30  $BIN/ipdpp info
step info_json       30  $BIN/ipdpp info --json
step kernels         120 $BIN/ipdpp kernels
step tests           300 $BIN/it --test-threads=1 --nocapture
step demo            60  $BIN/ipdpp --device cuda demo
step bench_gemm_4096 180 $BIN/ipdpp --device cuda bench gemm --m 4096 --n 4096 --k 4096 --out "$OUT/bench_gemm_4096.json"
step bench_gemm_tn   120 $BIN/ipdpp --device cuda bench gemm --m 4096 --n 4096 --k 4096 --ta --versions v2,v3,cublas --out "$OUT/bench_gemm_4096_ta.json"
# BNS loss: engine versions, then PyTorch eager on the same card with the ratio.
for form in code paper; do
  step bench_bns_$form 180 $BIN/ipdpp --device cuda bench bns --n 8192 --dim 128 --loss $form --out "$OUT/bench_bns_$form.json"
  step torch_bns_$form 180 python3 tools/pytorch_reference.py --what bns --n 8192 --dim 128 --loss $form --engine-report "$OUT/bench_bns_$form.json"
done
# ResNet training step (when the bench exists in this build).
if $BIN/ipdpp bench --help 2>/dev/null | grep -q resnet; then
  for prec in fp32 tf32 bf16; do
    step bench_resnet18_$prec 180 $BIN/ipdpp --device cuda bench resnet --arch resnet18 --batch 256 --precision $prec --out "$OUT/bench_resnet18_$prec.json"
  done
  if grep -q resnet tools/pytorch_reference.py; then
    step torch_resnet18_eager 240 python3 tools/pytorch_reference.py --what resnet --arch resnet18 --batch 256 --engine-report "$OUT/bench_resnet18_fp32.json"
  fi
fi
grep -h "skipped: no CUDA device" "$OUT/tests.log" | head -3 >> "$SUMMARY"
grep -hE "^test result|passed|failed" "$OUT/tests.log" | tail -2 >> "$SUMMARY"
tail -n 3 "$SUMMARY"
