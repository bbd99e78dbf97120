#!/usr/bin/env bash
# Registers, shared memory and spills of every kernel, with no GPU, and ptxas's "Potential Performance Loss"
# notices (C7510-C7520: a wgmma pipeline serialised). NVRTC compiles each file to a cubin with ptxas -v
# (`ipdpp kernels --ptxas`); no separate ptxas install is needed. Usage: tools/ptxas-report.sh [sm_90a]
set -euo pipefail
cd "$(dirname "$0")/.."
ARCH=${1:-sm_90a}
cargo run --release -q -- kernels --ptxas --target "$ARCH" |
  grep -E "^==|Compiling entry|Used|spill|Performance Loss|injected" | sed 's/^ptxas info    : //'
