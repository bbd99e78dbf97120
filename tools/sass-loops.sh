#!/usr/bin/env bash
# Instructions in the k-loop of tensor-core convolution kernels, with no GPU: NVRTC PTX -> ptxas -> nvdisasm,
# then per entry point the SASS from its first barrier (v6) or last barrier (v7) to its last MMA, with the
# cp.async (LDGSTS) and MMA counts. The address arithmetic of a k-tile competes with the MMAs for issue
# slots, so this is the number to watch when changing a loader. Needs IPDPP_WITH_PTXAS=1 tools/setup.sh.
# Usage: tools/sass-loops.sh [ENTRY_REGEX]   (default: the bf16/tf32 v6 and v7 kernels)
set -euo pipefail
cd "$(dirname "$0")/.."
PTXAS=${PTXAS:-.cuda/nvcc/nvidia/cu13/bin/ptxas}
NVDISASM=${NVDISASM:-.cuda/nvdisasm/nvidia/cu13/bin/nvdisasm}
for t in "$PTXAS" "$NVDISASM"; do
  [ -x "$t" ] || { echo "$t not found: run IPDPP_WITH_PTXAS=1 tools/setup.sh" >&2; exit 2; }
done
PATTERN=${1:-'^conv_(fwd|bwd_input|bwd_weight)_v[67]_(bf16|tf32)_n(64|128)(_k32s5|_k64s4)?(_strided)?$'}
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
cargo run --release -q -- kernels --target sm_90a --ptx-dir "$DIR" >/dev/null
for f in conv_tc6 conv_wgmma; do
  # The driver JIT-compiles this same PTX on the GPU; NVRTC's own cubin path (`ipdpp kernels --ptxas`) once
  # missed serialised wgmma pipelines that this ptxas reports, so its notices are printed here.
  "$PTXAS" -v -arch=sm_90a "$DIR/$f.sm_90a.ptx" -o "$DIR/$f.cubin" 2>&1 | grep -E "C75[0-9]{2}" || true
  "$NVDISASM" -c "$DIR/$f.cubin" > "$DIR/$f.sass"
  python3 - "$DIR/$f.sass" "$PATTERN" <<'PY'
import re, sys
text, pat = open(sys.argv[1]).read(), re.compile(sys.argv[2])
for name, body in re.findall(r"^\.text\.(\S+):\n(.*?)(?=^\.text\.|\Z)", text, re.S | re.M):
    if not pat.search(name):
        continue
    ins = [l for l in body.splitlines() if re.search(r"/\*[0-9a-f]{4,}\*/", l)]
    bars = [i for i, l in enumerate(ins) if "BAR.SYNC" in l]
    mmas = [i for i, l in enumerate(ins) if re.search(r"\b(HGMMA|HMMA|FFMA)\b", l)]
    if not bars or not mmas:
        continue
    a = bars[-1] if "_v7_" in name else bars[0]
    loop = ins[a:mmas[-1] + 1]
    count = lambda op: sum(1 for l in loop if op in l)
    print(f"{name:42s} {len(loop):5d} instructions  LDGSTS {count('LDGSTS'):2d}  "
          f"MMA {count('HGMMA') + count('HMMA'):3d}  FFMA {count('FFMA'):4d}")
PY
done
