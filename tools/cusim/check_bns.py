#!/usr/bin/env python3
"""Runs the BNS contrastive-loss kernels themselves (kernels/contrastive.cu v1-v4, kernels/contrastive_wgmma.cu
v5 and bns_v5_chain_probe) on the CPU through cusim, with the exact launch sequence of their Rust launchers
(src/loss/bns_cuda.rs: BnsCodeCuda::run as called by bns_code_cuda, BnsPaperCuda::run as called by
bns_paper_cuda, bns_v5_chain_probe), against float64 NumPy references of src/loss/bns.rs (bns_code_stacked_f64,
bns_paper_f64; the math copied from tools/emulate_bns.py). v1, v2, v3 passed their GPU tests on an H200:
agreeing on them checks the simulator; v4 and v5 have not run on a GPU yet.

Reproduced around the loss kernels, as the launchers do: bns_normalize_f32 (a null bf16 pointer for v1/v2, the
bf16 copy with row stride 128 for v3-v5), the gathers of the paper form's q rows (bns_gather_rows_f32 /
bns_gather_rows_bf16), the memsets before every atomic accumulation (v4/v5 partial sums and gradients, the
paper form's gq before bns_scatter_add_rows_f32), split_columns / split_columns_by for the v4/v5 grids (with
the SM count of the case: 132 is an H100/H200; smaller counts give multi-tile splits), bns_code_fin_v4_f32,
bns_loss_sum_f32 and bns_norm_bwd_f32; scalars as the launchers compute them in f32 (inv_tau = 1/tau,
c = 1/rows, loss scale 1/n). Outputs start as the launchers' poison (NaN); stricter than the launchers, the
bf16 copies start as NaN (0xFFFF) and the buffers the launchers memset start as garbage, so that a missing
write or memset shows.

Pass criterion: |loss - ref| / |ref| and the gradients' relative L2 error (the project's rel_err) wrt the
unnormalised embeddings below 1e-4 (fp32 v1, v2) or 1e-2 (bf16 v3-v7, the GPU tests' tolerance); the
gradients wrt the normalised embeddings (before bns_norm_bwd_f32) are printed as well. The code form's
forward sums of v4-v7 (part) are checked against float64 sums over the same bf16 rows to 1e-5 (counts
exact): v7 sums half its pairs as columns, and a pair added to the wrong row moves the loss too little.

    python3 tools/cusim/check_bns.py [--only v1,v2,v3,v4,v5] [--reverse] [--timing eager]   # exit 1 on a mismatch
"""
import argparse
import os
import re
import struct
import sys
import time

import numpy as np

import cusim

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tools/: the emulator's references
from emulate_bns import Layout, paper_loss_direct  # noqa: E402
from emulate_bns import paper_reference as emulated_paper_reference  # noqa: E402
from emulate_bns import reference as emulated_code_reference  # noqa: E402

DMAX = 128                           # FUSED_DMAX: row stride of the bf16 copies
V5_SMEM = (128 + 3 * 64) * DMAX * 2  # bns_cuda.rs V5_SMEM (= B5_SMEM)
V6_SMEM = (128 + 4 * 64) * DMAX * 2  # bns_cuda.rs V6_SMEM (= B6_SMEM)
EPS = 1e-12
TOL = {"v1": 1e-4, "v2": 1e-4, "v3": 1e-2, "v4": 1e-2, "v5": 1e-2, "v6": 1e-2, "v7": 1e-2}
NULL = object()                      # a null pointer argument
F32 = np.float32


def f32(x):
    return float(F32(x))


