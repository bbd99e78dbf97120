#!/usr/bin/env python3
"""Power check of cusim + check_conv.py: each mutant is a copy of kernels/ with one deliberate bug (a missing
barrier or wait, a wait that covers too little, swapped descriptor offsets, a wrong fragment address, the MMA's
transpose flag) that the simulator must catch, by a wrong result or a reported violation. A mutant that
passes is a blind spot of the simulator and fails this script.

    python3 tools/cusim/mutants.py [--part K/N]     # ~1 minute; exit 1 if any mutant survives
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

import numpy as np

import check_conv as cc
import cusim

# (what, file, old text, new text, (version, precision, op, shape[, timing][, "m256"][, "add"])[, occurrences
# replaced, default 1]); timing (cusim.TIMING, default lazy): the eager timings catch a stage refilled while it
# is still read; "m256": v7's 256 x 128 tiles; "add": the grad-input adding into gx (ConvDims add); "out16":
# the output stored as bf16 (ConvDims out16), checked within one bf16 ulp, its statistics against the rounded
# values.
MUTANTS = [
    ("v7: LBO and SBO swapped (MN-major grad-weight)", "conv_wgmma.cu", "wg_desc(Am + 256 * s, 128, SBO)",
     "wg_desc(Am + 256 * s, SBO, 128)", ("v7", "bf16", "bwd_weight", 0)),
    ("v7: K-major copies placed without the swizzle", "conv_wgmma.cu",
     "return tile + wg_swz_chunk<RB>(f / (RB / 16), f % (RB / 16));",
     "return tile + (f / (RB / 16)) * RB + 16 * (f % (RB / 16));", ("v7", "bf16", "fwd", 0)),
    ("v7: the 32-deep pipeline's descriptors in the 128-byte swizzle mode", "conv_wgmma.cu",
     "wg_desc_swz<RB>(Am + 32 * s)", "wg_desc_swz<128>(Am + 32 * s)", ("v7", "bf16", "bwd_input", 3), 2),
    ("v7 tf32: 8 channels a 16-byte chunk (bf16's)", "conv_wgmma.cu", "CH = 16 / (int)sizeof(T);", "CH = 8;",
     ("v7", "tf32", "fwd", 0)),
    ("v7 tf32: the bf16 MMA on fp32 words", "conv_wgmma.cu", "else if (TF32) wg_mma_tf32<BN>",
     "else if (false) wg_mma_tf32<BN>", ("v7", "tf32", "bwd_input", 0)),
    ("v7 m256: a warpgroup's second m64 tile reads its first one's rows", "conv_wgmma.cu",
     "const unsigned char* Am = As + m * 8 * SBO;", "const unsigned char* Am = As;", ("v7", "tf32", "fwd", 17, "m256")),
    ("v7 m256: statistics of each half over all 8 warps", "conv_wgmma.cu", "static constexpr int WPP = 8 / MW;",
     "static constexpr int WPP = 8;", ("v7", "bf16", "fwd", 17, "m256", "stats")),
    ("v7: no wgmma.wait_group after the k-tile's MMAs", "conv_wgmma.cu",
     '        asm volatile("wgmma.wait_group.sync.aligned 1;" ::: "memory");  // tile kt - 1\'s MMAs are done\n', "",
     ("v7", "bf16", "fwd", 0)),
    ("v7: cp.async wait leaves the current tile in flight", "conv_wgmma.cu", '"n"(AHEAD - 1)', '"n"(AHEAD)',
     ("v7", "bf16", "bwd_input", 0)),
    ("v7: no barrier between the ring's fill and the MMAs", "conv_wgmma.cu",
     "        __syncthreads();\n        const int nt = kt + AHEAD;", "        const int nt = kt + AHEAD;",
     ("v7", "bf16", "fwd", 1)),
    ("v7: copies run one tile further ahead, into the stage a pending wgmma reads", "conv_wgmma.cu",
     "constexpr int AHEAD = STAGES - 2;", "constexpr int AHEAD = STAGES - 1;", ("v7", "bf16", "fwd", 6, "cp-eager")),
    ("v7: MMA without the transpose flag (grad-weight is MN-major)", "wgmma.cuh", '"n"(T ? 1 : 0)', '"n"(0)',
     ("v7", "bf16", "bwd_weight", 0), 2),
    ("v7 tf32 grad-weight: registers stored without the swizzle", "conv_wgmma.cu",
     "t + wg_swz_chunk<128>(4 * g + k, q >> 2) + 4 * (q & 3)", "t + (4 * g + k) * 128 + 16 * (q >> 2) + 4 * (q & 3)",
     ("v7", "tf32", "bwd_weight", 1)),
    ("v7 tf32 grad-weight: lanes 16 apart load the same float4", "conv_wgmma.cu",
     "return 2 * ((threadIdx.x / 64) + 4 * i) + ((threadIdx.x & 31) >> 4);", "return 2 * ((threadIdx.x / 64) + 4 * i);",
     ("v7", "tf32", "bwd_weight", 0)),
    ("v7 tf32 grad-weight: the next tile stored before every warpgroup's MMAs of the last one are done",
     "conv_wgmma.cu",
     "        __syncthreads();  // ... every warpgroup's: its stage, (kt + 1) % 2, takes tile kt + 1\n", "",
     ("v7", "tf32", "bwd_weight", 6)),
    ("v7 tf32 grad-weight: the MMAs read a stage other threads are still storing", "conv_wgmma.cu",
     '        asm volatile("fence.proxy.async.shared::cta;" ::: "memory");  // the stores, before the MMAs read them\n'
     '        __syncthreads();\n',
     '        asm volatile("fence.proxy.async.shared::cta;" ::: "memory");  // the stores, before the MMAs read them\n',
     ("v7", "tf32", "bwd_weight", 6, "wgmma-eager")),
    ("v7 tf32 grad-weight: the second step stores from the first one's register set", "conv_wgmma.cu",
     "if (kt + 1 < ntiles) step(kt + 1, r0);", "if (kt + 1 < ntiles) step(kt + 1, r1);", ("v7", "tf32", "bwd_weight", 16)),
    ("v6 bf16: no barrier after the cp.async wait", "conv_tc6.cu",
     "        __syncthreads();            // ... for every thread's, and stage (kt - 1) % STAGES is free\n", "",
     ("v6", "bf16", "fwd", 0)),
    ("v6 f32: no barrier after the cp.async wait", "conv_tc6.cu",
     "        __syncthreads();            // ... for every thread's, and stage (kt - 1) % STAGES is free\n", "",
     ("v6", "f32", "bwd_weight", 0)),
    ("v6 bf16: the next tile's copies issued before the barrier (the stage may still be read)", "conv_tc6.cu",
     "        __syncthreads();            // ... for every thread's, and stage (kt - 1) % STAGES is free\n"
     "        const int nt = kt + S::STAGES - 1;\n        if (nt < ntiles) {\n            T* st = smem + (nt % S::STAGES) * STAGE;\n"
     "            ld.load(k_begin + nt * S::BK, st, st + A_SIZE);\n        }\n        tc6_commit();\n",
     "        const int nt = kt + S::STAGES - 1;\n        if (nt < ntiles) {\n            T* st = smem + (nt % S::STAGES) * STAGE;\n"
     "            ld.load(k_begin + nt * S::BK, st, st + A_SIZE);\n        }\n        tc6_commit();\n        __syncthreads();\n",
     ("v6", "bf16", "fwd", 6, "cp-eager")),
    ("v6 tf32: cp.async wait leaves the current tile in flight", "conv_tc6.cu",
     "tc6_wait<S::STAGES - 2>();  // tile kt has landed", "tc6_wait<S::STAGES - 1>();  // tile kt has landed",
     ("v6", "tf32", "bwd_input", 1)),
    ("v6 bf16: ldmatrix A row/k halves swapped", "tc_mma.cuh", "&As[(mb + l8 + 8 * lb3) * SA + ks + 8 * lb4]",
     "&As[(mb + l8 + 8 * lb4) * SA + ks + 8 * lb3]", ("v6", "bf16", "fwd", 1)),
    ("v5/v6 bf16: ldmatrix without .trans", "tc_mma.cuh", "ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16",
     "ldmatrix.sync.aligned.m8n8.x4.shared.b16", ("v6", "bf16", "bwd_input", 0)),
    ("v6: the adding epilogue pairs each sum with the other row half's old value", "tc_mma.cuh",
     "acc[i][j][2 * h] + old[j][h].x, v1 = acc[i][j][2 * h + 1] + old[j][h].y",
     "acc[i][j][2 * h] + old[j][1 - h].x, v1 = acc[i][j][2 * h + 1] + old[j][1 - h].y",
     ("v6", "bf16", "bwd_input", 0, "add")),
    ("v7: the adding epilogue's old pairs a column tile off", "conv_wgmma.cu", "old[j] = p[4 * j];",
     "old[j] = p[4 * ((j + 1) % (BN / 8))];", ("v7", "bf16", "bwd_input", 0, "add")),
    ("v7 tf32 grad-weight rs1_m256: a warpgroup's second m64 tile reads its first one's rows", "conv_wgmma.cu",
     "wg_desc_swz<RB>(As + m * 8 * SBO + 32 * s)", "wg_desc_swz<RB>(As + 32 * s)",
     ("v7", "tf32", "bwd_weight", 16, "m256")),
    ("v7 tf32 grad-weight rs1_m256: the one register set fetched a tile too far ahead", "conv_wgmma.cu",
     "if (kt + SETS + 1 < ntiles) ld.fetch(next, k_begin + (kt + SETS + 1) * BK);",
     "if (kt + SETS + 2 < ntiles) ld.fetch(next, k_begin + (kt + SETS + 2) * BK);",
     ("v7", "tf32", "bwd_weight", 16, "m256")),
    ("v7 bf16 grad-weight m256: row tiles 128 rows apart", "conv_wgmma.cu",
     "const int m = blockIdx.y * (C7_BM * MW) + 8 * C7WChunk<BK>::group(i);",
     "const int m = blockIdx.y * C7_BM + 8 * C7WChunk<BK>::group(i);", ("v7", "bf16", "bwd_weight", 16, "m256")),
    ("v7: bf16 outputs stored with a pair's two columns swapped", "conv_wgmma.cu",
     "pack_bf16x2(acc[m][4 * j + 2 * h], acc[m][4 * j + 2 * h + 1])",
     "pack_bf16x2(acc[m][4 * j + 2 * h + 1], acc[m][4 * j + 2 * h])", ("v7", "bf16", "bwd_input", 0, "out16")),
    ("v6 tf32 window grad-weight: a fragment's second row half read from the first", "conv_tc6.cu",
     "a[1] = tc_tf32_hw(Ws[joff[s][0] + toff[i] + 8]);", "a[1] = tc_tf32_hw(Ws[joff[s][0] + toff[i]]);",
     ("v6", "tf32", "bwd_weight", 0, "halo")),
    ("v6 tf32 window grad-weight: the k8-step's second pixel half at the first", "conv_tc6.cu",
     ": 8 * s + q + 4);", ": 8 * s + q);", ("v6", "tf32", "bwd_weight", 0, "halo")),
    ("v6 tf32 window grad-weight: gy's second k half read from the first", "conv_tc6.cu",
     "b[j][1] = tc_tf32_hw(Bs[(8 * s + q + 4) * S::NSTRIDE + n]);", "b[j][1] = tc_tf32_hw(Bs[(8 * s + q) * S::NSTRIDE + n]);",
     ("v6", "tf32", "bwd_weight", 0, "halo")),
    ("v7: bf16 outputs' statistics summing the unrounded values", "conv_wgmma.cu",
     "[&](float v, int, int) { return val(v); }", "[&](float v, int, int) { return v; }",
     ("v7", "bf16", "fwd", 0, "stats", "out16")),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", default="1/1", help="K/N: the K-th of N equal slices of the mutants")
    k, n = (int(v) for v in ap.parse_args().part.split("/"))
    rng = np.random.default_rng(3)
    survivors = 0
    for what, fname, old, new, (version, prec, op, si, *rest), *times in MUTANTS[k - 1::n]:
        timing = [r for r in rest if r in cusim.TIMING]
        big, stats, add, out16 = "m256" in rest, "stats" in rest, "add" in rest, "out16" in rest
        halo = "halo" in rest  # v6 grad-weight: the window tile, one split of whole 32-pixel k-tiles
        s = cc.SHAPES[si]
        with tempfile.TemporaryDirectory() as d:
            kdir = os.path.join(d, "kernels")
            shutil.copytree(os.path.join(cusim.ROOT, "kernels"), kdir)
            path = os.path.join(kdir, fname)
            src = open(path).read()
            if src.count(old) != (times[0] if times else 1):
                print(f"ERROR {what}: the text to mutate occurs {src.count(old)} times in {fname}")
                survivors += 1
                continue
            open(path, "w").write(src.replace(old, new))
            f = {"v6": "conv_tc6", "v7": "conv_wgmma"}[version]
            t = time.time()
            try:
                mod = cusim.Module(os.path.join(kdir, f + ".cu"))
            except cusim.TranslateError as e:
                print(f"caught   {what}: does not build ({str(e).splitlines()[0]})")
                continue
            x = rng.standard_normal((s.n, s.h, s.w, s.c)).astype(np.float32)
            w = (rng.standard_normal((s.o, s.k, s.k, s.c)) / np.sqrt(s.k * s.k * s.c)).astype(np.float32)
            gy = rng.standard_normal((s.n * s.oh * s.ow, s.o)).astype(np.float32)
            try:
                pipe = cc.v7_pipes(op, s, prec)[0] if version == "v7" else "k32s5"
                if big and op == "bwd_weight" and prec == "tf32":  # its 256-row tiles: `_rs1_m256`
                    pipe = "rs1"
                # "add": gx starts as `base` and the kernel adds into it; checked as the sum minus base
                base = rng.standard_normal((s.n * s.h * s.w, s.c)).astype(np.float32) if add else None
                got, st, name = cc.launch(mod, version, prec, op, s, x, w, gy, stats=stats,
                                          timing=(timing or ["lazy"])[0], pipe=pipe, big=big, base=base,
                                          out16=out16, halo=halo,
                                          per=-(-s.n * s.oh * s.ow // 32) * 32 if halo else None)
                if add:
                    got = got - base.reshape(got.shape)
                if out16:
                    got = cc.bits_f32(got)
            except cusim.RunError as e:
                print(f"caught   {what}: {str(e).splitlines()[0][:150]} ({time.time() - t:.0f} s)")
                continue
            xo, wo, gyo = cc.operands(prec, x, w, gy, version)
            y, gx, gw = cc.reference(s, *(a.astype(np.float64) for a in (xo, wo, gyo)))
            ref = {"fwd": y, "bwd_input": gx, "bwd_weight": gw}[op].reshape(got.shape)
            err = np.abs(got - ref).max() / np.abs(ref).max() if np.isfinite(got).all() else np.inf
            if out16:  # each element within one bf16 ulp (2^-7 relative) of float64, put on the scale of the
                # threshold below; the statistics must be those of `got` itself
                ulps = np.abs(got - ref) / (2.0 ** -7 * np.abs(ref) + 1e-6 * np.abs(ref).max())
                err = 1e-5 * ulps.max() if np.isfinite(got).all() else np.inf
            if st is not None:  # the statistics partials per 128 rows, against float64
                e2 = cc.stats_err(got.astype(np.float64) if out16 else ref, st, 128, s.o)
                err = max(err, e2 if np.isfinite(e2) else np.inf)
            if err > 1e-5:
                print(f"caught   {what}: {name} rel err {err:.1e} ({time.time() - t:.0f} s)")
            else:
                print(f"SURVIVED {what}: {name} rel err {err:.1e}")
                survivors += 1
    print("every mutant caught" if not survivors else f"{survivors} mutant(s) survived")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
