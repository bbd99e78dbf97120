#!/usr/bin/env bash
# Registers, shared memory and spills of every kernel, with no GPU: NVRTC PTX -> ptxas -v; also ptxas's
# "Potential Performance Loss" notices (C7515: wgmma serialised, the async MMA pipeline lost).
# Needs ptxas: IPDPP_WITH_PTXAS=1 tools/setup.sh. Usage: tools/ptxas-report.sh [sm_90]
set -euo pipefail
cd "$(dirname "$0")/.."
ARCH=${1:-sm_90}
PTXAS=${PTXAS:-.cuda/nvcc/nvidia/cu13/bin/ptxas}
[ -x "$PTXAS" ] || { echo "ptxas not found at $PTXAS: run IPDPP_WITH_PTXAS=1 tools/setup.sh" >&2; exit 2; }
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
cargo run --release -q -- kernels --target "$ARCH" --ptx-dir "$DIR" >/dev/null
for f in "$DIR"/*.ptx; do
  echo "== $(basename "$f")"
  "$PTXAS" -arch="$ARCH" -v "$f" -o /dev/null 2>&1 | grep -E "Compiling entry|Used|spill|Performance Loss" | sed 's/^ptxas info    : //'
done
