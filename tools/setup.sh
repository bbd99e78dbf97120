#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian/Ubuntu machine: system libraries for LAPACK/BLAS, and a
# project-local NVRTC 13.0 + CUDA headers so kernels compile (and are tested) without a GPU or toolkit.
# One line per thing found or installed; a second run installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
CUDA_DIR="$ROOT/.cuda"          # git-ignored
NVRTC_VER=13.0.88
CUDART_VER=13.0.96

say() { printf 'setup: %s\n' "$*"; }

# --- system packages -------------------------------------------------------------------------
APT_PKGS=(libopenblas-dev liblapacke-dev pkg-config gcc g++ python3-numpy)
missing=()
for p in "${APT_PKGS[@]}"; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    say "found   $p"
  else
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  for p in "${missing[@]}"; do say "installed $p (apt)"; done
fi

# --- Rust toolchain --------------------------------------------------------------------------
if command -v cargo >/dev/null 2>&1; then
  say "found   $(cargo --version)"
else
  say "error: cargo not found; install Rust (rustup) and rerun" >&2
  exit 1
fi

# --- NVRTC + CUDA headers from PyPI (no GPU, no toolkit needed) --------------------------------
PY=$(command -v python3 || true)
pip_get() { # dir package==version marker
  local dir=$1 pkg=$2 marker=$3
  if [ -e "$dir/$marker" ]; then
    say "found   $pkg ($dir/$marker)"
    return 0
  fi
  if [ -z "$PY" ]; then say "error: python3 is needed to fetch $pkg from PyPI" >&2; exit 1; fi
  mkdir -p "$dir"
  "$PY" -m pip install -q --root-user-action=ignore --disable-pip-version-check --no-deps --target "$dir" "$pkg" >/dev/null
  [ -e "$dir/$marker" ] || { say "error: $pkg installed but $marker is missing" >&2; exit 1; }
  say "installed $pkg -> $dir"
}
pip_get "$CUDA_DIR/nvrtc"  "nvidia-cuda-nvrtc==$NVRTC_VER"    nvidia/cu13/lib/libnvrtc.so.13
pip_get "$CUDA_DIR/cudart" "nvidia-cuda-runtime==$CUDART_VER" nvidia/cu13/include/cuda_bf16.h
# ptxas and nvdisasm (SASS, tools/sass-loops.sh) are optional:
# IPDPP_WITH_PTXAS=1 tools/setup.sh
if [ "${IPDPP_WITH_PTXAS:-0}" = 1 ]; then
  pip_get "$CUDA_DIR/nvcc" "nvidia-cuda-nvcc==$NVRTC_VER" nvidia/cu13/bin/ptxas
  pip_get "$CUDA_DIR/nvdisasm" "nvidia-cuda-nvdisasm==${NVDISASM_VER:-13.5.37}" nvidia/cu13/bin/nvdisasm
fi
# NumPy for tools/cusim (the CUDA-kernel simulator the tests run): the python3 on PATH may not be Debian's
if "$PY" -c "import numpy" 2>/dev/null; then
  say "found   numpy ($("$PY" -c 'import numpy; print(numpy.__version__)'))"
else
  "$PY" -m pip install -q --root-user-action=ignore --disable-pip-version-check numpy >/dev/null
  say "installed numpy (pip, for $PY)"
fi
say "done (NVRTC under .cuda/nvrtc, headers under .cuda/cudart; found automatically by ipdpp)"
