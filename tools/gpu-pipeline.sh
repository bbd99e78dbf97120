#!/usr/bin/env bash
# The long CIFAR-10-LT run on the GPU machine, in a device call of its own (issue 7): imports the JPEGs
# carried in .gpu/cifar10lt-jpeg.tar.gz, then runs the whole pipeline with the paper preset at EPOCHS_SCALE (default 0.05:
# 50 stage-1 epochs, 5 probe, 5 stage-2) under a wall-clock cap, writing the run folder under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
FINAL=${OUT:-$PWD/.gpu/out}
OUT=$(mktemp -d /tmp/ipdpp-gpu-pipeline.XXXX)  # packed into one archive at the end (few files come back)
BIN=.gpu/bin
SCALE=${EPOCHS_SCALE:-0.05}
CAP=${PIPELINE_CAP_S:-480}
mkdir -p "$FINAL"
export IPDPP_CACHE_DIR=/tmp/ipdpp-ptx-cache
source .gpu/env.sh
if [ -d /tmp/cifar10lt-jpeg ]; then
  timeout 120 $BIN/ipdpp data import /tmp/cifar10lt-jpeg --out /tmp/cifar10lt > "$OUT/import.log" 2>&1
  $BIN/ipdpp data stats --data /tmp/cifar10lt --dataset cifar10 --imbalance 100 > "$OUT/stats.log" 2>&1
  DATA=(--data /tmp/cifar10lt --imbalance 100)
else
  DATA=()
fi
timeout "$CAP" $BIN/ipdpp --device cuda run "${DATA[@]}" --preset paper --epochs-scale "$SCALE" \
  --name c10lt --runs-dir "$OUT/runs" > "$OUT/pipeline.log" 2>&1
echo "pipeline rc=$? (epochs scale $SCALE, cap ${CAP}s)" >> "$OUT/pipeline.log"
cp "$OUT/pipeline.log" "$FINAL/pipeline.log"
tar -czf "$FINAL/pipeline-run.tar.gz" --exclude="*.safetensors" -C "$OUT" .  # checkpoints are too large to come back
tail -n 30 "$OUT/pipeline.log"
