#!/usr/bin/env bash
# Every GPU test of the suite through cusim's simulated driver, each in its own process (as tools/gpu-run.sh
# does on a GPU), two at a time, with a per-test time limit: the engine's CUDA path checked on the CPU.
#   tools/cusim/run_gpu_tests.sh [PATTERN]          # default: every test whose name says cuda / wgmma
# Environment: TEST_TIMEOUT (s, default 1800), JOBS (default 2), OUT (default target/cusim/gpu-tests),
# IPDPP_TEST_ARCHS=resnet32 to keep the whole-network v6/v7 test within the simulator's time.
# Writes OUT/<test>.log and OUT/summary.txt (test, exit status, seconds); exit 1 if any test failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
PATTERN=${1:-cuda|wgmma}
OUT=${OUT:-target/cusim/gpu-tests}
python3 tools/cusim/build_driver.py >/dev/null || exit 1
cargo test --release --test it --no-run 2>/dev/null
BIN=$(ls -t target/release/deps/it-* | grep -v '\.d$' | head -1)
mkdir -p "$OUT"
: > "$OUT/summary.txt"
export LD_LIBRARY_PATH=$PWD/target/cusim/driver
# cuBLAS has no stand-in; a test that asks "without a Hopper" cannot hold on the simulated sm_90 device.
SKIP='cuda_pool_shortcut_linear_match_cpu|wgmma_bench_without_a_hopper_gpu_is_a_usage_error|explicit_cuda_without_gpu|bench_gemm_explains_missing_gpu|cusim::'
TESTS=$("$BIN" --list 2>/dev/null | sed -n 's/: test$//p' | grep -E "$PATTERN" | grep -vE "$SKIP")
one() {
  local t=$1 s=$(date +%s)
  timeout "${TEST_TIMEOUT:-1800}" "$BIN" --exact "$t" --nocapture --test-threads 1 > "$OUT/${t//::/.}.log" 2>&1
  echo "$t rc=$? $(( $(date +%s) - s )) s" >> "$OUT/summary.txt"
}
for t in $TESTS; do
  while [ "$(jobs -r | wc -l)" -ge "${JOBS:-2}" ]; do sleep 1; done
  one "$t" &
done
wait
cat "$OUT/summary.txt"
! grep -qv ' rc=0 ' "$OUT/summary.txt"
