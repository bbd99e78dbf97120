#!/usr/bin/env bash
# Runs on the GPU machine from the repository root: every CUDA test (one process each, so a kernel that
# faults cannot take the others down), a short CUDA pipeline, the kernel benchmarks and the PyTorch
# side-by-side; logs and JSON under $OUT. Each step has its own time limit, a failure does not stop the
# rest, and steps are skipped once the overall budget (GPU_BUDGET_S, default 420 s) runs out, most
# important first. GPU_STEPS picks groups (default "tests pipeline bench torch"; add "compile" for
# torch.compile). Try it here first: OUT=/tmp/out bash .gpu/run.sh (no GPU: tests skip).
set -uo pipefail
cd "$(dirname "$0")/.."
# Only a few files come back from $OUT (8 at most): logs and JSON go to a work folder that is packed into
# one archive at the end, beside summary.txt.
FINAL=${OUT:-$PWD/.gpu/out}
mkdir -p "$FINAL"
OUT=$(mktemp -d /tmp/ipdpp-gpu-run.XXXX)
BIN=.gpu/bin
STEPS=${GPU_STEPS:-tests pipeline bench torch}
has() { [[ " $STEPS " == *" $1 "* ]]; }
export IPDPP_BIN=$PWD/$BIN/ipdpp IPDPP_SOURCE_DIR=$PWD IPDPP_CACHE_DIR=/tmp/ipdpp-ptx-cache
# The image has no OpenBLAS/LAPACKE (carried, see gpu-bundle.sh); cuBLAS may sit in the CUDA tree or in
# PyTorch's wheels.
if [ -f .gpu/libs.tar.xz ]; then
  mkdir -p /tmp/ipdpp-lib && tar -xJf .gpu/libs.tar.xz -C /tmp/ipdpp-lib
fi
CUBLAS_DIR=$(dirname "$(ls /usr/local/cuda/lib64/libcublas.so* /usr/local/cuda/targets/*/lib/libcublas.so* \
  $(python3 -c 'import nvidia,os;print(os.path.dirname(nvidia.__path__[0]))' 2>/dev/null)/nvidia/*/lib/libcublas.so* \
  2>/dev/null | sed -n 1p)" 2>/dev/null)
[ "$CUBLAS_DIR" = . ] && CUBLAS_DIR=
export LD_LIBRARY_PATH=/tmp/ipdpp-lib:${CUBLAS_DIR:-/usr/local/cuda/lib64}:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
SUMMARY=$OUT/summary.txt
: > "$SUMMARY"
T0=$(date +%s)
BUDGET=${GPU_BUDGET_S:-420}
step() { # name timeout_s command...
  local name=$1 t=$2; shift 2
  local left=$((BUDGET - ($(date +%s) - T0)))
  if [ "$left" -lt 15 ]; then
    printf '%-52s skipped (budget)\n' "$name" | tee -a "$SUMMARY"
    return
  fi
  [ "$t" -gt "$left" ] && t=$left
  local t1=$(date +%s)
  timeout "$t" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  printf '%-52s rc=%-3s %4ss\n' "$name" "$rc" "$(($(date +%s) - t1))" | tee -a "$SUMMARY"
}
echo "commit $(cat .gpu/COMMIT 2>/dev/null)  $(date -u +%FT%TZ)  steps: $STEPS" | tee -a "$SUMMARY"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader | tee -a "$SUMMARY"
echo "cublas dir: ${CUBLAS_DIR:-none found}" >> "$SUMMARY"
ldd $BIN/ipdpp | grep -i "not found" >> "$SUMMARY"
step info 20 $BIN/ipdpp info
step kernels 120 $BIN/ipdpp kernels
if has tests; then
  # Every test that touches the GPU (names hold cuda, tensor_core, tf32 or nvrtc), one process each.
  $BIN/it --list 2>/dev/null | sed -n 's/: test$//p' | grep -E 'cuda|tensor_core|tf32|nvrtc' > "$OUT/gpu-tests.txt"
  while read -r t; do
    step "test_${t//::/.}" 90 $BIN/it --exact "$t" --nocapture --test-threads=1
  done < "$OUT/gpu-tests.txt"
  step selfcheck 60 $BIN/ipdpp --device cuda demo --selfcheck
fi
if has pipeline; then
  # A short CIFAR-10-LT run through the GPU training loop (the long one is pipeline.sh, a call of its own).
  step data_import 60 $BIN/ipdpp data import .gpu/data/cifar10lt-jpeg --out /tmp/cifar10lt
  step pipeline_short ${PIPELINE_SHORT_S:-75} $BIN/ipdpp --device cuda run --data /tmp/cifar10lt --imbalance 100 \
    --preset paper --epochs-scale ${PIPELINE_SHORT_SCALE:-0.01} --name short --runs-dir "$OUT/runs"
fi
if has bench; then
  step bench_gemm_4096 60 $BIN/ipdpp --device cuda bench gemm --m 4096 --n 4096 --k 4096 --out "$OUT/bench_gemm_4096.json"
  for form in code paper; do
    step bench_bns_$form 60 $BIN/ipdpp --device cuda bench bns --n 8192 --dim 128 --loss $form --out "$OUT/bench_bns_$form.json"
  done
  for prec in bf16 tf32 fp32; do
    step bench_r18_$prec 90 $BIN/ipdpp --device cuda bench resnet --arch resnet18 --batch 1024 --precision $prec --steps 5 \
      --out "$OUT/r18_$prec.json" --trace "$OUT/r18_${prec}_trace.json"
  done
  step bench_r32_bf16 60 $BIN/ipdpp --device cuda bench resnet --arch resnet32 --batch 1024 --precision bf16 --steps 5 --out "$OUT/r32_bf16.json"
fi
if has torch; then
  for form in code paper; do
    step torch_bns_$form 60 python3 tools/pytorch_reference.py --what bns --n 8192 --dim 128 --loss $form --engine-report "$OUT/bench_bns_$form.json"
  done
  step torch_r18_fp32 90 python3 tools/pytorch_reference.py --what resnet --arch resnet18 --batch 1024 --precision fp32 --engine-report "$OUT/r18_tf32.json"
  step torch_r18_bf16 90 python3 tools/pytorch_reference.py --what resnet --arch resnet18 --batch 1024 --precision bf16 --engine-report "$OUT/r18_bf16.json"
fi
if has compile; then
  step torch_r18_bf16_compile 200 python3 tools/pytorch_reference.py --what resnet --arch resnet18 --batch 1024 --precision bf16 --compile --engine-report "$OUT/r18_bf16.json"
fi
{
  echo "--- failures (first lines of each failing log)"
  for f in "$OUT"/test_*.log; do
    [ -f "$f" ] || continue
    grep -qE "test result: ok" "$f" && continue
    echo "## $(basename "$f" .log)"
    grep -E "panicked|assert|error|Error|mismatch|max|FAILED" "$f" | head -8
  done
  for f in "$OUT"/{kernels,selfcheck,pipeline_short,bench_*,torch_*}.log; do
    [ -f "$f" ] || continue
    echo "## $(basename "$f" .log) (tail)"
    tail -n 6 "$f"
  done
} >> "$SUMMARY"
echo "total $(($(date +%s) - T0))s" >> "$SUMMARY"
cp "$SUMMARY" "$FINAL/summary.txt"
tar -czf "$FINAL/reports.tar.gz" -C "$OUT" .
tail -n 60 "$SUMMARY"
