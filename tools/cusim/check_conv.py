#!/usr/bin/env python3
"""Runs the convolution kernels themselves (kernels/conv_tc.cu v3/v4/v5, conv_tc6.cu v6 in bf16/tf32/f32,
conv_wgmma.cu v7) on the CPU through cusim, with the launch geometry of their Rust launchers
(src/device/cuda/conv_tc.rs, conv_tc6.rs, conv_wgmma.rs), against a float64 NumPy convolution of the same
rounded operands. v3/v4 passed their GPU tests on an H200: agreeing on them checks the simulator's mma.sync /
ldmatrix model; v5/v6/v7 have not run on a GPU yet.

    python3 tools/cusim/check_conv.py [--quick] [--only v6,v7] [--memstats]    # exit 1 on a mismatch

--memstats also counts each launch's shared-memory wavefronts (ldmatrix, cp.async destinations) and global
sectors (cp.async sources) against their ideal (cusim.h's MemStats) and fails a bf16 v6 or v7 kernel with a
bank conflict, and a v6 or v7 kernel whose copies fetch a 32-byte sector in more than one instruction, except
at fewer than 16 channels (8 bf16 channels, the padded stem: a 16-byte copy is one pixel at one tap, and the
pixel beside it in the sector is another tap's copy).
"""
import argparse
import sys
import time

import numpy as np

import cusim

SMS = 8  # split_pixels' SM count: a few pixel splits at these sizes
MEMSTATS = None  # a list under --memstats: the last launch's statistics (cusim.Job.memstats)


