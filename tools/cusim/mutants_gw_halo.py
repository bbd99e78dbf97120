#!/usr/bin/env python3
"""Power check of the halo grad-weight's test (kernels/conv_wgmma.cu `conv_bwd_weight_halo_v7`, rows of 16
or 32 pixels, and `conv_bwd_weight_halo_img_v7`, 8x8 and 4x4 images): each mutant is kernels/conv_wgmma.cu
with one deliberate bug, and the Rust test `wgmma::cuda_conv_v7_halo_grad_weight_over_any_row_range` run
through the simulated driver must fail on it under at least one timing (lazy: CUSIM_POLICY=0; copies and
MMAs completing at issue: 16, 32, 51). Build the test binary first (`cargo build --release --tests`).

    python3 tools/cusim/mutants_gw_halo.py     # ~4 minutes; exit 1 if any mutant survives every timing
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile

import cusim

KERNEL = os.path.join(cusim.ROOT, "kernels", "conv_wgmma.cu")
TEST = "wgmma::cuda_conv_v7_halo_grad_weight_over_any_row_range"
POLICIES = ["0", "16", "32", "51"]

# (what, old text, new text): each old text occurs once in kernels/conv_wgmma.cu.
MUTANTS = [
    ("rows: one x slot too few", "#define C7GW_RX (C7GW_AHEAD + 4)", "#define C7GW_RX (C7GW_AHEAD + 3)"),
    ("rows: one gy slot too few", "#define C7GW_RG (C7GW_AHEAD + 2)", "#define C7GW_RG (C7GW_AHEAD + 1)"),
    ("rows: padding columns not zeroed", "for (int i = threadIdx.x; i < C7GW_RX * 16; i += blockDim.x)",
     "for (int i = threadIdx.x; i < 0; i += blockDim.x)"),
    ("rows: mirrored taps", "const int c = S == 1 ? 16 * s + kx :", "const int c = S == 1 ? 16 * s + 2 - kx :"),
    ("rows, stride 2: the odd positions' taps at the even ones", "kx == 1 ? W / 2 + 1 + 16 * s", "kx == 1 ? 16 * s"),
    ("rows, stride 2: x slots not split into even and odd positions",
     "return S == 1 ? P : P % 2 == 0 ? P / 2 : W / 2 + 1 + P / 2;", "return P;"),
    ("rows, stride 2: every step multiplies an output row", "if (i < 2 || j < 2 || (j - 2) % S != 0) return false;",
     "if (i < 2 || j < 2) return false;"),
    ("rows: a warpgroup reads the next x row", "xr + ((i - 2 + ky) % C7GW_RX) * SX", "xr + ((i - 1 + ky) % C7GW_RX) * SX"),
    ("steps: no barrier", "        __syncthreads();\n        if (i + AH < steps) load(i + AH);",
     "        if (i + AH < steps) load(i + AH);"),
    ("steps: cp.async wait leaves the step's copies in flight", '"n"(AH - 1)', '"n"(AH)'),
    ("steps: no wgmma wait after a step's MMAs",
     '            asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");\n'
     '            asm volatile("wgmma.wait_group.sync.aligned 1;" ::: "memory");\n        } else {',
     '            asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");\n        } else {'),
    ("steps: a step that multiplies nothing leaves earlier MMAs in flight",
     '            asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");  // nothing of this step in flight\n',
     ""),
    ("rows: pixel halves of a 32-pixel row", "px = 16 * (r / 4) + q % 16", "px = 16 * (r % 2) + q % 16"),
    ("rows: gy planes at the x rows' stride", "wg_desc(gs + 256 * s, 128, 16 * OW)", "wg_desc(gs + 256 * s, 128, 16 * (W + 2))"),
    ("rows: a block's first output row skipped", "if (i < 2 || j < 2 || (j - 2) % S != 0) return false;",
     "if (i < 3 || j < 2 || (j - 2) % S != 0) return false;"),
    ("images: padding not zeroed", "for (int i = threadIdx.x; i < C7GWI_NB * G * ZPER * 8; i += blockDim.x)",
     "for (int i = threadIdx.x; i < 0; i += blockDim.x)"),
    ("images: copies at mirrored columns", "const int cx = ox + 1 - kx;", "const int cx = ox - 1 + kx;"),
    ("images: tap rows at the padded width", "16 * (p0 + ky * W), 128, PLX)", "16 * (p0 + ky * (W + 2)), 128, PLX)"),
    ("images: one buffer too few", "#define C7GWI_NB (C7GWI_AHEAD + 2)", "#define C7GWI_NB (C7GWI_AHEAD + 1)"),
    ("images: every k-step on a step's first image", "const int img = 16 * s / HW, p0", "const int img = 0 * s / HW, p0"),
    ("images: the bottom padding row misplaced", "pos = (r < W ? 0 : (H + 1) * W - W) + r;", "pos = (r < W ? 0 : H * W - W) + r;"),
    ("images: a short last step reads images past the batch", "const bool in = n < N;", "const bool in = true;"),
]


def test_binary():
    exes = [p for p in glob.glob(os.path.join(cusim.ROOT, "target", "release", "deps", "it-*"))
            if os.access(p, os.X_OK) and not p.endswith(".d")]
    if not exes:
        sys.exit("no test binary: run `cargo build --release --tests` first")
    return max(exes, key=os.path.getmtime)


def build():
    subprocess.run([sys.executable, os.path.join(cusim.HERE, "build_driver.py"), "--only", "conv_wgmma"],
                   capture_output=True, check=True)


def main():
    exe, orig = test_binary(), open(KERNEL).read()
    backup = tempfile.NamedTemporaryFile(delete=False, suffix=".cu")
    shutil.copyfile(KERNEL, backup.name)
    survivors = []
    try:
        for what, old, new in MUTANTS:
            if orig.count(old) != 1:
                sys.exit(f"mutant {what!r}: its text occurs {orig.count(old)} times in {KERNEL}")
            open(KERNEL, "w").write(orig.replace(old, new))
            build()
            caught = []
            for pol in POLICIES:
                env = dict(os.environ, LD_LIBRARY_PATH=os.path.join(cusim.CACHE, "driver"), CUSIM_POLICY=pol)
                r = subprocess.run([exe, "--exact", TEST, "--test-threads", "1"], env=env, capture_output=True,
                                   timeout=600)
                caught.append(r.returncode != 0)
            print(f"{'caught  ' if any(caught) else 'SURVIVED'} {what} (by policy {[p for p, c in zip(POLICIES, caught) if c]})",
                  flush=True)
            if not any(caught):
                survivors.append(what)
    finally:
        shutil.copyfile(backup.name, KERNEL)
        os.unlink(backup.name)
        build()
    print(f"{len(MUTANTS) - len(survivors)} of {len(MUTANTS)} mutants caught")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
