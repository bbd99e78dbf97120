#!/usr/bin/env bash
# Runs on the GPU machine from the repository root: every test, the kernel benchmarks and the
# PyTorch side-by-side; logs and JSON under $OUT. Each step has its own time limit, a failure does not
# stop the rest, and steps are skipped once the overall budget (GPU_BUDGET_S, default 540 s) runs out,
# most important first. Try it here first: OUT=/tmp/out bash .gpu/run.sh (no GPU: tests skip).
set -uo pipefail
cd "$(dirname "$0")/.."
# Only a few files come back from $OUT (8 at most): logs and JSON go to a work folder that is packed into
# one archive at the end, beside summary.txt.
FINAL=${OUT:-$PWD/.gpu/out}
mkdir -p "$FINAL"
OUT=$(mktemp -d /tmp/ipdpp-gpu-run.XXXX)
BIN=.gpu/bin
export IPDPP_BIN=$PWD/$BIN/ipdpp IPDPP_SOURCE_DIR=$PWD IPDPP_CACHE_DIR=/tmp/ipdpp-ptx-cache
SUMMARY=$OUT/summary.txt
: > "$SUMMARY"
T0=$(date +%s)
BUDGET=${GPU_BUDGET_S:-540}
step() { # name timeout_s command...
  local name=$1 t=$2; shift 2
  local left=$((BUDGET - ($(date +%s) - T0)))
  if [ "$left" -lt 20 ]; then
    printf '%-28s skipped (budget)\n' "$name" | tee -a "$SUMMARY"
    return
  fi
  [ "$t" -gt "$left" ] && t=$left
  local t1=$(date +%s)
  timeout "$t" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  printf '%-28s rc=%-3s %5ss\n' "$name" "$rc" "$(($(date +%s) - t1))" | tee -a "$SUMMARY"
}
echo "commit $(cat .gpu/COMMIT 2>/dev/null)  $(date -u +%FT%TZ)" | tee -a "$SUMMARY"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv > "$OUT/nvidia-smi.csv" 2>&1
step info            30  $BIN/ipdpp info
step kernels         120 $BIN/ipdpp kernels
# Correctness first: every CUDA-vs-CPU test (they skip only when no GPU is seen).
step tests           240 $BIN/it --test-threads=4 --nocapture
step selfcheck       60  $BIN/ipdpp --device cuda demo --selfcheck
step bench_gemm_4096 120 $BIN/ipdpp --device cuda bench gemm --m 4096 --n 4096 --k 4096 --out "$OUT/bench_gemm_4096.json"
for form in code paper; do
  step bench_bns_$form 90 $BIN/ipdpp --device cuda bench bns --n 8192 --dim 128 --loss $form --out "$OUT/bench_bns_$form.json"
done
for prec in fp32 tf32 bf16; do
  step bench_r18_$prec 90 $BIN/ipdpp --device cuda bench resnet --arch resnet18 --batch 1024 --precision $prec --steps 5 \
    --out "$OUT/r18_$prec.json" --trace "$OUT/r18_${prec}_trace.json"
done
step bench_r32_fp32  60  $BIN/ipdpp --device cuda bench resnet --arch resnet32 --batch 1024 --precision fp32 --steps 5 --out "$OUT/r32_fp32.json"
# PyTorch on the same card, with the ratio against the engine reports above.
for form in code paper; do
  step torch_bns_$form 90 python3 tools/pytorch_reference.py --what bns --n 8192 --dim 128 --loss $form --engine-report "$OUT/bench_bns_$form.json"
done
step torch_r18_fp32  120 python3 tools/pytorch_reference.py --what resnet --arch resnet18 --batch 1024 --precision fp32 --engine-report "$OUT/r18_tf32.json"
step torch_r18_bf16  120 python3 tools/pytorch_reference.py --what resnet --arch resnet18 --batch 1024 --precision bf16 --engine-report "$OUT/r18_bf16.json"
grep -h "skipped: no CUDA device" "$OUT/tests.log" | head -3 >> "$SUMMARY"
grep -hE "^test result" "$OUT/tests.log" | tail -1 >> "$SUMMARY"
grep -hE "FAILED|panicked" "$OUT/tests.log" | head -20 >> "$SUMMARY"
echo "total $(($(date +%s) - T0))s" >> "$SUMMARY"
cp "$SUMMARY" "$FINAL/summary.txt"
tar -czf "$FINAL/reports.tar.gz" -C "$OUT" .
tail -n 25 "$SUMMARY"