def bf16_bits(x):
    u = np.ascontiguousarray(x, np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def bits_f32(h):
    return (h.astype(np.uint32) << 16).view(np.float32)


def tf32(x, even=False):  # cvt.rna.tf32.f32; even: cvt.rn (v6 on sm_90, which cusim simulates)
    u = np.ascontiguousarray(x, np.float32).view(np.uint32).astype(np.uint64)
    bias = 0xFFF + ((u >> 13) & 1) if even else 0x1000
    return (((u + bias) & 0xFFFFE000).astype(np.uint32)).view(np.float32)


class Spec:
    def __init__(self, n, h, w, c, o, k, stride, pad):
        self.n, self.h, self.w, self.c, self.o, self.k, self.stride, self.pad = n, h, w, c, o, k, stride, pad
        self.oh = (h + 2 * pad - k) // stride + 1
        self.ow = (w + 2 * pad - k) // stride + 1

    def dims(self, add=0, out16=0):  # ConvDims; add: the v6/v7 grad-input adds into gx; out16: bf16 y or gx
        return (self.n, self.h, self.w, self.c, self.o, self.k, self.k, self.stride, self.pad, self.oh, self.ow, add,
                out16)

    def __repr__(self):
        return f"{self.n}x{self.h}x{self.w}x{self.c}->{self.o} k{self.k} s{self.stride}"


def im2col(s, x):
    xp = np.zeros((s.n, s.h + 2 * s.pad, s.w + 2 * s.pad, s.c))
    xp[:, s.pad:s.pad + s.h, s.pad:s.pad + s.w] = x
    cols = np.zeros((s.n, s.oh, s.ow, s.k, s.k, s.c))
    for ky in range(s.k):
        for kx in range(s.k):
            cols[:, :, :, ky, kx] = xp[:, ky:ky + s.stride * s.oh:s.stride, kx:kx + s.stride * s.ow:s.stride]
    return cols.reshape(s.n * s.oh * s.ow, -1)


def reference(s, x, w, gy):
    """fwd y [P, O], grad-input gx [N, H, W, C], grad-weight gw [O, K] in float64."""
    A = im2col(s, x)
    W = w.reshape(s.o, -1)
    y = A @ W.T
    gw = gy.T @ A
    gcols = (gy @ W).reshape(s.n, s.oh, s.ow, s.k, s.k, s.c)
    gxp = np.zeros((s.n, s.h + 2 * s.pad, s.w + 2 * s.pad, s.c))
    for ky in range(s.k):
        for kx in range(s.k):
            gxp[:, ky:ky + s.stride * s.oh:s.stride, kx:kx + s.stride * s.ow:s.stride] += gcols[:, :, :, ky, kx]
    return y, gxp[:, s.pad:s.pad + s.h, s.pad:s.pad + s.w], gw


def v4_tile(cols):
    return ("n128", 128, 128) if cols > 64 else ("n64", 256, 64) if cols > 32 else ("n32", 256, 32) if cols > 16 else ("n16", 256, 16)


def split_pixels(grid, pix):
    out_tiles = grid[0] * grid[1]
    want = max(-(-SMS * 4 // out_tiles), 1)
    splits = min(max(min(want, -(-pix // 256)), 1), 65535)
    per = -(-(-(-pix // splits)) // 16) * 16
    return (grid[0], grid[1], -(-pix // per)), per


def v6_smem(op, bm, bn, elem):
    bk = 32
    ks = bk + (8 if elem == 2 else 4)
    a, b = {"fwd": (bm * ks, bn * ks), "bwd_input": (bm * ks, bk * (bn + 8))}.get(op, (bk * (bm + 8), bk * (bn + 8)))
    return 3 * (a + b) * elem


def gw_rows(n):
    """The shorter row tiles of the bf16 v6 grad-weight for `n` output channels: (suffix, BM)."""
    return {"n64": [("_m192", 192), ("_m128", 128)], "n128": [("_m64", 64)], "n16": [("_m192", 192)],
            "n32": [("_m192", 192)]}.get(v4_tile(n)[0], [])


def gw_halo_smem(s, elem=2):
    """Shared memory of v6's grad-weight over x's window (bf16 `_n64_halo`, at C = 16 `_n16_halo`; tf32
    (elem 4) `_n64_halo` alone), or None where it does not take `s`."""
    if (s.k, s.stride, s.pad) != (3, 1, 1) or s.o % 8 or s.w not in (8, 16, 32):
        return None
    if s.c == 16:
        if (s.h * s.w) % 256 or elem != 2:
            return None
        return 3 * (-(-(256 // s.w + 2) * (s.w + 2) // 8) * 8 * 24 + 256 * 24) * 2
    if s.c % 32 or (s.h * s.w) % 32:
        return None
    return 4 * (-(-(32 // s.w + 2) * (s.w + 2) // 8) * 8 * (40 if elem == 2 else 36) + 32 * 72) * elem


def wres_smem(op, s, stats=False):
    """Shared memory of v6's bf16 resident-weight tiles (`_wres`) for `op` at `s`, or None where they do not
    take it (3x3 stride 1 pad 1, n64 / n32 / n16 tiles, 16 or a multiple of 32 channels a tap, halo-shaped row
    tiles, at most 227 KB)."""
    if (s.k, s.stride, s.pad) != (3, 1, 1) or op not in ("fwd", "bwd_input"):
        return None
    tag, bm, bn = v4_tile(s.o if op == "fwd" else s.c)
    cs = s.c if op == "fwd" else s.o
    hwp = s.h * s.w
    if tag not in ("n64", "n32", "n16") or (cs % 32 and cs != 16) or bm % s.w or not (bm % hwp == 0 or hwp % bm == 0):
        return None
    whole = bm % hwp == 0
    th, imgs = (s.h, bm // hwp) if whole else (bm // s.w, 1)
    hp = imgs * (th + 2) * (s.w + 2)
    k = 9 * cs
    b = k * (bn + 8) if op == "bwd_input" else bn * (k + 8)
    wmw = {"n64": 4, "n32": 8, "n16": 8}[tag]
    smem = (b + 2 * hp * (cs + 8)) * 2 + ((wmw + 2) * bn * 4 if stats else 0)
    return smem if smem <= 227 * 1024 else None


def launch(mod, version, prec, op, s, x, w, gy, stats=False, reverse=False, timing="lazy", pipe="k32s5", base=None,
           rows=None, per=None, out16=False, halo=False, wres=None, big=False):
    """One op through the kernel (v7: pipeline `pipe`, k{BK}s{STAGES}); returns (result, stats partials or None,
    kernel name). `base` (bwd_input): gx starts as it and the kernel adds into it (ConvDims add = 1). `rows`
    (v6 bf16 grad-weight): a (suffix, BM) of gw_rows; `halo` (the same): the window tile `_n64_halo`; `per`:
    pixels per split instead of split_pixels'. `wres` (v6 bf16 forward, stride-1 grad-input): the resident
    tiles `_wres` on that many persistent row blocks. `big` (v6 bf16 / tf32 where the tile is n128): the 256 x 128 tile
    `_n128_m256` on its 4-stage ring.
    `out16` (bf16 v6 / v7 forward with statistics, stride-1 grad-input): the output stored as bf16 (ConvDims
    out16 = 1), returned as its bits."""
    job = mod.job()
    P = s.n * s.oh * s.ow
    elem = 2 if prec == "bf16" else 4
    if prec == "bf16" and version in ("v6", "v7"):  # the bf16 copies; v3-v5 round fp32 tensors themselves
        xs, ws, gys = bf16_bits(x), bf16_bits(w), bf16_bits(gy)
    else:
        xs, ws, gys = x.astype(np.float32), w.astype(np.float32), gy.astype(np.float32)
    d = s.dims(add=0 if base is None else 1, out16=int(out16))
    parts = None
    if op == "fwd":
        out = job.buf(np.full((P, s.o), 0xFFFF, np.uint16) if out16 else np.full((P, s.o), np.nan, np.float32))
        m, n = P, s.o
    elif op == "bwd_input":
        out = job.buf(np.full((s.n * s.h * s.w, s.c), 0xFFFF, np.uint16) if out16 else
                      np.full((s.n * s.h * s.w, s.c), np.nan, np.float32) if base is None else base.copy())
        m, n = s.n * s.h * s.w, s.c
    else:
        out = job.buf(np.full(s.o * s.k * s.k * s.c, np.nan, np.float32))
        m, n = s.k * s.k * s.c, s.o
    if version == "v3":
        name = f"conv_{op}_v3_{prec}"
        if op == "bwd_weight":
            m, n = s.o, s.k * s.k * s.c
        grid, smem = (-(-n // 128), -(-m // 128), 1), 0
    elif version in ("v4", "v5"):
        tag, bm, bn = v4_tile(n)
        name, grid, smem = f"conv_{op}_{version}_{prec}_{tag}", (-(-n // bn), -(-m // bm), 1), 0
    elif version == "v6":
        tag, bm, bn = v4_tile(n)
        suffix = "_stats" if stats else ""
        if op == "bwd_input" and s.stride > 1:
            m = s.n * (-(-s.h // s.stride)) * (-(-s.w // s.stride))
            suffix = "_strided"
        if rows is not None:
            suffix, bm = rows
        if narrow(op, s):
            suffix += "_narrow"
        name, smem = f"conv_{op}_v6_{prec}_{tag}{suffix}", v6_smem(op, bm, bn, elem)
        grid = (-(-n // bn), -(-m // bm), s.stride * s.stride if suffix == "_strided" else 1)
        if halo and s.c == 16:
            name, smem, grid = "conv_bwd_weight_v6_bf16_n16_halo", gw_halo_smem(s), (-(-n // 16), 1, 1)
        elif halo:
            name, smem = f"conv_bwd_weight_v6_{prec}_n64_halo", gw_halo_smem(s, elem)
            grid = (-(-n // 64), s.c // 32, 1)
        if big:
            ks = 32 + (8 if elem == 2 else 4)
            ab = {"fwd": (256 * ks, 128 * ks), "bwd_input": (256 * ks, 32 * 136)}.get(op, (32 * 264, 32 * 136))
            name, bm, smem = f"conv_{op}_v6_{prec}_n128_m256{suffix}_s4", 256, 4 * sum(ab) * elem
            grid = (-(-n // 128), -(-m // 256), grid[2])
        if wres:  # (16 channels included: no `_narrow` name)
            name, smem = name.removesuffix("_narrow") + "_wres", wres_smem(op, s, stats)
            grid = (grid[0], min(wres, grid[1]), 1)
    else:  # v7 (`big`: the 256 x 128 tiles, `_m256`)
        bn = 128 if n > 64 else 64
        bk, stages = V7_PIPES[pipe]
        suffix, z = ("_stats" if stats else ""), 1
        if op == "bwd_input" and s.stride > 1:  # residue classes: grid.y covers the largest, grid.z the s² classes
            m = s.n * (-(-s.h // s.stride)) * (-(-s.w // s.stride))
            suffix, z = "_strided", s.stride * s.stride
        bm = 256 if big else 128
        name = f"conv_{op}_v7_{prec}_n{bn}_{pipe}{'_m256' if big else ''}{suffix}"
        smem = stages * (bm + bn) * bk * elem + 1024
        grid = (-(-n // bn), -(-m // bm), z)
    if op == "fwd":
        args = [out]
        if stats:
            bm = {"v6": v4_tile(n)[1], "v7": 128}[version]  # (v7 m256: partials per 128-row half)
            parts = (job.buf(np.full((P // bm, s.o), np.nan, np.float32)), job.buf(np.full((P // bm, s.o), np.nan, np.float32)))
            args += list(parts)
        args += [job.buf(xs), job.buf(ws), d]
    elif op == "bwd_input":
        wk = ws
        if version == "v7":  # weights transposed to IHWO by conv_weight_t_{bf16,f32} (run through the kernel too)
            wb = job.buf(ws)
            wt = job.buf(np.full(ws.size, 0xFFFF, np.uint16) if prec == "bf16" else np.full(ws.size, np.nan, np.float32))
            job.launch(f"conv_weight_t_{'bf16' if prec == 'bf16' else 'f32'}", grid=(-(-ws.size // 256),), block=256,
                       args=[wt, wb, s.o, s.k * s.k, s.c])
            args = [out, job.buf(gys), wt, d]
        else:
            args = [out, job.buf(gys), job.buf(wk), d]
    else:
        grid, split = split_pixels(grid, P)
        if per is None:
            per = split
        grid = (grid[0], grid[1], -(-P // per))
        job.memset(out, 0)
        args = [out, job.buf(gys), job.buf(xs), d, per]
    job.launch(name, grid=grid, block=256, smem=smem, args=args, reverse=reverse, timing=timing)
    res = job.run(memstats=MEMSTATS is not None)
    if MEMSTATS is not None:
        MEMSTATS[:] = [m for m in job.memstats if m["kernel"] == name]
    st = (res[parts[0]], res[parts[1]]) if parts else None
    if op == "bwd_weight":
        LAST_PER[0] = per
    return res[out], st, name


LAST_PER = [None]  # pixels per split of the last grad-weight launch


def same_bits(mod, version, prec, op, s, xwg, stats, a, got, st, rng, out16, **variant):
    """Whether the kernel variant (launch's keyword arguments) gives `got` and the partials `st` bit for bit,
    and for the grad-input adds into gx as well, and with `out16` stores bf16 of `got`: (same, kernel name,
    a note on shared wavefronts above the ideal under --memstats, else "")."""
    x, w, gy = xwg
    g, sv, name = launch(mod, version, prec, op, s, x, w, gy, stats, a.reverse, a.timing, **variant)
    same = np.array_equal(g, got) and (st is None or all(np.array_equal(u, v) for u, v in zip(st, sv)))
    waves = ""
    for m in MEMSTATS or []:
        (_, lw, lk), (_, cw, ck) = m["ldmatrix"], m["cp.async"]
        if lw > lk or cw > ck:
            waves = f" ({name}: wavefronts {lw}/{lk} {cw}/{ck})"
    plain = {k: v for k, v in variant.items() if k != "per"}
    if op == "bwd_input":
        base = rng.standard_normal(got.shape).astype(np.float32)
        ga, _, _ = launch(mod, version, prec, op, s, x, w, gy, stats, a.reverse, a.timing, base=base, **plain)
        same = same and np.array_equal(ga, base + got)
    if out16:
        g16, _, _ = launch(mod, version, prec, op, s, x, w, gy, stats, a.reverse, a.timing, out16=True, **plain)
        same = same and np.array_equal(g16, bf16_bits(got))
    return same, name, waves


# v7 pipelines: (BK, STAGES) of kernels/conv_wgmma.cu; tf32's are bf16's bytes per k-tile row and stages
# (rs2: the tf32 grad-weight's register-staged copies, k-tiles of 32 pixels, two stages; rs1: the same on one
# register set, named `_rs1_m256` with big=True, its only form)
V7_PIPES = {"k64s4": (64, 4), "k32s5": (32, 5), "k32s4": (32, 4), "k16s5": (16, 5), "rs2": (32, 2), "rs1": (32, 2)}


def v7_pipes(op, s, prec="bf16"):
    """The v7 pipelines for `op` at `s`, the shallow one first (the deep one needs whole k-tiles in one tap)."""
    if prec == "tf32" and op == "bwd_weight":
        return ["rs2"]
    shallow, deep = ("k32s5", "k64s4") if prec == "bf16" else ("k16s5", "k32s4")
    return [shallow] + ([deep] if {"fwd": s.c, "bwd_input": s.o}.get(op, 64) % V7_PIPES[deep][0] == 0 else [])


def operands(prec, x, w, gy, version="v6"):
    if prec == "bf16":
        return bits_f32(bf16_bits(x)), bits_f32(bf16_bits(w)), bits_f32(bf16_bits(gy))
    if prec == "tf32" and version == "v7":  # wgmma .tf32 reads the upper 19 bits of each fp32 word
        return tuple((np.ascontiguousarray(v, np.float32).view(np.uint32) & 0xFFFFE000).view(np.float32)
                     for v in (x, w, gy))
    if prec == "tf32":
        even = version == "v6"  # tc_tf32_hw; v3-v5 round ties away (tc_tf32)
        return tf32(x, even), tf32(w, even), tf32(gy, even)
    return x, w, gy


SHAPES = [
    Spec(4, 8, 8, 32, 64, 3, 1, 1),      # n64 tile; 256 rows: v6 and v7 BN-statistics epilogues
    Spec(2, 8, 8, 32, 128, 3, 1, 1),     # n128 tile, 128 rows: v6 n128 statistics epilogue
    Spec(1, 8, 8, 64, 128, 3, 2, 1),     # stride 2, n128
    Spec(2, 6, 6, 32, 32, 3, 1, 1),      # partial row tiles, n32
    Spec(1, 8, 8, 32, 16, 1, 2, 0),      # 1x1 stride 2, n16
    Spec(1, 5, 7, 64, 96, 3, 1, 1),      # odd sizes, partial column tile
    Spec(2, 8, 8, 64, 64, 3, 1, 1),      # v7 k-tiles of 64: forward, its statistics epilogue, grad-input
    Spec(1, 5, 7, 32, 21, 3, 1, 1),      # odd output channels: v7's scalar stores
    Spec(2, 8, 8, 32, 64, 1, 2, 0),      # 1x1 stride 2 with O % 32 == 0: v7 residue classes without taps
    Spec(4, 15, 17, 32, 96, 3, 2, 1),    # odd sizes at stride 2: classes of unequal sizes, two row tiles
    Spec(4, 8, 8, 8, 64, 3, 1, 1),       # 8 channels (the padded stem): grad-weight K = 72 on m128 / m192;
                                         # v6 forward 4 taps a k-tile, K padded 72 -> 96
    Spec(4, 8, 8, 16, 16, 3, 1, 1),      # ResNet-32's first stage: v6 forward and grad-input 2 taps a k-tile
    Spec(1, 6, 5, 16, 32, 3, 2, 1),      # narrow C at stride 2 (forward), odd sizes, partial row tile
    Spec(1, 7, 6, 8, 16, 3, 1, 1),       # narrow O = 16 with C = 8 (grad-input), partial tiles
    Spec(1, 4, 16, 64, 64, 3, 1, 1),     # grad-weight window tile at W = 16 (two image rows a k-tile), two channel blocks
    Spec(2, 2, 32, 32, 72, 3, 1, 1),     # the window tile at W = 32, partial column tile
    Spec(9, 8, 8, 32, 64, 3, 1, 1),      # resident tiles: three row tiles of 4 images (the last partial), n64 / n32
    Spec(6, 8, 8, 32, 128, 3, 1, 1),     # the 256 x 128 tile: a full and a half row tile, three n128 partials
    Spec(2, 6, 6, 128, 64, 3, 1, 1),     # its grad-input (C = 128), partial row tile
    Spec(2, 7, 7, 96, 32, 3, 2, 1),      # its strided grad-input, partial column tile
    Spec(12, 8, 8, 32, 64, 3, 1, 1),     # resident tiles: three whole row tiles, one block looping (partials; the
                                         # third halo copy lands where the first tile was read)
    Spec(12, 8, 8, 16, 16, 3, 1, 1),     # the same at 16 channels (two taps a k-tile), n16
    Spec(2, 16, 16, 16, 16, 3, 1, 1),    # grad-weight over x's window at 16 channels: W = 16, 256-pixel k-tiles
    Spec(1, 8, 32, 16, 24, 3, 1, 1),     # the same at W = 32 (8 rows a k-tile), a partial column tile
    Spec(2, 8, 8, 32, 21, 3, 1, 1),      # odd output channels on whole row tiles: v7's scalar bf16 stores (out16)
]


def stats_err(ref, st, bm, o):
    """Relative error of BN-statistics partials `st` (sums, squares about each block's mean) over blocks of
    `bm` rows of the float64 output `ref`."""
    yb = ref.reshape(-1, bm, o)
    m2 = ((yb - yb.mean(axis=1)[:, None, :]) ** 2).sum(axis=1)
    return max(np.abs(st[0] - yb.sum(axis=1)).max() / max(np.abs(yb.sum(axis=1)).max(), 1),
               np.abs(st[1] - m2).max() / m2.max())


def out_cols(op, s):
    """The GEMM's output columns of `op` at `s` (the tile width follows them)."""
    return s.c if op == "bwd_input" else s.o


def narrow(op, s):
    """v6's `_narrow` entry points (bf16): the forward's C or the stride-1 grad-input's O is 8 or 16."""
    cs = {"fwd": s.c, "bwd_input": s.o if s.stride == 1 else 32}.get(op, 32)
    return cs in (8, 16)


def takes(version, prec, op, s):
    if version == "v7" and prec == "tf32":  # grad-weight: float4 chunks of 4 channels of one tap, 4 outputs
        return {"fwd": s.c % 16 == 0, "bwd_input": s.o % 16 == 0, "bwd_weight": s.c % 4 == 0 and s.o % 4 == 0}[op]
    if version == "v7":
        return prec == "bf16" and {"fwd": s.c % 32 == 0, "bwd_input": s.o % 32 == 0,
                                   "bwd_weight": s.c % 8 == 0 and s.o % 8 == 0}[op]
    if version == "v6":
        epc = 8 if prec == "bf16" else 4
        nar = prec in ("bf16", "tf32") and narrow(op, s)
        return {"fwd": s.c % 32 == 0 or nar, "bwd_input": (s.o % 32 == 0 or nar) and s.c % epc == 0,
                "bwd_weight": s.c % epc == 0 and s.o % epc == 0}[op]
    if version == "v5":
        return prec == "bf16" and {"fwd": s.c % 32 == 0, "bwd_input": s.o % 32 == 0 and s.c % 4 == 0,
                                   "bwd_weight": s.c % 4 == 0 and s.o % 4 == 0}[op]
    if version == "v4":
        return {"fwd": s.c % 16 == 0, "bwd_input": s.o % 16 == 0 and s.c % 4 == 0, "bwd_weight": s.c % 4 == 0 and s.o % 4 == 0}[op]
    return prec != "f32"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="six shapes")
    ap.add_argument("--only", default="v3,v4,v5,v6,v7")
    ap.add_argument("--reverse", action="store_true", help="greedy scheduling from the highest thread (default: from the lowest)")
    ap.add_argument("--timing", default="lazy", choices=sorted(cusim.TIMING),
                    help="when cp.async copies and wgmma ops complete: at their wait (lazy) or at issue")
    ap.add_argument("--memstats", action="store_true",
                    help="count shared-memory wavefronts and global sectors; a bank conflict (bf16 v6, v7) or "
                         "excess sectors (v6, v7) fail")
    a = ap.parse_args()
    global MEMSTATS
    MEMSTATS = [] if a.memstats else None
    versions = a.only.split(",")
    rng = np.random.default_rng(7)
    mods = {}
    bad = 0
    # --quick: three shapes, the resident tiles' loop over three row tiles (barriers between them) at 32
    # and 16 channels, and the grad-weight over x's window at 16 channels
    shapes = SHAPES[:3] + [Spec(12, 8, 8, 32, 64, 3, 1, 1), Spec(12, 8, 8, 16, 16, 3, 1, 1),
                           Spec(2, 16, 16, 16, 16, 3, 1, 1)] if a.quick else SHAPES
    runs = [(v, p) for v in versions for p in (["bf16"] if v == "v5" else ["bf16", "tf32", "f32"] if v == "v6" else ["bf16", "tf32"])]
    for s in shapes:
        x = rng.standard_normal((s.n, s.h, s.w, s.c)).astype(np.float32)
        w = (rng.standard_normal((s.o, s.k, s.k, s.c)) / np.sqrt(s.k * s.k * s.c)).astype(np.float32)
        gy = rng.standard_normal((s.n * s.oh * s.ow, s.o)).astype(np.float32)
        # Every element halfway between two TF32 values, so that rounding ties away (v3-v5) or to even (v6)
        # differs from the other in half of them, beyond the tolerance.
        x, w, gy = (((v.view(np.uint32) & 0xFFFFE000) | 0x1000).view(np.float32) for v in (x, w, gy))
        for version, prec in runs:
            f = {"v3": "conv_tc", "v4": "conv_tc", "v5": "conv_tc", "v6": "conv_tc6", "v7": "conv_wgmma"}[version]
            if f not in mods:
                t = time.time()
                mods[f] = cusim.Module(f"kernels/{f}.cu")
                print(f"built {f}.cu for cusim in {time.time() - t:.1f} s", flush=True)
            xo, wo, gyo = operands(prec, x, w, gy, version)
            y, gx, gw = reference(s, xo.astype(np.float64), wo.astype(np.float64), gyo.astype(np.float64))
            want = {"fwd": y, "bwd_input": gx.reshape(-1, s.c), "bwd_weight": gw.reshape(-1)}
            for op in ("fwd", "bwd_input", "bwd_weight"):
                if not takes(version, prec, op, s):
                    continue
                stats_modes = [False, True] if op == "fwd" and version in ("v6", "v7") else [False]
                first = {}  # v7: the first pipeline's output per stats mode; the others must match it bit for bit
                for stats, pipe in ((st, pp) for st in stats_modes for pp in (v7_pipes(op, s, prec) if version == "v7" else ["-"])):
                    P = s.n * s.oh * s.ow
                    bm = 128 if version == "v7" else v4_tile(s.o)[1]
                    if stats and P % bm:
                        continue
                    t = time.time()
                    try:
                        got, st, name = launch(mods[f], version, prec, op, s, x, w, gy, stats, a.reverse, a.timing, pipe)
                    except cusim.RunError as e:
                        print(f"FAIL {version} {prec} {op} {s}: {e}")
                        bad += 1
                        continue
                    ref = want[op].reshape(got.shape)
                    scale = max(np.abs(ref).max(), 1e-30)
                    err = np.abs(got - ref).max() / scale if np.isfinite(got).all() else np.inf
                    tol = 1e-5
                    line = f"{version} {prec:4} {op:10} {s!r:28} {name:38} rel err {err:.1e}"
                    ok = err <= tol
                    if st is not None:
                        e2 = stats_err(ref, st, bm, s.o)
                        yb = ref.reshape(-1, bm, s.o)
                        line += f", stats {e2:.1e}"
                        ok = ok and e2 <= 1e-4
                        if version in ("v6", "v7") and prec == "bf16":
                            # y as bf16 (ConvDims out16): the rounded outputs bit for bit, the statistics of
                            # the rounded values
                            y16, st16, _ = launch(mods[f], version, prec, op, s, x, w, gy, True, a.reverse, a.timing,
                                                  pipe, out16=True)
                            same16 = np.array_equal(y16, bf16_bits(got))
                            rb_ = bits_f32(y16).astype(np.float64).reshape(-1, bm, s.o)
                            mean16 = rb_.mean(axis=1)
                            m216 = ((rb_ - mean16[:, None, :]) ** 2).sum(axis=1)
                            e16 = max(np.abs(st16[0] - rb_.sum(axis=1)).max() / max(np.abs(rb_.sum(axis=1)).max(), 1),
                                      np.abs(st16[1] - m216).max() / m216.max())
                            # the rounded values' sums, not the fp32 ones: differ from those beyond the tolerance
                            e_other = np.abs(st16[0] - yb.sum(axis=1)).max() / max(np.abs(yb.sum(axis=1)).max(), 1)
                            line += (f", bf16 y {'same bits' if same16 else 'BITS DIFFER'}, stats {e16:.1e}"
                                     f" (vs fp32 y {e_other:.1e})")
                            ok = ok and same16 and e16 <= 1e-5
                    if version == "v6" and prec == "bf16" and wres_smem(op, s, stats) is not None:
                        # weights and halo resident, persistent over row tiles: the same bits (y, partials,
                        # bf16 y) on one and on two blocks per column tile
                        for nb in (1, 2):
                            same, nr, waves = same_bits(mods[f], version, prec, op, s, (x, w, gy), stats, a, got, st,
                                                        rng, stats or op == "bwd_input", wres=nb)
                            line += (f", wres x{nb} same bits" if same else f", {nr} x{nb} BITS DIFFER") + waves
                            ok = ok and same and not waves
                    if op == "bwd_input" and version in ("v6", "v7"):
                        # ConvDims add: gx += grad-input, the same fp32 sum as a separate add pass, bit for bit
                        base = rng.standard_normal(got.shape).astype(np.float32)
                        added, _, _ = launch(mods[f], version, prec, op, s, x, w, gy, stats, a.reverse, a.timing, pipe,
                                             base=base)
                        same_add = np.array_equal(added, base + got)
                        line += ", adds bit for bit" if same_add else ", ADD MODE DIFFERS"
                        ok = ok and same_add
                        if prec == "bf16" and s.stride == 1:
                            # gx as bf16 (ConvDims out16): the rounded grad-input bit for bit
                            g16, _, _ = launch(mods[f], version, prec, op, s, x, w, gy, stats, a.reverse, a.timing,
                                               pipe, out16=True)
                            same16 = np.array_equal(g16, bf16_bits(got))
                            line += ", bf16 gx same bits" if same16 else ", BF16 GX BITS DIFFER"
                            ok = ok and same16
                    if version == "v7":
                        f0 = first.setdefault(stats, (got, st))
                        same = np.array_equal(f0[0], got) and (st is None or all(np.array_equal(u, v) for u, v in zip(f0[1], st)))
                        if f0[0] is not got:
                            p0 = v7_pipes(op, s, prec)[0]
                            line += f", same bits as {p0}" if same else f", BITS DIFFER from {p0}"
                        ok = ok and same
                    for m in MEMSTATS or []:
                        (li, lw, lk), (ci, cw, ck), (se, sk) = m["ldmatrix"], m["cp.async"], m["sectors"]
                        line += f", shared wavefronts ldmatrix {lw}/{lk} cp.async {cw}/{ck}, global sectors {se}/{sk}"
                        if (version == "v6" and prec == "bf16" or version == "v7") and (lw > lk or cw > ck):
                            line += " BANK CONFLICTS"
                            ok = False
                        # (grad-weight rows of gy that are no whole number of sectors, O % 16 != 0: a pixel's
                        # last columns share a sector with the next pixel's first, which another column tile or
                        # copy reads)
                        if version in ("v6", "v7") and se > sk and s.c >= 16 and not (op == "bwd_weight" and s.o % 16):
                            line += " EXCESS GLOBAL SECTORS"
                            ok = False
                    if version == "v7" and (op != "bwd_weight" or prec == "bf16"):
                        # tiles of 256 rows: the same k-steps per output element, so y / gx bit for bit
                        # (adds too; the bf16 grad-weight on the same pixel splits); the statistics per
                        # 128-row half in another order: against float64
                        per2 = LAST_PER[0] if op == "bwd_weight" else None
                        g2, st2, n2 = launch(mods[f], version, prec, op, s, x, w, gy, stats, a.reverse, a.timing, pipe,
                                             big=True, per=per2)
                        same = np.array_equal(g2, got)
                        line += f", m256 same bits" if same else f", {n2} BITS DIFFER"
                        ok = ok and same
                        if prec == "bf16" and (stats or op == "bwd_input" and s.stride == 1):
                            # the bf16 outputs of the 256-row tiles (their statistics epilogue's `val`)
                            y16, st16, _ = launch(mods[f], version, prec, op, s, x, w, gy, stats, a.reverse, a.timing,
                                                  pipe, out16=True, big=True)
                            same16 = np.array_equal(y16, bf16_bits(got))
                            if st16 is not None:
                                rb_ = bits_f32(y16).astype(np.float64)
                                same16 = same16 and stats_err(rb_, st16, 128, s.o) <= 1e-5
                            line += "" if same16 else " M256 BF16 OUTPUT DIFFERS"
                            ok = ok and same16
                        if st2 is not None:
                            e3 = stats_err(ref, st2, 128, s.o)
                            line += f" (stats {e3:.1e})"
                            ok = ok and e3 <= 1e-4
                        if op == "bwd_input":
                            base = rng.standard_normal(got.shape).astype(np.float32)
                            ga, _, _ = launch(mods[f], version, prec, op, s, x, w, gy, stats, a.reverse, a.timing,
                                              pipe, base=base, big=True)
                            ok = ok and np.array_equal(ga, base + got)
                            line += "" if np.array_equal(ga, base + got) else " ADD MODE DIFFERS"
                        for m in MEMSTATS or []:
                            (li, lw, lk), (ci, cw, ck), (se, sk) = m["ldmatrix"], m["cp.async"], m["sectors"]
                            # (excess sectors as the 128-row tiles' exemption above: the grad-weight's rows of
                            # gy that are no whole number of sectors, or fewer than 16 channels)
                            gw_ragged = op == "bwd_weight" and (s.o % 16 or s.c < 16)
                            if lw > lk or cw > ck or (se > sk and not gw_ragged):
                                line += f" ({n2}: wavefronts {lw}/{lk} {cw}/{ck}, sectors {se}/{sk})"
                                ok = False
                    if version == "v7" and op == "bwd_weight" and prec == "tf32":
                        # the 256-row tiles on one register set (`_rs1_m256`): the same k-steps per element on
                        # the same pixel splits, so the same bits as rs2
                        g2, _, n2 = launch(mods[f], version, prec, op, s, x, w, gy, stats, a.reverse, a.timing, "rs1",
                                           big=True, per=LAST_PER[0])
                        same = np.array_equal(g2, got)
                        line += ", rs1_m256 same bits" if same else f", {n2} BITS DIFFER"
                        ok = ok and same
                        for m in MEMSTATS or []:
                            (li, lw, lk), (ci, cw, ck), (se, sk) = m["ldmatrix"], m["cp.async"], m["sectors"]
                            if lw > lk or cw > ck:
                                line += f" ({n2}: wavefronts {lw}/{lk} {cw}/{ck})"
                                ok = False
                    if version == "v6" and prec in ("bf16", "tf32") and v4_tile(out_cols(op, s))[0] == "n128" \
                            and not narrow(op, s):
                        # the 256 x 128 tile (64 x 64 warp tiles, 4 stages): the same k-steps per output
                        # element, so the same bits (y, n128's partials, adds, bf16 outputs; grad-weight on the
                        # same pixel splits)
                        pb = LAST_PER[0] if op == "bwd_weight" else None
                        same, nb_, waves = same_bits(mods[f], version, prec, op, s, (x, w, gy), stats, a, got, st, rng,
                                                     (stats or op == "bwd_input") and s.stride == 1 and prec == "bf16",
                                                     per=pb, big=True)
                        line += (", m256 same bits" if same else f", {nb_} BITS DIFFER") + waves
                        ok = ok and same and not waves
                    if version == "v6" and prec in ("bf16", "tf32") and op == "bwd_weight":
                        # the shorter row tiles and the window tile (tf32's since 2026-11-28), on the same
                        # pixel splits (whole 32-pixel k-tiles): the same sums bit for bit
                        per0 = LAST_PER[0]
                        per32 = -(-per0 // 32) * 32
                        others = [(r, per0, False, got) for r in gw_rows(s.o)]
                        if prec != "bf16":
                            if gw_halo_smem(s, 4) is not None:
                                g32 = got if per32 == per0 else launch(mods[f], version, prec, op, s, x, w, gy, False,
                                                                        a.reverse, a.timing, per=per32)[0]
                                others.append((None, per32, True, g32))
                        elif gw_halo_smem(s) is not None and s.c == 16:
                            # 16 channels: the warps split the pixels (k-tiles of 256), so other sums: against
                            # the float64 reference, on one and several pixel splits
                            for pr in (-(-P // 256) * 256, 256):
                                g2, _, n2 = launch(mods[f], version, prec, op, s, x, w, gy, False, a.reverse,
                                                   a.timing, per=pr, halo=True)
                                e2 = np.abs(g2 - ref).max() / scale if np.isfinite(g2).all() else np.inf
                                line += f", {n2[-9:]} per {pr} rel err {e2:.1e}"
                                ok = ok and e2 <= tol
                                for m in MEMSTATS or []:
                                    (li, lw, lk), (ci, cw, ck), (se, sk) = m["ldmatrix"], m["cp.async"], m["sectors"]
                                    # (rows of gy no whole number of sectors: as above)
                                    if lw > lk or cw > ck or (se > sk and s.o % 16 == 0):
                                        line += f" ({n2}: wavefronts {lw}/{lk} {cw}/{ck}, sectors {se}/{sk})"
                                        ok = False
                        elif gw_halo_smem(s) is not None:
                            g32 = got if per32 == per0 else launch(mods[f], version, prec, op, s, x, w, gy, False,
                                                                    a.reverse, a.timing, per=per32)[0]
                            others.append((None, per32, True, g32))
                        for r, pr, hl, g1 in others:
                            g2, _, n2 = launch(mods[f], version, prec, op, s, x, w, gy, False, a.reverse, a.timing,
                                               rows=r, per=pr, halo=hl)
                            same = np.array_equal(g2, g1)
                            line += f", {n2[-4:]} same bits" if same else f", {n2} BITS DIFFER"
                            ok = ok and same
                            for m in MEMSTATS or [] if prec == "bf16" or hl else []:
                                (li, lw, lk), (ci, cw, ck), (se, sk) = m["ldmatrix"], m["cp.async"], m["sectors"]
                                # (rows of gy no whole number of sectors: as above)
                                if lw > lk or cw > ck or (se > sk and s.c >= 16 and s.o % 16 == 0):
                                    line += f" ({n2}: wavefronts {lw}/{lk} {cw}/{ck}, sectors {se}/{sk})"
                                    ok = False
                    print(("ok   " if ok else "FAIL ") + line + f" ({time.time() - t:.1f} s)", flush=True)
                    bad += not ok
    print("all ok" if not bad else f"{bad} FAILED")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
