#!/usr/bin/env python3
"""Power check of check_bns.py for BNS v7 (the code form's forward over one triangle, then v6's backward): each
mutant is a copy of kernels/ with one deliberate bug in kernels/contrastive_wgmma.cu, and check_bns.py --only v7
must fail on it (a wrong loss or gradient, or forward sums off the float64 ones). A mutant that passes is a blind
spot.

    python3 tools/cusim/mutants_bns.py [--part K/N]     # ~30 s; exit 1 if any mutant survives
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

import cusim

# (what, old text, new text): each old text occurs once in kernels/contrastive_wgmma.cu.
MUTANTS = [
    ("the flush reads the other tile's slots", "slot[t % 2][w][k][c]", "slot[(t + 1) % 2][w][k][c]"),
    ("the butterfly's last two stages map to swapped column blocks",
     "j0 = 4 * ((lane >> 3) & 1) + 2 * ((lane >> 2) & 1)", "j0 = 2 * ((lane >> 3) & 1) + 4 * ((lane >> 2) & 1)"),
    ("stage 1 sends the half it keeps", "__shfl_xor_sync(0xffffffffu, hi ? v0 : v1, 16)",
     "__shfl_xor_sync(0xffffffffu, hi ? v1 : v0, 16)"),
    ("the second diagonal tile taken as a later one (its pairs counted twice)",
     "if (c0 < r0 + B5_BM) {\n                b6_code_row_sums", "if (c0 < r0 + B5_BN) {\n                b6_code_row_sums"),
    ("no barrier before the last tile's flush", "    __syncthreads();  // the last tile's slots are written\n", ""),
    ("only the last tile's column sums flushed", "            if (t > 0) flush(t - 1);\n", ""),
    ("the float2 gradient pair's second dim takes the first's value", "g[4 * j + 2 * h + 1] * scale));",
     "g[4 * j + 2 * h] * scale));"),
    ("items drop a row's partial last tile", "const int tiles = (n - r + B5_BN - 1) / B5_BN, items",
     "const int tiles = (n - r) / B5_BN, items"),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", default="1/1", help="K/N: the K-th of N equal slices of the mutants")
    k, n = (int(v) for v in ap.parse_args().part.split("/"))
    here = os.path.dirname(os.path.abspath(__file__))
    survivors = 0
    for what, old, new in MUTANTS[k - 1::n]:
        with tempfile.TemporaryDirectory() as d:
            kdir = os.path.join(d, "kernels")
            shutil.copytree(os.path.join(cusim.ROOT, "kernels"), kdir)
            path = os.path.join(kdir, "contrastive_wgmma.cu")
            src = open(path).read()
            if src.count(old) != 1:
                print(f"ERROR {what}: the text to mutate occurs {src.count(old)} times")
                survivors += 1
                continue
            open(path, "w").write(src.replace(old, new))
            r = subprocess.run([sys.executable, os.path.join(here, "check_bns.py"), "--only", "v7", "--kernels", kdir],
                               capture_output=True, text=True)
            fails = [line for line in r.stdout.splitlines() if line.startswith("FAIL")]
            if r.returncode:
                print(f"caught   {what}: {len(fails)} case(s) fail, first: {fails[0][5:120] if fails else r.stderr[-200:]}")
            else:
                print(f"SURVIVED {what}")
                survivors += 1
    print("every mutant caught" if not survivors else f"{survivors} mutant(s) survived")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
