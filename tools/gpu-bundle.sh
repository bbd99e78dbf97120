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
cp target/release/ipdpp .gpu/bin/ipdpp
cp "$TEST_EXE" .gpu/bin/it
strip .gpu/bin/ipdpp .gpu/bin/it
cp tools/gpu-run.sh .gpu/run.sh
chmod +x .gpu/run.sh
git rev-parse --short HEAD > .gpu/COMMIT 2>/dev/null || echo unknown > .gpu/COMMIT
du -sh .gpu | awk '{print "gpu-bundle: .gpu is " $1 " (limit for everything carried: 64 MiB)"}'
ls -la .gpu/bin
