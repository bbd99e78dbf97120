#!/usr/bin/env bash
# Builds everything the GPU machine runs (it has no Rust toolchain) into .gpu/ (git-ignored):
#   .gpu/bin/ipdpp, .gpu/bin/it (the integration-test binary), .gpu/run.sh (from tools/gpu-run.sh).
# Then, from the device tool: run `bash .gpu/run.sh` with carry [".gpu"]; reports land under $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh >/dev/null
cargo build --release --bins
TEST_EXE=$(cargo test --release --no-run --message-format=json 2>/dev/null \
  | python3 -c 'import json,sys
for l in sys.stdin:
    try: m=json.loads(l)
    except Exception: continue
    if m.get("reason")=="compiler-artifact" and m.get("target",{}).get("name")=="it" and m.get("executable"):
        print(m["executable"])')
[ -n "$TEST_EXE" ] || { echo "gpu-bundle: could not find the integration-test executable" >&2; exit 1; }
rm -rf .gpu && mkdir -p .gpu/bin
cp "${CARGO_TARGET_DIR:-target}/release/ipdpp" .gpu/bin/ipdpp
cp "$TEST_EXE" .gpu/bin/it
strip .gpu/bin/ipdpp .gpu/bin/it
cp tools/gpu-run.sh .gpu/run.sh
cp tools/gpu-env.sh .gpu/env.sh
# The GPU image has no OpenBLAS/LAPACKE: carry the shared libraries the binaries link (xz: ~8 MB).
mapfile -t LIBS < <(ldd .gpu/bin/ipdpp | awk '/=> \//{print $3}' | grep -E 'lapack|blas|tmglib|gfortran|quadmath')
mkdir -p .gpu/libtmp
for l in "${LIBS[@]}"; do cp -L "$l" .gpu/libtmp/; done
strip --strip-unneeded .gpu/libtmp/* 2>/dev/null || true
tar -cJf .gpu/libs.tar.xz -C .gpu/libtmp . && rm -rf .gpu/libtmp
# The engine as last measured on a GPU (GPU_BASELINE, a commit; "none" skips it), so that run.sh times
# everything changed since then against it in the same call, on the same card.
BASE=${GPU_BASELINE:-e290d7c}
if [ "$BASE" != none ]; then
  BASE_SRC=${CARGO_TARGET_DIR:-target}/baseline-src
  rm -rf "$BASE_SRC" && mkdir -p "$BASE_SRC"
  git archive "$BASE" | tar -x -C "$BASE_SRC"
  (cd "$BASE_SRC" && CARGO_TARGET_DIR="$PWD/../baseline" cargo build --release --bins -q)
  cp "${CARGO_TARGET_DIR:-target}/baseline/release/ipdpp" .gpu/bin/ipdpp-base
  strip .gpu/bin/ipdpp-base
  git rev-parse --short "$BASE" > .gpu/BASELINE
  echo "gpu-bundle: baseline engine of $(cat .gpu/BASELINE) in .gpu/bin/ipdpp-base"
fi
cp tools/gpu-pipeline.sh .gpu/pipeline.sh
chmod +x .gpu/run.sh .gpu/pipeline.sh
# CIFAR-10-LT (imbalance 100: the first n_i training images of class i, file order) and the whole test
# set as JPEG (~22 MB), imported on the device by pipeline.sh. ../shared is not there.
SRC=${CIFAR10_JPEG:-../shared/data/cifar10-jpeg}
if [ -d "$SRC/train" ] && [ "${GPU_BUNDLE_DATA:-1}" = 1 ]; then
  counts=(5000 2997 1796 1077 645 387 232 139 83 50)
  classes=(airplane automobile bird cat deer dog frog horse ship truck)
  for i in "${!classes[@]}"; do
    c=${classes[$i]}
    mkdir -p ".gpu/data/cifar10lt-jpeg/train/$c" ".gpu/data/cifar10lt-jpeg/test/$c"
    ls "$SRC/train/$c" | sort | sed -n "1,${counts[$i]}p" | sed "s|^|$SRC/train/$c/|" | xargs cp -t ".gpu/data/cifar10lt-jpeg/train/$c"
    cp "$SRC/test/$c"/*.jpg ".gpu/data/cifar10lt-jpeg/test/$c/"
  done
  # One archive: the device tool counts 22k small files by their disk blocks (4 KiB each).
  tar -czf .gpu/cifar10lt-jpeg.tar.gz -C .gpu/data cifar10lt-jpeg && rm -rf .gpu/data
  echo "gpu-bundle: CIFAR-10-LT IF 100 + test set as JPEG in .gpu/cifar10lt-jpeg.tar.gz ($(du -sh .gpu/cifar10lt-jpeg.tar.gz | cut -f1))"
else
  echo "gpu-bundle: no CIFAR-10 JPEG folder at $SRC; pipeline.sh will run on the synthetic set"
fi
# The kernels compiled here (same NVRTC 13.0 as the GPU image; the cache key holds the NVRTC version, so
# a different one there just misses): saves the GPU machine ~50 s of NVRTC per call.
IPDPP_CACHE_DIR="$PWD/.gpu/ptx-cache" "${CARGO_TARGET_DIR:-target}/release/ipdpp" kernels --cache > /dev/null
[ -x .gpu/bin/ipdpp-base ] && IPDPP_CACHE_DIR="$PWD/.gpu/ptx-cache" .gpu/bin/ipdpp-base kernels --cache > /dev/null
# The files run.sh profiles with Nsight Compute, with line information (IPDPP_LINEINFO=1): their expanded
# sources land in .gpu/ptx-cache/src, the text the profile's line numbers refer to.
IPDPP_LINEINFO=1 IPDPP_CACHE_DIR="$PWD/.gpu/ptx-cache" "${CARGO_TARGET_DIR:-target}/release/ipdpp" kernels --cache \
  --files conv_tc6,conv_wgmma,contrastive_wgmma,norm > /dev/null
# Packed (PTX is text: ~10x smaller; with the baseline's kernels the folder alone passed the 64 MiB limit).
tar -cJf .gpu/ptx-cache.tar.xz -C .gpu/ptx-cache . && rm -rf .gpu/ptx-cache
echo "gpu-bundle: PTX cache $(du -sh .gpu/ptx-cache.tar.xz | cut -f1) in .gpu/ptx-cache.tar.xz"
git rev-parse --short HEAD > .gpu/COMMIT 2>/dev/null || echo unknown > .gpu/COMMIT
du -sh .gpu | awk '{print "gpu-bundle: .gpu is " $1 " (limit for everything carried: 64 MiB)"}'
ls -la .gpu/bin
