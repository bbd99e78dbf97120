#!/usr/bin/env python3
"""Runs the wgmma GEMM probe (kernels/wgmma.cu: K-major without and with the 128-byte swizzle, MN-major; 64- and
128-column tiles) on
the CPU through cusim, with the launch geometry of src/device/cuda/wgmma.rs, against the exact float64
product of the bf16 operands (the GPU test `cuda_wgmma_bf16_gemm_matches_exact_product` checks the same).

    python3 tools/cusim/check_wgmma.py      # seconds; exit 1 on a mismatch
"""
import sys

import numpy as np

import cusim
from check_conv import bf16_bits, bits_f32

CASES = [(64, 64, 16, 64), (100, 130, 72, 128), (70, 50, 200, 64), (129, 257, 64, 128), (8, 8, 8, 64)]
MN_CASES = [(64, 128, 64, 128), (72, 136, 40, 64), (200, 64, 136, 64), (8, 16, 24, 128)]


def main():
    mod = cusim.Module("kernels/wgmma.cu")
    rng = np.random.default_rng(5)
    bad = 0
    for layout, cases in (("", CASES), ("sw128_", CASES), ("mn_", MN_CASES)):
        mn = layout == "mn_"
        for m, n, k, bn in cases:
            a, b = bf16_bits(rng.standard_normal((m, k))), bf16_bits(rng.standard_normal((n, k)))
            job = mod.job()
            c = job.buf(np.full((m, n), np.nan, np.float32))
            ops = (np.ascontiguousarray(a.T), np.ascontiguousarray(b.T)) if mn else (a, b)
            name = f"gemm_wgmma_bf16_{layout}n{bn}"
            smem = 3 * (64 + bn) * 64 * 2 + (1024 if layout == "sw128_" else 0)
            job.launch(name, grid=(-(-n // bn), -(-m // 64)), block=128, smem=smem,
                       args=[c, job.buf(ops[0]), job.buf(ops[1]), m, n, k])
            try:
                got = job.run()[c]
            except cusim.RunError as e:
                print(f"FAIL {name} {m}x{n}x{k}: {e}")
                bad += 1
                continue
            want = bits_f32(a).astype(np.float64) @ bits_f32(b).astype(np.float64).T
            err = np.abs(got - want).max() / np.abs(want).max() if np.isfinite(got).all() else np.inf
            ok = err <= 1e-5
            bad += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {name:24} {m}x{n}x{k}: rel err {err:.1e}")
    print("all ok" if not bad else f"{bad} FAILED")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