def blocks(n, per):  # bns_cuda.rs blocks()
    return -(-n // per)


def cfg(grid, block):  # bns_cuda.rs cfg(): grid dimensions clamped to >= 1
    return (max(grid[0], 1), max(grid[1], 1)), block


def split_columns_by(sms, nx, ny, rows, threads):  # bns_cuda.rs split_columns_by -> ((grid, block), cols)
    row_blocks = blocks(nx, rows)
    tiles = max(-(-ny // 64), 1)
    want = min(max(-(-(4 * max(sms, 1)) // max(row_blocks, 1)), 1), tiles)
    cols = -(-tiles // want) * 64
    splits = max(-(-ny // cols), 1)
    return cfg((row_blocks, splits), (threads, 1)), cols


def split_columns(sms, nx, ny):  # v4: 64 own rows per 128-thread block
    return split_columns_by(sms, nx, ny, 64, 128)


def uneven_split_plan(units, resident, overhead):  # waves.rs uneven_split_plan -> (items, per)
    resident, most = max(resident, 1), max(max(units, default=1), 1)
    best = None
    for per in list(range(1, min(most, 512) + 1)) + [most]:
        k = sum(-(-max(u, 1) // per) for u in units)
        cost = -(-k // resident) * (per + overhead)
        if best is None or cost < best[0] or (cost == best[0] and k < best[1]):
            best = (cost, k, per)
    return best[1], best[2]


def triangle_items(sms, n):  # bns_cuda.rs triangle_items (one resident block per SM here) -> (cfg, per)
    items, per = uneven_split_plan([-(-(n - r) // 64) for r in range(0, n, 128)], sms, 2)
    return cfg((items, 1), (256, 1)), per


def bf16_bits(x):
    u = np.ascontiguousarray(x, np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def bits_f32(h):
    return (h.astype(np.uint32) << 16).view(np.float32)


def rel_err(got, want):  # src/bench/mod.rs rel_err: relative L2 error, inf on a non-finite value
    got, want = np.asarray(got, np.float64).ravel(), np.asarray(want, np.float64).ravel()
    if not np.isfinite(got).all():
        return np.inf
    den = (want ** 2).sum()
    num = ((got - want) ** 2).sum()
    return float(np.sqrt(num / den) if den > 0 else np.sqrt(num))


def loss_err(got, want):
    return abs(float(got) - want) / max(abs(want), 1e-30) if np.isfinite(got) else np.inf


# ------------------------------------------------------------------------------------------------ the device
class Device:
    """Device memory as named NumPy arrays and the launch stream. Consecutive launches of one kernel file
    share a cusim job; a launch from the other file (v5's finish kernel lives in contrastive.cu) runs the
    open job first and copies its buffers back, so that the order of launches and memsets is kept."""

    def __init__(self, mods, reverse, timing="lazy"):
        self.mods, self.reverse, self.timing = mods, reverse, timing
        self.mem, self.file, self.job, self.h = {}, None, None, {}

    def alloc(self, name, array):
        self.mem[name] = np.ascontiguousarray(array)

    def _handle(self, name):
        if name not in self.h:
            self.h[name] = self.job.buf(self.mem[name])
        return self.h[name]

    def memset(self, name):  # cudaMemset(0)
        if self.job is not None:
            self.job.memset(self._handle(name), 0)
        else:
            self.mem[name][...] = 0

    def launch(self, file, kernel, launch_cfg, args, smem=0):
        grid, block = launch_cfg
        if file != self.file:
            self.sync()
            self.file, self.job, self.h = file, self.mods[file].job(), {}
        real = []
        for a in args:
            if a is NULL:
                real.append(None)  # Job.launch passes None as a null pointer
            elif isinstance(a, str):
                real.append(self._handle(a))
            else:
                real.append(a)
        self.job.launch(kernel, grid=grid, block=block, smem=smem, args=real, reverse=self.reverse,
                        timing=self.timing)

    def sync(self):
        if self.job is None:
            return
        res = self.job.run()
        for name, h in self.h.items():
            self.mem[name] = res[h]
        self.file, self.job, self.h = None, None, {}


CU, WG = "contrastive", "contrastive_wgmma"


def normalize(dev, zn, zb, z, n, d):  # bns_cuda.rs normalize()
    dev.launch(CU, "bns_normalize_f32", cfg((blocks(n, 8), 1), (256, 1)), [zn, zb if zb else NULL, z, n, d, DMAX])


def norm_bwd(dev, gx, g, z, n, d):
    dev.launch(CU, "bns_norm_bwd_f32", cfg((blocks(n, 8), 1), (256, 1)), [gx, g, z, n, d])


def loss_sum(dev, loss, v, n, scale):
    dev.launch(CU, "bns_loss_sum_f32", cfg((1, 1), (1024, 1)), [loss, v, n, scale])


def sim_v1(dev, s, x, y, rows, m, d, scale):
    dev.launch(CU, "bns_sim_v1_f32", cfg((blocks(m, 16), blocks(rows, 16)), (16, 16)), [s, x, y, rows, m, d, scale])


def matmul_v1(dev, g, mm, y, rows, m, d, tm, scale):
    dev.launch(CU, "bns_matmul_v1_f32", cfg((blocks(d, 32), blocks(rows, 8)), (32, 8)),
               [g, mm, y, rows, m, d, int(tm), scale])


def code_fin(dev, n):
    dev.launch(CU, "bns_code_fin_v4_f32", cfg((blocks(n, 256), 1), (256, 1)), ["alpha", "beta", "row_loss", "part", n])


def run_code(dev, v, z, labels, tau, sms):
    """bns_code_cuda's BnsCodeCuda::new + poison + run for stacked z [n, d] and per-row labels.
    Returns (loss, g = dL/dzhat, gx = dL/dz, grid info)."""
    n, d = z.shape
    nan = lambda *s: np.full(s, np.nan, np.float32)
    dev.alloc("z", z.astype(np.float32))
    dev.alloc("lab", labels.astype(np.int32))
    dev.alloc("zn", np.zeros((n, d), np.float32))
    for name in ("alpha", "beta", "row_loss"):
        dev.alloc(name, nan(n))
    dev.alloc("g", nan(n, d))
    dev.alloc("loss", nan(1))
    dev.alloc("gx", nan(n, d))
    bf = v in ("v3", "v4", "v5", "v6", "v7")
    if bf:
        dev.alloc("zb", np.full((n, DMAX), 0xFFFF, np.uint16))
    if v == "v1":
        dev.alloc("s", np.zeros((n, n), np.float32))
    if v in ("v4", "v5", "v6", "v7"):
        dev.alloc("part", np.full(3 * n, 1e3, np.float32))  # garbage: the memset must clear it
    inv_tau = f32(F32(1.0) / F32(tau))
    info = ""
    if v in ("v6", "v7"):  # bns_normalize_zero_f32 zeroes the partial sums and the gradient (no memsets)
        dev.launch(CU, "bns_normalize_zero_f32", cfg((blocks(n, 8), 1), (256, 1)), ["zn", "zb", "part", "g", "z", n, d, DMAX])
    else:
        normalize(dev, "zn", "zb" if bf else None, "z", n, d)
    if v == "v1":
        sim_v1(dev, "s", "zn", "zn", n, n, d, inv_tau)
        dev.launch(CU, "bns_code_rows_v1_f32", cfg((n, 1), (256, 1)), ["alpha", "beta", "row_loss", "s", "lab", n])
        dev.launch(CU, "bns_code_grad_v1_f32", cfg((blocks(n * n, 256), 1), (256, 1)), ["s", "alpha", "beta", "lab", n])
        matmul_v1(dev, "g", "s", "zn", n, n, d, False, inv_tau)
    elif v == "v2":
        c = cfg((blocks(n, 32), 1), (256, 1))
        dev.launch(CU, "bns_code_fwd_v2_f32", c, ["alpha", "beta", "row_loss", "zn", "lab", n, d, inv_tau])
        dev.launch(CU, "bns_code_bwd_v2_f32", c, ["g", "alpha", "beta", "zn", "lab", n, d, inv_tau])
    elif v == "v3":
        c = cfg((blocks(n, 64), 1), (128, 1))
        dev.launch(CU, "bns_code_fwd_v3_bf16", c, ["alpha", "beta", "row_loss", "zb", "lab", n, inv_tau])
        dev.launch(CU, "bns_code_bwd_v3_bf16", c, ["g", "alpha", "beta", "zb", "lab", n, d, inv_tau])
    elif v == "v4":
        c, cols = split_columns(sms, n, n)
        dev.memset("part")
        dev.launch(CU, "bns_code_fwd_v4_bf16", c, ["part", "zb", "lab", n, inv_tau, cols])
        code_fin(dev, n)
        dev.memset("g")
        dev.launch(CU, "bns_code_bwd_v4_bf16", c, ["g", "alpha", "beta", "zb", "lab", n, d, inv_tau, cols])
        info = split_info(c, cols, n)
    else:  # code_wgmma (v5, v6, v7: v7's own forward grid, v6's backward)
        smem = V5_SMEM if v == "v5" else V6_SMEM
        c, cols = split_columns_by(sms, n, n, 128, 256)
        if v == "v5":
            dev.memset("part")
        if v == "v7":
            tc, per = triangle_items(sms, n)
            dev.launch(WG, "bns_code_fwd_v7_bf16", tc, ["part", "zb", "lab", n, inv_tau, per], smem=smem)
        else:
            dev.launch(WG, f"bns_code_fwd_{v}_bf16", c, ["part", "zb", "lab", n, inv_tau, cols], smem=smem)
        code_fin(dev, n)
        if v == "v5":
            dev.memset("g")
        bwd = "v6" if v == "v7" else v
        dev.launch(WG, f"bns_code_bwd_{bwd}_bf16", c, ["g", "alpha", "beta", "zb", "lab", n, d, inv_tau, cols],
                   smem=smem)
        info = split_info(c, cols, n)
        if v == "v7":
            info = f"forward {tc[0][0]} items of {per} tiles; backward {info}"
    loss_sum(dev, "loss", "row_loss", n, f32(F32(1.0) / F32(n)))
    norm_bwd(dev, "gx", "g", "z", n, d)
    dev.sync()
    if "part" in dev.mem:
        info += f"; forward sums {part_err(dev.mem['part'], dev.mem['zb'], labels, inv_tau):.1e}"
    return dev.mem["loss"][0], dev.mem["g"], dev.mem["gx"], info


def part_err(part, zb, labels, inv_tau):
    """The forward's per-row sums (v4-v7: e^(s/tau) of the positives, their count, of the negatives) against
    float64 sums over the same bf16 rows: the largest relative L2 error of the three, inf where a count is
    off. Tighter than the loss: a pair summed into the wrong row or twice shows here."""
    z = bits_f32(zb).astype(np.float64)
    e = np.exp(z @ z.T * inv_tau)
    same = labels[:, None] == labels[None, :]
    np.fill_diagonal(same, False)
    neg = labels[:, None] != labels[None, :]
    part = part.reshape(-1, 3).astype(np.float64)
    if not np.array_equal(part[:, 1], same.sum(1)):
        return np.inf
    return max(rel_err(part[:, 0], (e * same).sum(1)), rel_err(part[:, 2], (e * neg).sum(1)))


def split_info(c, cols, ny):
    (gx, gy), _ = c
    return f"{gx}x{gy} blk, cols {cols} (last {ny - (gy - 1) * cols})"


def run_paper(dev, v, z1, z2, labels, layout, tau, sms):
    """bns_paper_cuda's BnsPaperCuda::new + poison + run. Returns (loss, gqr, gv, g1, g2, grid info)."""
    b, d = z1.shape
    rows = layout.rows()
    rq, ra = np.array([layout.row(r) for r in range(rows)], np.int32).T
    nan = lambda *s: np.full(s, np.nan, np.float32)
    dev.alloc("z1", z1.astype(np.float32))
    dev.alloc("z2", z2.astype(np.float32))
    dev.alloc("lab", labels.astype(np.int32))
    dev.alloc("row_q", np.ascontiguousarray(rq))
    dev.alloc("row_anchor", np.ascontiguousarray(ra))
    dev.alloc("qn", np.zeros((b, d), np.float32))
    dev.alloc("vn", np.zeros((b, d), np.float32))
    dev.alloc("qr", np.zeros((rows, d), np.float32))
    dev.alloc("gqr", nan(rows, d))
    dev.alloc("gq", np.full((b, d), 1e3, np.float32))  # garbage: the memset must clear it
    dev.alloc("gv", nan(b, d))
    dev.alloc("row_loss", nan(rows))
    dev.alloc("loss", nan(1))
    dev.alloc("g1", nan(b, d))
    dev.alloc("g2", nan(b, d))
    if v == "v1":
        dev.alloc("s", np.zeros((rows, b), np.float32))
    bf = v in ("v3", "v4", "v5", "v6")
    if bf:
        for name, r in (("qb", b), ("vb", b), ("qrb", rows)):
            dev.alloc(name, np.full((r, DMAX), 0xFFFF, np.uint16))
    inv_tau = f32(F32(1.0) / F32(tau))
    c = f32(F32(1.0) / F32(rows))
    ew = cfg((blocks(rows * d, 256), 1), (256, 1))
    info = ""
    if bf:
        normalize(dev, "qn", "qb", "z1", b, d)
        normalize(dev, "vn", "vb", "z2", b, d)
        dev.launch(CU, "bns_gather_rows_bf16", cfg((blocks(rows * (DMAX // 8), 256), 1), (256, 1)),
                   ["qrb", "qb", "row_q", rows])
    else:
        normalize(dev, "qn", None, "z1", b, d)
        normalize(dev, "vn", None, "z2", b, d)
        dev.launch(CU, "bns_gather_rows_f32", ew, ["qr", "qn", "row_q", rows, d])
    if v == "v1":
        sim_v1(dev, "s", "qr", "vn", rows, b, d, inv_tau)
        dev.launch(CU, "bns_paper_rows_v1_f32", cfg((rows, 1), (256, 1)), ["s", "row_loss", "lab", "row_anchor", rows, b, c])
        matmul_v1(dev, "gqr", "s", "vn", rows, b, d, False, inv_tau)
        matmul_v1(dev, "gv", "s", "qr", b, rows, d, True, inv_tau)
    elif v == "v2":
        dev.launch(CU, "bns_paper_rows_v2_f32", cfg((blocks(rows, 32), 1), (256, 1)),
                   ["gqr", "row_loss", "qr", "vn", "lab", "row_anchor", rows, b, d, inv_tau, c])
        dev.launch(CU, "bns_paper_cols_v2_f32", cfg((blocks(b, 32), 1), (256, 1)),
                   ["gv", "vn", "qr", "lab", "row_anchor", rows, b, d, inv_tau, c])
    else:
        split = v != "v3"
        if split:
            for name in ("gqr", "row_loss", "gv"):
                dev.memset(name)

        def geometry(own, cols_of):
            if v in ("v5", "v6"):
                lc, cols = split_columns_by(sms, own, cols_of, 128, 256)
                return WG, lc, cols, V5_SMEM if v == "v5" else V6_SMEM
            if v == "v4":
                lc, cols = split_columns(sms, own, cols_of)
                return CU, lc, cols, 0
            return CU, cfg((blocks(own, 64), 1), (128, 1)), 0, 0

        f, rc, rcols, smem = geometry(rows, b)
        args = ["gqr", "row_loss", "qrb", "vb", "lab", "row_anchor", rows, b, d, inv_tau, c] + ([rcols] if split else [])
        dev.launch(f, f"bns_paper_rows_{v}_bf16", rc, args, smem=smem)
        f, cc, ccols, smem = geometry(b, rows)
        args = ["gv", "vb", "qrb", "lab", "row_anchor", rows, b, d, inv_tau, c] + ([ccols] if split else [])
        dev.launch(f, f"bns_paper_cols_{v}_bf16", cc, args, smem=smem)
        if split:
            info = f"rows {split_info(rc, rcols, b)}; cols {split_info(cc, ccols, rows)}"
    loss_sum(dev, "loss", "row_loss", rows, c)
    dev.memset("gq")
    dev.launch(CU, "bns_scatter_add_rows_f32", ew, ["gq", "gqr", "row_q", rows, d])
    norm_bwd(dev, "g1", "gq", "z1", b, d)
    norm_bwd(dev, "g2", "gv", "z2", b, d)
    dev.sync()
    m = dev.mem
    return m["loss"][0], m["gqr"], m["gv"], m["g1"], m["g2"], info


def run_probe(dev, zb, n, c0):
    """bns_cuda.rs bns_v5_chain_probe: one block of 256 threads, V5_SMEM bytes of dynamic shared memory."""
    rows = min(n, 128)
    dev.alloc("zb", zb)
    dev.alloc("G", np.full((rows, DMAX), np.nan, np.float32))
    dev.launch(WG, "bns_v5_chain_probe", cfg((1, 1), (256, 1)), ["G", "zb", n, c0], smem=V5_SMEM)
    dev.sync()
    return dev.mem["G"]


# ------------------------------------------------------------------------ float64 references (src/loss/bns.rs)
def check_references():
    """Both references against central finite differences of their losses (small, float64)."""
    rng = np.random.default_rng(5)
    h = 1e-6

    def fd(f, x):
        g = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            xp, xm = x.copy(), x.copy()
            xp[i] += h
            xm[i] -= h
            g[i] = (f(xp) - f(xm)) / (2 * h)
        return g

    z = rng.standard_normal((12, 5))
    lab = np.array([0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 3, 4])
    ec = rel_err(code_reference(z, lab, 0.5)[2], fd(lambda x: code_reference(x, lab, 0.5)[0], z))
    z1, z2 = rng.standard_normal((10, 4)), rng.standard_normal((10, 4))
    lab = np.array([0, 1, 0, 1, 2, 0, 1, 2, 0, 1])
    lay = Layout([1, 4, 8], [3, 3, 9, 7, 7, 4, 0, 5, 0], 3, 10)
    loss, _, _, g1, g2 = paper_reference(z1, z2, lab, lay, 0.5)
    el = abs(loss - paper_loss_direct(z1, z2, lab, lay, 0.5)) / abs(loss)
    e1 = rel_err(g1, fd(lambda x: paper_loss_direct(x, z2, lab, lay, 0.5), z1))
    e2 = rel_err(g2, fd(lambda x: paper_loss_direct(z1, x, lab, lay, 0.5), z2))
    ok = ec < 1e-6 and el < 1e-12 and e1 < 1e-6 and e2 < 1e-6
    print(f"{'ok  ' if ok else 'FAIL'} references: code grad vs finite differences {ec:.1e}; paper loss vs "
          f"per-anchor loss {el:.1e}, grads vs finite differences {e1:.1e} {e2:.1e}", flush=True)
    return ok


# ------------------------------------------------------------------------------------------------ the cases
def image_labels(kind, b, g, rng):
    """tests/it/bns.rs label_sets(b, g): per group of g images one class, all distinct or long-tailed
    (10 classes, imbalance 100); 'rows-long-tail' (code form, per row): classes of ~n/2^(c+1) rows, then
    singletons (rows without positives, the dropped-positive branch)."""
    groups = -(-b // g)
    if kind == "one-class":
        return np.full(b, 3)
    if kind == "distinct":
        return np.arange(b) // g
    if kind == "long-tailed":
        w = 100.0 ** (-np.arange(10) / 9.0)
        lt = np.minimum(np.searchsorted(np.cumsum(w / w.sum()), rng.random(groups), side="right"), 9)
        return lt[np.arange(b) // g]
    if kind == "mod5":
        return np.arange(b) % 5
    if kind == "rows-long-tail":
        l, c, left = [], 0, b
        while left > 0:
            k = max(1, min(left, b >> (c + 1)))
            l += [c] * k
            left -= k
            c += 1
        return rng.permutation(np.array(l))
    raise ValueError(kind)


# code form: (N stacked rows, d, labels, paired (labels per image, stacked twice) or per row, tau, SMs)
def code_reference(z, labels, tau):
    """bns_code_stacked_f64: loss, dL/dzhat, dL/dz (tools/emulate_bns.py reference())."""
    loss, gx, gzn = emulated_code_reference(z, labels, tau)
    return loss, gzn, gx


def paper_reference(z1, z2, labels, layout, tau):
    """bns_paper_f64: loss, dL/dqhat per row (gqr), dL/dvhat (gv), dL/dz1, dL/dz2 (emulate_bns.py)."""
    loss, _, gqr, gv, g1, g2 = emulated_paper_reference(z1, z2, labels, layout, tau)
    return loss, gqr, gv, g1, g2


CODE_CASES = [
    (64, 128, "one-class", True, 0.5, 132),          # v4/v5: one block, one split
    (64, 40, "distinct", True, 0.5, 132),            # one positive per row; padding beyond d
    (200, 128, "long-tailed", True, 0.5, 132),       # v4: 4x4 blocks of 64 cols, last 8; v5: 2x4
    (200, 40, "rows-long-tail", False, 0.5, 1),      # rows without positives; v4 one 256-col split (4 tiles),
                                                     # v5 2 splits of 128 (ring of 2 tiles), last 72
    (200, 128, "distinct", True, 0.2, 2),            # v4 2 splits of 128, last 72; v5 4 of 64
    (700, 64, "long-tailed", False, 0.5, 1),         # one split of 11 tiles: the rings wrap around
    (200, 41, "long-tailed", True, 0.5, 2),          # odd d: v6/v7's gradient rows by scalar atomics
]
# paper form: (layout, b, anchors (hand) or None (groups), m, d, labels, tau, SMs)
PAPER_CASES = [
    ("groups", 28, None, 6, 128, "one-class", 0.5, 132),   # N=64 of the GPU test; no negatives
    ("groups", 28, None, 6, 40, "distinct", 0.5, 132),
    ("groups", 98, None, 6, 128, "long-tailed", 0.5, 132),  # N=200: rows 98, splits of 64, last 34
    ("groups", 198, None, 2, 40, "long-tailed", 0.5, 1),   # rows 198: v4 one split of 4 tiles, v5 2x128 last 70
    ("groups", 198, None, 2, 128, "distinct", 0.5, 2),     # v4 2x128 last 70
    ("hand", 200, 13, 4, 128, "mod5", 0.5, 2),             # repeated extras, anchors off group starts; rows 65
    ("groups", 399, None, 2, 64, "long-tailed", 0.5, 1),   # 7 column tiles per split: the rings wrap around
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="v1,v2,v3,v4,v5,v6,v7",
                    help="versions (v5 includes bns_v5_chain_probe; v7: the code form only)")
    ap.add_argument("--reverse", action="store_true", help="schedule threads in reverse order")
    ap.add_argument("--kernels", default="kernels", help="the kernel folder (a mutated copy, for a power check)")
    ap.add_argument("--timing", default="lazy", choices=sorted(cusim.TIMING),
                    help="when cp.async copies and wgmma ops complete: at their wait (lazy) or at issue")
    a = ap.parse_args()
    versions = [v for v in ("v1", "v2", "v3", "v4", "v5", "v6", "v7") if v in a.only.split(",")]
    t_all = time.time()
    mods = {}
    for f in (CU, WG) if {"v5", "v6", "v7"} & set(versions) else (CU,):
        t = time.time()
        mods[f] = cusim.Module(os.path.join(a.kernels, f"{f}.cu"))
        print(f"built {f}.cu for cusim in {time.time() - t:.1f} s", flush=True)
    bad = 0 if check_references() else 1

    def report(ok, text, t):
        nonlocal bad
        bad += not ok
        print(("ok   " if ok else "FAIL ") + text + f" ({time.time() - t:.1f} s)", flush=True)

    rng = np.random.default_rng(2026)
    for n, d, kind, paired, tau, sms in CODE_CASES:
        if paired:
            b = n // 2
            lab = image_labels(kind, b, 1, rng)
            labels = np.concatenate([lab, lab])  # bns_code_cuda: [labels; labels] for z = [z1; z2]
        else:
            labels = image_labels(kind, n, 1, rng)
        z = rng.uniform(-1, 1, (n, d)).astype(np.float32)
        rl, rg, rgx = code_reference(z.astype(np.float64), labels, float(F32(tau)))
        for v in versions:
            t = time.time()
            what = f"code  {v} N={n:3d} D={d:3d} {kind:14s} tau={tau} sms={sms:3d}"
            try:
                loss, g, gx, info = run_code(Device(mods, a.reverse, a.timing), v, z, labels, tau, sms)
            except (cusim.RunError, cusim.TranslateError) as e:
                report(False, f"{what}: {e}", t)
                continue
            el, eh, eg = loss_err(loss, rl), rel_err(g, rg), rel_err(gx, rgx)
            ok = el < TOL[v] and eg < TOL[v]
            m = re.search(r"forward sums (\S+)$", info)
            ok = ok and (m is None or float(m.group(1)) < 1e-5)
            report(ok, f"{what} loss {el:.1e} dL/dz {eg:.1e} (dL/dzhat {eh:.1e}) tol {TOL[v]:.0e}"
                   + (f"  [{info}]" if info else ""), t)

    for lay, b, na, m, d, kind, tau, sms in PAPER_CASES:
        layout = Layout.groups(b, m) if lay == "groups" else Layout.hand(b, na, m)
        labels = image_labels(kind, b, m + 1 if lay == "groups" else 1, rng)
        z1 = rng.uniform(-1, 1, (b, d)).astype(np.float32)
        z2 = rng.uniform(-1, 1, (b, d)).astype(np.float32)
        rl, rgqr, rgv, rg1, rg2 = paper_reference(z1.astype(np.float64), z2.astype(np.float64), labels, layout,
                                                  float(F32(tau)))
        for v in (v for v in versions if v != "v7"):  # v7 changes the code form only
            t = time.time()
            what = (f"paper {v} {lay:6s} b={b:3d} m={m} rows={layout.rows():3d} D={d:3d} {kind:11s} tau={tau} "
                    f"sms={sms:3d}")
            try:
                loss, gqr, gv, g1, g2, info = run_paper(Device(mods, a.reverse, a.timing), v, z1, z2, labels, layout, tau, sms)
            except (cusim.RunError, cusim.TranslateError) as e:
                report(False, f"{what}: {e}", t)
                continue
            el, e1, e2 = loss_err(loss, rl), rel_err(g1, rg1), rel_err(g2, rg2)
            eq, ev = rel_err(gqr, rgqr), rel_err(gv, rgv)
            ok = el < TOL[v] and e1 < TOL[v] and e2 < TOL[v]
            report(ok, f"{what} loss {el:.1e} dL/dz1 {e1:.1e} dL/dz2 {e2:.1e} (dL/dqhat rows {eq:.1e}, dL/dvhat "
                   f"{ev:.1e}) tol {TOL[v]:.0e}" + (f"  [{info}]" if info else ""), t)

    if "v5" in versions:  # tests/it/wgmma.rs cuda_bns_v5_wgmma_chain_matches_cpu
        for n, c0 in ((128, 0), (200, 64), (100, 64)):
            t = time.time()
            zb = bf16_bits(rng.uniform(-0.2, 0.2, (n, DMAX)).astype(np.float32))
            Z = bits_f32(zb).astype(np.float64)
            rows = min(n, 128)
            T = np.zeros((64, DMAX))
            T[:max(0, min(64, n - c0))] = Z[c0:c0 + 64]
            S = (Z[:rows] @ T.T).astype(np.float32)  # rounded to f32, then bf16, as the accumulators are
            want = bits_f32(bf16_bits(S)).astype(np.float64) @ T
            what = f"probe v5 bns_v5_chain_probe n={n:3d} c0={c0:3d}"
            try:
                got = run_probe(Device(mods, a.reverse, a.timing), zb, n, c0)
            except (cusim.RunError, cusim.TranslateError) as e:
                report(False, f"{what}: {e}", t)
                continue
            e = rel_err(got, want)
            report(e < 1e-2, f"{what} G {e:.1e} tol 1e-02", t)

    print(("all ok" if not bad else f"{bad} FAILED") + f" ({time.time() - t_all:.0f} s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
