#!/usr/bin/env python3
"""A NumPy emulation of the BNS loss on the bf16 tensor cores (kernels/contrastive.cu), both forms, for
desk-checking the index and fragment logic without a GPU:

- code form v3: bns_code_fwd_v3_bf16 + bns_code_bwd_v3_bf16 (validated on an H200: the check of this
  emulator);
- code form v4: bns_code_fwd_v4_bf16 + bns_code_fin_v4_f32 + bns_code_bwd_v4_bf16 (column splits, atomics,
  ldmatrix.trans);
- paper form v3: bns_paper_rows_v3_bf16 + bns_paper_cols_v3_bf16 (bns_paper_pass<MODE, false>, validated on
  an H200);
- paper form v4: bns_paper_rows_v4_bf16 + bns_paper_cols_v4_bf16 (bns_paper_pass<MODE, true>: column
  splits, ldmatrix.trans instead of BtT, atomics into zeroed sums via bns_store_g<true>),

with what the launchers (src/loss/bns_cuda.rs, BnsCodeCuda::run / BnsPaperCuda::run as called by
bns_code_cuda / bns_paper_cuda) run around them: bns_normalize_f32 (the bf16 copies, row stride 128,
zero-padded), bns_gather_rows_bf16 of the q rows (paper), the v4 grids and `cols` rule (split_columns), the
memsets of the partial sums and of the gradients, bns_loss_sum_f32, bns_scatter_add_rows_f32 (paper) and
bns_norm_bwd_f32. The paper form's direct reference is checked against METHOD.md's per-anchor loss (loops)
and its finite differences on a hand-made layout (repeated extra positives, anchors not at group starts).
Every block, warp and lane is emulated: each lane computes its own global and shared-memory addresses as
the kernel does (vectorised over the lanes of a warp or the threads of a block), every global read honours
the kernel's bounds/zero conditions (reads of masked lanes are not performed; out-of-range reads are
reported), mma.sync.m16n8k16.row.col, ldmatrix.x4(.trans), cvt.rn.bf16x2 and __shfl_xor_sync follow their
PTX/CUDA definitions, and atomicAdd adds. Values are float64 and bf16 rounding is skipped, so a correct
transcription agrees with a direct NumPy computation of the loss and its gradients to ~1e-13.

Shared memory starts as NaN with a write stamp per element: a read of an element never written, written
in an earlier column tile (stale), or written without a __syncthreads in between (race) is reported, as
are writes to an element read or written in the same barrier interval. Global outputs are poisoned (NaN)
as BnsCodeCuda::poison / BnsPaperCuda::poison do, the bf16 copies (zb; qb, vb, qrb) are poisoned too
(stricter than the launcher's zeroed allocations: the normalisation and the gather must write every element
the kernels read, padding included), v4's code-form partial sums and the paper form's gq start as garbage
so that the launcher's memset is what makes them right, and a plain (non-atomic) store to an element
already stored by the same launch is reported.

It is a hand transcription of the kernels, not the kernels: it checks the arithmetic of the indices and
the fragment layouts, not the compiler, the hardware, bf16 accuracy or the synchronisation as a GPU runs
it. Keep it in step with kernels/contrastive.cu. The GPU tests (the code- and paper-form CUDA tests) are what
validate.

Power check (mutated copies, not kept): swapping lb3/lb4 in v4's ldmatrix address, dropping .trans,
starting a v4 backward split one column late, extending a v4 forward split by one tile, leaving Bt's last
row or zb's padding unwritten, swapping the bf16x2 halves, or skipping the memset of v4's partial sums
each make it FAIL. Paper form: ending a v4 split one column late or starting it one column late, swapping
lb3/lb4 or dropping .trans in the ldmatrix read, skipping the memset of row_loss or of gv, splitting the
columns pass by the rows pass's rule (split_columns(rows, b)), not writing Ab, gathering the q rows by
row_anchor instead of row_q, a plain store instead of the atomic bns_store_g<true> in v4 or an add instead of the store in v3,
or sigmoid(s) for sigmoid(-s) in the positive weight each make it FAIL.

    python3 tools/emulate_bns.py [code] [paper]   # ~50 s on one core (both forms, the default); one line
                                                  # per (version, case), exit 1 on any FAIL
"""
import sys
import time

import numpy as np

WARP, BM, BN, DMAX, LDB, LDT, EPS = 32, 64, 64, 128, 136, 72, 1e-12  # BNS_V3_BM/BN, BNS_DMAX, BNS_LDB/LDT
LANE = np.arange(32)
GQ, TG = LANE // 4, LANE % 4
TOL = 1e-10


class Problems(list):
    def add(self, msg):
        if len(self) < 20:
            self.append(msg)


PROB = Problems()


def blocks(n, per):  # bns_cuda.rs blocks(); cfg() clamps a grid dimension to >= 1
    return max(1, -(-n // per))


# ------------------------------------------------------------------------------------------------ memory
class Glob:
    """A device allocation (element-indexed). Reads/writes are bounds-checked; plain stores are checked
    for a second store to the same element within one launch."""

    def __init__(self, name, data):
        self.name, self.a = name, np.array(data, dtype=np.float64).ravel()
        self.stores = np.zeros(self.a.size, dtype=np.int64)

    def launch(self):
        self.stores[:] = 0

    def _chk(self, idx, what):
        idx = np.asarray(idx, dtype=np.int64)
        bad = (idx < 0) | (idx >= self.a.size)
        if bad.any():
            PROB.add(f"{what} {self.name}[{idx[bad].ravel()[0]}] out of range (size {self.a.size})")
            idx = np.clip(idx, 0, self.a.size - 1)
        return idx

    def rd(self, idx):
        return self.a[self._chk(idx, "read of")]

    def wr(self, idx, v):
        idx = self._chk(idx, "store to").ravel()
        np.add.at(self.stores, idx, 1)
        if (self.stores[idx] > 1).any():
            PROB.add(f"{self.name}[{idx[self.stores[idx] > 1][0]}] stored twice in one launch")
        v = np.asarray(v, dtype=np.float64)
        self.a[idx] = v.ravel() if v.size == idx.size else np.broadcast_to(v, idx.shape)

    def atomic_add(self, idx, v):
        idx = self._chk(idx, "atomicAdd to").ravel()
        v = np.asarray(v, dtype=np.float64)
        np.add.at(self.a, idx, v.ravel() if v.size == idx.size else np.broadcast_to(v, idx.shape))


class Block:
    """Barrier intervals of one block: phase counts __syncthreads; valid_from is the phase of the current
    column tile's loads (a read must see a write from this tile, before the last barrier)."""

    def __init__(self):
        self.phase, self.valid_from = 0, 0

    def sync(self):
        self.phase += 1


class Shared:
    def __init__(self, name, size, blk):
        self.name, self.blk = name, blk
        self.a = np.full(size, np.nan)
        self.w = np.full(size, -1, dtype=np.int64)  # phase of the last write
        self.r = np.full(size, -1, dtype=np.int64)  # phase of the last read

    def _chk(self, idx, what):
        idx = np.asarray(idx, dtype=np.int64)
        bad = (idx < 0) | (idx >= self.a.size)
        if bad.any():
            PROB.add(f"{what} shared {self.name}[{idx[bad].ravel()[0]}] out of range (size {self.a.size})")
            idx = np.clip(idx, 0, self.a.size - 1)
        return idx

    def rd(self, idx):
        idx = self._chk(idx, "read of")
        w, p = self.w[idx], self.blk.phase
        if (w < 0).any():
            PROB.add(f"read of never-written shared {self.name}[{idx[w < 0].ravel()[0]}]")
        elif (w < self.blk.valid_from).any():
            PROB.add(f"stale read of shared {self.name}[{idx[w < self.blk.valid_from].ravel()[0]}]")
        if (w >= p).any():
            PROB.add(f"read of shared {self.name}[{idx[w >= p].ravel()[0]}] written in the same barrier interval")
        self.r[idx] = p
        return self.a[idx]

    def wr(self, idx, v):
        idx = self._chk(idx, "store to").ravel()
        p = self.blk.phase
        if (self.r[idx] >= p).any() or (self.w[idx] >= p).any() or np.unique(idx).size != idx.size:
            PROB.add(f"store to shared {self.name} element read/written in the same barrier interval")
        v = np.asarray(v, dtype=np.float64)
        self.a[idx] = v.ravel() if v.size == idx.size else np.broadcast_to(v, idx.shape)
        self.w[idx] = p


# ------------------------------------------------------------------------------------ warp primitives
def shfl_xor(v, o):  # __shfl_xor_sync(0xffffffff, v, o), width 32: lane l reads lane l ^ o
    return v[LANE ^ o]


def cvt_rn_bf16x2(a, b):  # cvt.rn.bf16x2.f32 d, a, b: a -> upper half, b -> lower half; (lo, hi) pairs
    return np.stack([b, a], axis=-1)


def pack_bf16(lo, hi):  # bns_pack_bf16: asm(... : "f"(hi), "f"(lo)) -> cvt(hi, lo)
    return cvt_rn_bf16x2(hi, lo)


def ld32_shared(sh, addr):  # *(const unsigned*)p, p in bf16 elements: low half = p[0]
    if (addr % 2).any():
        PROB.add(f"misaligned 32-bit shared load of {sh.name}")
    return np.stack([sh.rd(addr), sh.rd(addr + 1)], axis=-1)


def ld32_global(gl, addr):
    if (addr % 2).any():
        PROB.add(f"misaligned 32-bit load of {gl.name}")
    return np.stack([gl.rd(addr), gl.rd(addr + 1)], axis=-1)


# mma.sync.m16n8k16.row.col: lane l, g = l/4, q = l%4. A regs a0 (g, 2q..), a1 (g+8, 2q..), a2 (g, 2q+8..),
# a3 (g+8, 2q+8..); B regs b0 (k 2q.., col g), b1 (k 2q+8.., col g); C c0,c1 (g, 2q, 2q+1), c2,c3 (g+8, ..).
A_ROW = np.stack([GQ, GQ + 8, GQ, GQ + 8], 1)[:, :, None].repeat(2, 2)           # [lane, reg, half]
A_COL = (np.stack([2 * TG, 2 * TG, 2 * TG + 8, 2 * TG + 8], 1)[:, :, None] + np.arange(2))
B_K = (np.stack([2 * TG, 2 * TG + 8], 1)[:, :, None] + np.arange(2))               # [lane, reg, half]
B_N = GQ[:, None, None].repeat(2, 1).repeat(2, 2)
C_ROW = np.stack([GQ, GQ, GQ + 8, GQ + 8], 1)
C_COL = np.stack([2 * TG, 2 * TG + 1, 2 * TG, 2 * TG + 1], 1)
# every element of A (16x16), B (16x8) and C (16x8) is held by exactly one (lane, register, half)
assert sorted(zip(A_ROW.ravel(), A_COL.ravel())) == [(i, j) for i in range(16) for j in range(16)]
assert sorted(zip(B_K.ravel(), B_N.ravel())) == [(i, j) for i in range(16) for j in range(8)]
assert sorted(zip(C_ROW.ravel(), C_COL.ravel())) == [(i, j) for i in range(16) for j in range(8)]


def mma(c, a, b0, b1):
    """c[lane, 4] += A·B with A from a[lane, 4 regs, (lo, hi)], B from b0, b1 [lane, (lo, hi)]."""
    A = np.full((16, 16), np.nan)
    A[A_ROW, A_COL] = a
    B = np.full((16, 8), np.nan)
    B[B_K, B_N] = np.stack([b0, b1], axis=1)
    c += (A @ B)[C_ROW, C_COL]


def ldsm_x4(sh, addr, trans):
    """ldmatrix.sync.aligned.m8n8.x4(.trans).shared.b16: lanes 8j..8j+7 give the row addresses of
    matrix j; register j of lane l = matrix j's (row l/4, cols 2(l%4), +1), or with .trans the stored
    matrix's (rows 2(l%4), +1, col l/4); the first element in the low half."""
    if (addr % 8).any():
        PROB.add(f"ldmatrix row address not 16-byte aligned in {sh.name}")
    r = np.empty((32, 4, 2))
    for j in range(4):
        M = sh.rd(addr[8 * j:8 * j + 8, None] + np.arange(8))  # 8 rows of 8 b16 as stored
        if trans:
            r[:, j, 0], r[:, j, 1] = M[2 * TG, GQ], M[2 * TG + 1, GQ]
        else:
            r[:, j, 0], r[:, j, 1] = M[GQ, 2 * TG], M[GQ, 2 * TG + 1]
    return r


def softplus(x):
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


# ---------------------------------------------------------------------------------- shared by kernels
def bns_code_finish(alpha, beta, row_loss, r, ps, pc, ns, n):  # elementwise over the active threads
    nf = float(n)
    neg = ns / nf
    l = softplus(neg)
    beta.wr(r, sigmoid(neg) / (nf * nf))
    has = pc > 0.0
    pos = np.where(has, ps / np.where(has, pc, 1.0), 0.0)
    l = l + np.where(has, softplus(-pos), 0.0)
    alpha.wr(r, np.where(has, -sigmoid(-pos) / (nf * np.where(has, pc, 1.0)), 0.0))
    row_loss.wr(r, l)


def bns_normalize_f32(zn, zb, z, n, d, ldb, grid, bdim):
    for bx in range(grid):
        for w in range(bdim // WARP):
            row = (bx * bdim + w * WARP + LANE) // WARP  # one warp per row
            row = int(row[0])
            if row >= n:
                continue
            ss = np.zeros(32)
            for k0 in range(0, d, WARP):
                k = k0 + LANE
                m = k < d
                x = z.rd(row * d + k[m])
                ss[m] += x * x
            for o in (16, 8, 4, 2, 1):  # warp_sum_f32
                ss = ss + shfl_xor(ss, o)
            inv = 1.0 / np.maximum(np.sqrt(ss), EPS)
            for k0 in range(0, d, WARP):
                k = k0 + LANE
                m = k < d
                zn.wr(row * d + k[m], z.rd(row * d + k[m]) * inv[m])
            for k0 in range(0, ldb, WARP):
                k = k0 + LANE
                m = k < ldb
                v = np.zeros(32)
                kd = m & (k < d)
                v[kd] = z.rd(row * d + k[kd]) * inv[kd]
                zb.wr(row * ldb + k[m], v[m])


def bns_norm_bwd_f32(gx, g, z, n, d, grid, bdim):
    for bx in range(grid):
        for w in range(bdim // WARP):
            row = int((bx * bdim + w * WARP) // WARP)
            if row >= n:
                continue
            ss, gz = np.zeros(32), np.zeros(32)
            for k0 in range(0, d, WARP):
                k = k0 + LANE
                m = k < d
                x, gr = z.rd(row * d + k[m]), g.rd(row * d + k[m])
                ss[m] += x * x
                gz[m] += gr * x
            for o in (16, 8, 4, 2, 1):
                ss = ss + shfl_xor(ss, o)
                gz = gz + shfl_xor(gz, o)
            nrm = np.sqrt(ss)
            inv = 1.0 / np.maximum(nrm, EPS)
            dot = np.where(nrm > EPS, gz * inv, 0.0)
            for k0 in range(0, d, WARP):
                k = k0 + LANE
                m = k < d
                x, gr = z.rd(row * d + k[m]), g.rd(row * d + k[m])
                gx.wr(row * d + k[m], (gr - dot[m] * x * inv[m]) * inv[m])


def bns_loss_sum_f32(loss, v, n, scale, bdim=1024):
    tid = np.arange(bdim)
    s = np.zeros(bdim)
    for i0 in range(0, n, bdim):
        i = i0 + tid
        m = i < n
        s[m] += v.rd(i[m])
    nw = bdim // WARP  # block_sum_f32
    s = s.reshape(nw, WARP)
    for o in (16, 8, 4, 2, 1):
        s = s + s[:, LANE ^ o]
    scratch = s[:, 0].copy()
    t = np.where(LANE < nw, scratch[np.minimum(LANE, nw - 1)], 0.0)
    for o in (16, 8, 4, 2, 1):
        t = t + shfl_xor(t, o)
    loss.wr(0, scale * t[0])


# ------------------------------------------------------------------------------------ v3/v4 building blocks
def bns_load_a_frags(zb, r0, n):  # a[lane, ks, reg, half]
    ok0, ok1 = r0 + GQ < n, r0 + GQ + 8 < n
    p0, p1 = (r0 + GQ) * DMAX, (r0 + GQ + 8) * DMAX
    a = np.zeros((32, 8, 4, 2))
    for ks in range(8):
        k = ks * 16 + TG * 2
        a[ok0, ks, 0] = ld32_global(zb, (p0 + k)[ok0])
        a[ok1, ks, 1] = ld32_global(zb, (p1 + k)[ok1])
        a[ok0, ks, 2] = ld32_global(zb, (p0 + k + 8)[ok0])
        a[ok1, ks, 3] = ld32_global(zb, (p1 + k + 8)[ok1])
    return a


def bns_load_b_tile(Bt, zb, c0, n, bdim=128):  # all threads, 16-byte copies
    tid = np.arange(bdim)
    total = BN * (DMAX // 8)
    for i0 in range(0, total, bdim):
        i = i0 + tid
        i = i[i < total]
        r, q = i // (DMAX // 8), i % (DMAX // 8)
        v = np.zeros((i.size, 8))
        ok = c0 + r < n
        src = (c0 + r) * DMAX + q * 8
        if (src[ok] % 8).any():
            PROB.add("misaligned uint4 load of zb")
        v[ok] = zb.rd(src[ok][:, None] + np.arange(8))
        dst = r * LDB + q * 8
        if (dst % 8).any():
            PROB.add("misaligned uint4 store to Bt")
        Bt.wr(dst[:, None] + np.arange(8), v)


def bns_s_tile(a, Bt):  # acc[lane, nt, e]
    acc = np.zeros((32, 8, 4))
    for ks in range(8):
        for nt in range(8):
            p = (nt * 8 + GQ) * LDB + ks * 16 + TG * 2  # &Bt[nt*8 + gq][ks*16 + tg*2]
            mma(acc[:, nt], a[:, ks], ld32_shared(Bt, p), ld32_shared(Bt, p + 8))
    return acc


def bns_transpose_b_tile(BtT, Bt, bdim=128):
    tid = np.arange(bdim)
    for i0 in range(0, BN * DMAX, bdim):
        i = i0 + tid
        c, k = i % BN, i // BN
        BtT.wr(k * LDT + c, Bt.rd(c * LDB + k))  # BtT[k][c] = Bt[c][k]


def pa_of(m, j):
    return np.stack([pack_bf16(m[:, 2 * j, 0], m[:, 2 * j, 1]), pack_bf16(m[:, 2 * j, 2], m[:, 2 * j, 3]),
                     pack_bf16(m[:, 2 * j + 1, 0], m[:, 2 * j + 1, 1]),
                     pack_bf16(m[:, 2 * j + 1, 2], m[:, 2 * j + 1, 3])], axis=1)


def bns_mt_tile(g, m, BtT):
    for j in range(4):
        pa = pa_of(m, j)
        for nt in range(16):
            p = (nt * 8 + GQ) * LDT + j * 16 + TG * 2  # &BtT[nt*8 + gq][j*16 + tg*2]
            mma(g[:, nt], pa, ld32_shared(BtT, p), ld32_shared(BtT, p + 8))


def bns_mt_tile_ldsm(g, m, Bt):
    l8, lb3, lb4 = LANE % 8, (LANE >> 3) & 1, LANE >> 4
    for j in range(4):
        pa = pa_of(m, j)
        for np_ in range(8):
            addr = (j * 16 + l8 + 8 * lb3) * LDB + np_ * 16 + 8 * lb4  # &Bt[j*16 + l8 + 8*lb3][np*16 + 8*lb4]
            r = ldsm_x4(Bt, addr, trans=True)
            mma(g[:, 2 * np_], pa, r[:, 0], r[:, 1])
            mma(g[:, 2 * np_ + 1], pa, r[:, 2], r[:, 3])


def bns_store_g(G, g, r0, n, d, scale):
    for nt in range(16):
        for e in range(4):
            r = r0 + GQ + 8 * (e // 2)
            k = nt * 8 + TG * 2 + (e % 2)
            m = (r < n) & (k < d)
            G.wr((r * d + k)[m], g[m, nt, e] * scale)


def bns_add_g(G, g, r0, n, d, scale):  # bns_store_g<true>: the atomicAdd variant (G zeroed by the launcher)
    for nt in range(16):
        for e in range(4):
            r = r0 + GQ + 8 * (e // 2)
            k = nt * 8 + TG * 2 + (e % 2)
            m = (r < n) & (k < d)
            G.atomic_add((r * d + k)[m], g[m, nt, e] * scale)


def bns_code_sums_tile(ps, pc, ns, acc, ra, la, Lb, c0, n, inv_tau):
    for nt in range(8):
        for e in range(4):
            h = e // 2
            cj = nt * 8 + TG * 2 + (e % 2)
            b = c0 + cj
            m = (ra[h] < n) & (b < n) & (b != ra[h])
            ex = np.exp(acc[m, nt, e] * inv_tau)
            same = Lb.rd(cj[m]) == la[h][m]
            idx = np.nonzero(m)[0]
            ps[h][idx[same]] += ex[same]
            pc[h][idx[same]] += 1.0
            ns[h][idx[~same]] += ex[~same]


def bns_code_row_params(ra, lab, alpha, beta, n):
    la, al, be = [], [], []
    for h in range(2):
        ok = ra[h] < n
        l_, a_, b_ = np.zeros(32), np.zeros(32), np.zeros(32)
        l_[ok], a_[ok], b_[ok] = lab.rd(ra[h][ok]), alpha.rd(ra[h][ok]), beta.rd(ra[h][ok])
        la.append(l_), al.append(a_), be.append(b_)
    return la, al, be


def bns_code_load_cols(Bt, Lb, Alb, Beb, zb, lab, alpha, beta, c0, n, bdim=128):
    bns_load_b_tile(Bt, zb, c0, n, bdim)
    t = np.arange(bdim)
    t = t[t < BN]
    b = c0 + t
    ok = b < n
    L, A, B = np.zeros(t.size), np.zeros(t.size), np.zeros(t.size)
    L[ok], A[ok], B[ok] = lab.rd(b[ok]), alpha.rd(b[ok]), beta.rd(b[ok])
    Lb.wr(t, L), Alb.wr(t, A), Beb.wr(t, B)


def bns_code_coeff_tile(acc, ra, la, al, be, Lb, Alb, Beb, c0, n, inv_tau):
    for nt in range(8):
        for e in range(4):
            h = e // 2
            cj = nt * 8 + TG * 2 + (e % 2)
            b = c0 + cj
            mv = np.zeros(32)
            m = (ra[h] < n) & (b < n) & (b != ra[h])
            idx = np.nonzero(m)[0]
            ex = np.exp(acc[idx, nt, e] * inv_tau)
            same = Lb.rd(cj[idx]) == la[h][idx]
            i_s, i_d = idx[same], idx[~same]
            mv[i_s] = ex[same] * (al[h][i_s] + Alb.rd(cj[i_s]))
            mv[i_d] = ex[~same] * (be[h][i_d] + Beb.rd(cj[i_d]))
            acc[:, nt, e] = mv


# ------------------------------------------------------------------------------------------------ kernels
def bns_code_fwd_sums(blk, sh, bx, by, zb, lab, n, inv_tau, c_begin, c_end):
    """bns_code_fwd_sums for the 4 warps of block (bx, by): returns per warp (ps, pc, ns, ra)."""
    Bt, Lb = sh
    W = []
    for warp in range(4):
        r0 = bx * BM + warp * 16
        ra = [r0 + GQ, r0 + GQ + 8]
        la = []
        for h in range(2):
            l_ = np.zeros(32)
            l_[ra[h] < n] = lab.rd(ra[h][ra[h] < n])
            la.append(l_)
        a = bns_load_a_frags(zb, r0, n)
        W.append(dict(ra=ra, la=la, a=a, ps=[np.zeros(32), np.zeros(32)], pc=[np.zeros(32), np.zeros(32)],
                      ns=[np.zeros(32), np.zeros(32)]))
    for c0 in range(c_begin, c_end, BN):
        blk.sync()
        blk.valid_from = blk.phase
        bns_load_b_tile(Bt, zb, c0, n)
        t = np.arange(BN)
        L = np.zeros(BN)
        L[c0 + t < n] = lab.rd((c0 + t)[c0 + t < n])
        Lb.wr(t, L)
        blk.sync()
        for w in W:
            acc = bns_s_tile(w['a'], Bt)
            bns_code_sums_tile(w['ps'], w['pc'], w['ns'], acc, w['ra'], w['la'], Lb, c0, n, inv_tau)
    for w in W:
        for h in range(2):
            for o in (1, 2):
                w['ps'][h] = w['ps'][h] + shfl_xor(w['ps'][h], o)
                w['pc'][h] = w['pc'][h] + shfl_xor(w['pc'][h], o)
                w['ns'][h] = w['ns'][h] + shfl_xor(w['ns'][h], o)
    return W


def fwd_shared(blk):
    return Shared("Bt", BN * LDB, blk), Shared("Lb", BN, blk)


def bns_code_fwd_v3_bf16(grid, alpha, beta, row_loss, zb, lab, n, inv_tau):
    for bx in range(grid[0]):
        blk = Block()
        W = bns_code_fwd_sums(blk, fwd_shared(blk), bx, 0, zb, lab, n, inv_tau, 0, n)
        for warp, w in enumerate(W):
            tid = warp * 32 + LANE
            for h in range(2):
                m = (tid % 4 == 0) & (w['ra'][h] < n)
                bns_code_finish(alpha, beta, row_loss, w['ra'][h][m], w['ps'][h][m], w['pc'][h][m],
                                w['ns'][h][m], n)


def bns_code_bwd_v3_bf16(grid, gz, alpha, beta, zb, lab, n, d, inv_tau):
    for bx in range(grid[0]):
        blk = Block()
        Bt, BtT = Shared("Bt", BN * LDB, blk), Shared("BtT", DMAX * LDT, blk)
        Lb, Alb, Beb = Shared("Lb", BN, blk), Shared("Alb", BN, blk), Shared("Beb", BN, blk)
        W = []
        for warp in range(4):
            r0 = bx * BM + warp * 16
            ra = [r0 + GQ, r0 + GQ + 8]
            la, al, be = bns_code_row_params(ra, lab, alpha, beta, n)
            W.append(dict(r0=r0, ra=ra, la=la, al=al, be=be, a=bns_load_a_frags(zb, r0, n),
                          g=np.zeros((32, 16, 4))))
        for c0 in range(0, n, BN):
            blk.sync()
            blk.valid_from = blk.phase
            bns_code_load_cols(Bt, Lb, Alb, Beb, zb, lab, alpha, beta, c0, n)
            blk.sync()
            bns_transpose_b_tile(BtT, Bt)
            for w in W:
                acc = bns_s_tile(w['a'], Bt)
                bns_code_coeff_tile(acc, w['ra'], w['la'], w['al'], w['be'], Lb, Alb, Beb, c0, n, inv_tau)
                w['acc'] = acc
            blk.sync()  # BtT complete
            for w in W:
                bns_mt_tile(w['g'], w['acc'], BtT)
        for w in W:
            bns_store_g(gz, w['g'], w['r0'], n, d, inv_tau)


def bns_code_fwd_v4_bf16(grid, part, zb, lab, n, inv_tau, cols):
    for by in range(grid[1]):
        for bx in range(grid[0]):
            blk = Block()
            W = bns_code_fwd_sums(blk, fwd_shared(blk), bx, by, zb, lab, n, inv_tau, by * cols,
                                  min(n, (by + 1) * cols))
            for warp, w in enumerate(W):
                tid = warp * 32 + LANE
                for h in range(2):
                    m = (tid % 4 == 0) & (w['ra'][h] < n)
                    r = w['ra'][h][m]
                    part.atomic_add(3 * r, w['ps'][h][m])
                    part.atomic_add(3 * r + 1, w['pc'][h][m])
                    part.atomic_add(3 * r + 2, w['ns'][h][m])


def bns_code_fin_v4_f32(grid, bdim, alpha, beta, row_loss, part, n):
    for bx in range(grid[0]):
        r = bx * bdim + np.arange(bdim)
        r = r[r < n]
        bns_code_finish(alpha, beta, row_loss, r, part.rd(3 * r), part.rd(3 * r + 1), part.rd(3 * r + 2), n)


def bns_code_bwd_v4_bf16(grid, gz, alpha, beta, zb, lab, n, d, inv_tau, cols):
    for by in range(grid[1]):
        for bx in range(grid[0]):
            blk = Block()
            Bt = Shared("Bt", BN * LDB, blk)
            Lb, Alb, Beb = Shared("Lb", BN, blk), Shared("Alb", BN, blk), Shared("Beb", BN, blk)
            W = []
            for warp in range(4):
                r0 = bx * BM + warp * 16
                ra = [r0 + GQ, r0 + GQ + 8]
                la, al, be = bns_code_row_params(ra, lab, alpha, beta, n)
                W.append(dict(r0=r0, ra=ra, la=la, al=al, be=be, a=bns_load_a_frags(zb, r0, n),
                              g=np.zeros((32, 16, 4))))
            c_end = min(n, (by + 1) * cols)
            for c0 in range(by * cols, c_end, BN):
                blk.sync()
                blk.valid_from = blk.phase
                bns_code_load_cols(Bt, Lb, Alb, Beb, zb, lab, alpha, beta, c0, n)
                blk.sync()
                for w in W:
                    acc = bns_s_tile(w['a'], Bt)
                    bns_code_coeff_tile(acc, w['ra'], w['la'], w['al'], w['be'], Lb, Alb, Beb, c0, n, inv_tau)
                    bns_mt_tile_ldsm(w['g'], acc, Bt)
            for w in W:
                bns_add_g(gz, w['g'], w['r0'], n, d, inv_tau)


# ------------------------------------------------------------------------------------------ the launcher
def v4_cols(n, sms):  # BnsCodeCuda::run, BnsVersion::V4
    row_blocks = blocks(n, 64)
    tiles = -(-n // 64)
    want = min(max(-(-(4 * max(sms, 1)) // row_blocks), 1), tiles)
    return -(-tiles // want) * 64


def run_launcher(version, z, labels, tau, sms=132, cols=None):
    """bns_code_cuda -> BnsCodeCuda::new, poison, run. Returns (loss, gx, g = dL/dzhat, info)."""
    n, d = z.shape
    Z, LAB = Glob("z", z), Glob("lab", labels)
    zn = Glob("zn", np.zeros(n * d))
    zb = Glob("zb", np.full(n * DMAX, np.nan))  # stricter than dev.zeros: normalize must write it all
    alpha, beta, row_loss = Glob("alpha", np.full(n, np.nan)), Glob("beta", np.full(n, np.nan)), \
        Glob("row_loss", np.full(n, np.nan))
    g, loss, gx = Glob("g", np.full(n * d, np.nan)), Glob("loss", [np.nan]), Glob("gx", np.full(n * d, np.nan))
    part = Glob("part", np.full(3 * n, 1e3))  # garbage from a previous run: the memset must clear it
    inv_tau = 1.0 / tau
    for b in (Z, LAB, zn, zb, alpha, beta, row_loss, g, loss, gx, part):
        b.launch()
    bns_normalize_f32(zn, zb, Z, n, d, DMAX, blocks(n, 8), 256)
    info = ""
    if version == "v3":
        c = (blocks(n, 64), 1)
        for b in (alpha, beta, row_loss):
            b.launch()
        bns_code_fwd_v3_bf16(c, alpha, beta, row_loss, zb, LAB, n, inv_tau)
        g.launch()
        bns_code_bwd_v3_bf16(c, g, alpha, beta, zb, LAB, n, d, inv_tau)
    else:
        row_blocks = blocks(n, 64)
        if cols is None:
            cols = v4_cols(n, sms)
            info = f"sms={sms} "
        splits = -(-n // cols)
        info += f"cols={cols} splits={splits} last={n - (splits - 1) * cols}"
        c = (row_blocks, splits)
        part.a[:] = 0.0  # memset_zeros(part)
        bns_code_fwd_v4_bf16(c, part, zb, LAB, n, inv_tau, cols)
        for b in (alpha, beta, row_loss):
            b.launch()
        bns_code_fin_v4_f32((blocks(n, 256), 1), 256, alpha, beta, row_loss, part, n)
        g.a[:] = 0.0  # memset_zeros(g)
        bns_code_bwd_v4_bf16(c, g, alpha, beta, zb, LAB, n, d, inv_tau, cols)
    bns_loss_sum_f32(loss, row_loss, n, 1.0 / n)
    bns_norm_bwd_f32(gx, g, Z, n, d, blocks(n, 8), 256)
    return loss.a[0], gx.a.reshape(n, d), g.a.reshape(n, d), info


# ------------------------------------------------------------------------------------------ the reference
def reference(z, labels, tau):
    """Direct float64 code-form loss (file header / src/loss/bns.rs), dL/dzhat and dL/dz."""
    n = z.shape[0]
    nrm = np.maximum(np.linalg.norm(z, axis=1), EPS)
    zn = z / nrm[:, None]
    E = np.exp(zn @ zn.T / tau)
    off = ~np.eye(n, dtype=bool)
    same = (labels[:, None] == labels[None, :]) & off
    diff = labels[:, None] != labels[None, :]
    ps, pc, ns = (E * same).sum(1), same.sum(1).astype(float), (E * diff).sum(1)
    neg = ns / n
    has = pc > 0
    pos = np.where(has, ps / np.maximum(pc, 1), 0.0)
    loss = np.mean(softplus(neg) + np.where(has, softplus(-pos), 0.0))
    alpha = np.where(has, -sigmoid(-pos) / (n * np.maximum(pc, 1)), 0.0)
    beta = sigmoid(neg) / n ** 2
    M = E * (same * (alpha[:, None] + alpha[None, :]) + diff * (beta[:, None] + beta[None, :]))
    gzn = M @ zn / tau
    dot = np.where(nrm > EPS, (gzn * zn).sum(1), 0.0)
    gx = (gzn - dot[:, None] * zn) / nrm[:, None]
    return loss, gx, gzn


def reference_loss(z, labels, tau):
    return reference(z, labels, tau)[0]


def check_reference(rng):
    """The direct reference's gradient against central finite differences of its loss."""
    n, d, tau = 12, 5, 0.5
    z = rng.standard_normal((n, d))
    labels = np.array([0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 3, 4])
    _, gx, _ = reference(z, labels, tau)
    fd = np.zeros_like(z)
    h = 1e-6
    for i in range(n):
        for k in range(d):
            zp, zm = z.copy(), z.copy()
            zp[i, k] += h
            zm[i, k] -= h
            fd[i, k] = (reference_loss(zp, labels, tau) - reference_loss(zm, labels, tau)) / (2 * h)
    e = np.abs(fd - gx).max() / np.abs(gx).max()
    return e


# ---------------------------------------------------------------------------------------------- the cases
def labels_of(kind, n, rng):
    if kind == "paired":  # two views per image: [labels; labels], 5 classes
        b = n // 2
        l = rng.integers(0, 5, b)
        l[0] = 0
        return np.concatenate([l, l])
    if kind == "one-class":
        return np.zeros(n, dtype=np.int64)
    if kind == "distinct":  # every row its own label: no positives anywhere (label 0 included)
        return rng.permutation(n)
    if kind == "long-tail":  # class c has ~n/2^(c+1) rows, then singletons (rows without positives)
        l, c, left = [], 0, n
        while left > 0:
            k = max(1, min(left, n >> (c + 1)))
            l += [c] * k
            left -= k
            c += 1
        return rng.permutation(np.array(l))
    raise ValueError(kind)


# (n, d, labels, tau, v4 launcher: ('sms', s) -> cols by BnsCodeCuda::run's rule, or ('cols', c))
CASES = [
    (2, 3, "one-class", 0.5, ("sms", 132)),
    (40, 32, "paired", 0.5, ("sms", 132)),         # n < 64: one partial row block, one partial tile
    (40, 128, "one-class", 0.2, ("sms", 132)),     # no negatives
    (96, 100, "distinct", 0.5, ("cols", 64)),      # no positives; 2 splits, the last partial
    (200, 128, "long-tail", 0.3, ("sms", 132)),    # cols 64: 4 splits, last 8 columns
    (330, 100, "long-tail", 0.5, ("sms", 4)),      # cols 128: 3 splits of 2 tiles, last 74 columns
    (330, 32, "paired", 0.1, ("cols", 64)),        # 6 splits, last 10 columns
    (257, 128, "distinct", 0.5, ("sms", 1)),       # one split wider than n; last row block/tile 1 wide
    (257, 100, "long-tail", 0.5, ("cols", 192)),   # 2 splits of 3 tiles, last split 65 columns
]


def rel(got, want):
    return np.abs(got - want).max() / max(np.abs(want).max(), 1e-300)


# ================================================================================================ paper form
# bns_gather_rows_bf16, bns_paper_pass<MODE, SPLIT> (rows_v3/cols_v3: SPLIT false; rows_v4/cols_v4: true),
# bns_scatter_add_rows_f32 and what BnsPaperCuda::run launches around them.
def bns_gather_rows_bf16(out, inp, idx, rows, grid, bdim):  # one thread per 16-byte chunk
    for bx in range(grid):
        i = bx * bdim + np.arange(bdim)
        i = i[i < rows * (DMAX // 8)]
        r, q = i // (DMAX // 8), i % (DMAX // 8)
        src = (idx.rd(r).astype(np.int64) * (DMAX // 8) + q) * 8  # uint4 index -> bf16 element
        out.wr(i[:, None] * 8 + np.arange(8), inp.rd(src[:, None] + np.arange(8)))


def bns_scatter_add_rows_f32(out, inp, idx, rows, d, grid, bdim):  # out zeroed first
    for bx in range(grid):
        i = bx * bdim + np.arange(bdim)
        i = i[i < rows * d]
        r, k = i // d, i % d
        out.atomic_add(idx.rd(r).astype(np.int64) * d + k, inp.rd(i))


def bns_sigmoid_pair(s):  # (sig_p, sig_m, l1p) from one exponential
    e = np.exp(-np.abs(s))
    r = 1.0 / (1.0 + e)
    return np.where(s >= 0, r, e * r), np.where(s >= 0, e * r, r), np.log1p(e)


def bns_paper_pass(MODE, SPLIT, grid, G, row_loss, xb, yb, nx, ny, d, inv_tau, lab, row_anchor, c, cols):
    """bns_paper_pass<MODE, SPLIT> for every block (bx, by) of the grid: MODE 1 own rows = q rows
    (xb = qrb), columns = v (yb = vb); MODE 2 own rows = v, columns = q rows, coefficient tile = w^T."""
    for by in range(grid[1]):
        for bx in range(grid[0]):
            blk = Block()
            Bt = Shared("Bt", BN * LDB, blk)
            BtT = Shared("BtT", (1 if SPLIT else DMAX) * LDT, blk)
            Lb, Ab = Shared("Lb", BN, blk), Shared("Ab", BN, blk)
            W = []
            for warp in range(4):
                r0 = bx * BM + warp * 16
                ra = [r0 + GQ, r0 + GQ + 8]
                la, an = [], []
                for h in range(2):
                    ok = ra[h] < nx
                    l_, a_ = np.zeros(32), np.full(32, -1, dtype=np.int64)
                    if MODE == 1:
                        a_[ok] = row_anchor.rd(ra[h][ok])
                        l_[ok] = lab.rd(a_[ok])
                    else:
                        l_[ok] = lab.rd(ra[h][ok])
                    la.append(l_), an.append(a_)
                W.append(dict(r0=r0, ra=ra, la=la, an=an, a=bns_load_a_frags(xb, r0, nx),
                              g=np.zeros((32, 16, 4)), lsum=[np.zeros(32), np.zeros(32)]))
            c_begin = by * cols if SPLIT else 0
            c_end = min(ny, (by + 1) * cols) if SPLIT else ny
            for c0 in range(c_begin, c_end, BN):
                blk.sync()
                blk.valid_from = blk.phase
                bns_load_b_tile(Bt, yb, c0, ny)
                t = np.arange(BN)  # threadIdx.x < 64
                b = c0 + t
                ok = b < ny
                if MODE == 1:
                    L = np.zeros(BN)
                    L[ok] = lab.rd(b[ok])
                    Lb.wr(t, L)
                else:
                    anb = np.zeros(BN, dtype=np.int64)
                    anb[ok] = row_anchor.rd(b[ok])
                    L = np.zeros(BN)
                    L[ok] = lab.rd(anb[ok])
                    Ab.wr(t, np.where(ok, anb, -1))
                    Lb.wr(t, L)
                blk.sync()
                if not SPLIT:
                    bns_transpose_b_tile(BtT, Bt)
                for w in W:
                    acc = bns_s_tile(w['a'], Bt)
                    for nt in range(8):
                        for e in range(4):
                            h = e // 2
                            cj = nt * 8 + TG * 2 + (e % 2)
                            b = c0 + cj
                            wv = np.zeros(32)
                            m = (w['ra'][h] < nx) & (b < ny)
                            i = np.nonzero(m)[0]
                            s = acc[i, nt, e] * inv_tau
                            if MODE == 1:
                                vj, anc, lv, lq = b[i], w['an'][h][i], Lb.rd(cj[i]), w['la'][h][i]
                            else:
                                vj, anc, lv, lq = w['ra'][h][i], Ab.rd(cj[i]), w['la'][h][i], Lb.rd(cj[i])
                            pos, neg = vj == anc, lv != lq
                            sp, sm, l1p = bns_sigmoid_pair(s)
                            wv[i] = np.where(pos, -sm, 0.0) + np.where(neg, sp, 0.0)
                            if MODE == 1:
                                w['lsum'][h][i] += np.where(pos, np.maximum(-s, 0.0) + l1p, 0.0) + \
                                    np.where(neg, np.maximum(s, 0.0) + l1p, 0.0)
                            acc[:, nt, e] = wv
                    w['acc'] = acc
                    if SPLIT:
                        bns_mt_tile_ldsm(w['g'], acc, Bt)
                if not SPLIT:
                    blk.sync()  # BtT complete
                    for w in W:
                        bns_mt_tile(w['g'], w['acc'], BtT)
            for w in W:
                if MODE == 1:
                    for h in range(2):
                        for o in (1, 2):
                            w['lsum'][h] = w['lsum'][h] + shfl_xor(w['lsum'][h], o)
                        m = (TG == 0) & (w['ra'][h] < nx)
                        if SPLIT:
                            row_loss.atomic_add(w['ra'][h][m], w['lsum'][h][m])
                        else:
                            row_loss.wr(w['ra'][h][m], w['lsum'][h][m])
                (bns_add_g if SPLIT else bns_store_g)(G, w['g'], w['r0'], nx, d, c * inv_tau)


def split_columns(sms, nx, ny):  # bns_cuda.rs split_columns: ((row_blocks, splits), cols)
    row_blocks = -(-nx // 64)
    tiles = max(-(-ny // 64), 1)
    want = min(max(-(-(4 * max(sms, 1)) // max(row_blocks, 1)), 1), tiles)
    cols = -(-tiles // want) * 64
    splits = max(-(-ny // cols), 1)
    return (max(row_blocks, 1), splits), cols


class Layout:
    """PaperLayout (src/loss/bns.rs): row r = i (m+1) + k -> (q image, anchor image)."""

    def __init__(self, anchors, extra, m, b):
        assert len(extra) == len(anchors) * m and all(0 <= i < b for i in list(anchors) + list(extra))
        self.anchors, self.extra, self.m = list(anchors), list(extra), m

    @staticmethod
    def groups(b, m):
        g = m + 1
        assert b > 0 and b % g == 0
        anchors = [i * g for i in range(b // g)]
        return Layout(anchors, [e for a in anchors for e in range(a + 1, a + g)], m, b)

    @staticmethod
    def hand(b, n_anchors, m):  # as tests/it/bns.rs: anchors 7i+3, extras a + 5 (k/2 + 1), repeated in pairs
        anchors = [(7 * i + 3) % b for i in range(n_anchors)]
        return Layout(anchors, [(a + 5 * (k // 2 + 1)) % b for a in anchors for k in range(m)], m, b)

    def rows(self):
        return len(self.anchors) * (self.m + 1)

    def row(self, r):
        g = self.m + 1
        i, k = r // g, r % g
        a = self.anchors[i]
        return (a if k == 0 else self.extra[i * self.m + k - 1]), a


def run_paper_launcher(version, z1, z2, labels, layout, tau, sms=132):
    """bns_paper_cuda -> BnsPaperCuda::new, poison, run. Returns (loss, g1, g2, row_loss, gqr, gv, info)."""
    b, d = z1.shape
    rows = layout.rows()
    rq, ran = np.array([layout.row(r) for r in range(rows)]).T
    Z1, Z2, LAB, ROWQ, ROWA = Glob("z1", z1), Glob("z2", z2), Glob("lab", labels), Glob("row_q", rq), \
        Glob("row_anchor", ran)
    qn, vn = Glob("qn", np.zeros(b * d)), Glob("vn", np.zeros(b * d))
    # stricter than dev.zeros: normalisation and gather must write every element the kernels read
    qb, vb, qrb = Glob("qb", np.full(b * DMAX, np.nan)), Glob("vb", np.full(b * DMAX, np.nan)), \
        Glob("qrb", np.full(rows * DMAX, np.nan))
    row_loss, gqr, gv = Glob("row_loss", np.full(rows, np.nan)), Glob("gqr", np.full(rows * d, np.nan)), \
        Glob("gv", np.full(b * d, np.nan))  # poison()
    loss = Glob("loss", [np.nan])
    gq = Glob("gq", np.full(b * d, 1e3))  # a previous run's values: the memset must clear them
    g1, g2 = Glob("g1", np.full(b * d, np.nan)), Glob("g2", np.full(b * d, np.nan))
    inv_tau, c = 1.0 / tau, 1.0 / rows
    for x in (Z1, Z2, LAB, ROWQ, ROWA, qn, vn, qb, vb, qrb, row_loss, gqr, gv, loss, gq, g1, g2):
        x.launch()
    bns_normalize_f32(qn, qb, Z1, b, d, DMAX, blocks(b, 8), 256)
    bns_normalize_f32(vn, vb, Z2, b, d, DMAX, blocks(b, 8), 256)
    bns_gather_rows_bf16(qrb, qb, ROWQ, rows, blocks(rows * (DMAX // 8), 256), 256)
    info = f"rows={rows} "
    if version == "v3":
        rc, cc = (blocks(rows, 64), 1), (blocks(b, 64), 1)
        bns_paper_pass(1, False, rc, gqr, row_loss, qrb, vb, rows, b, d, inv_tau, LAB, ROWA, c, 0)
        bns_paper_pass(2, False, cc, gv, None, vb, qrb, b, rows, d, inv_tau, LAB, ROWA, c, 0)
    else:
        for x in (gqr, row_loss, gv):
            x.a[:] = 0.0  # memset_zeros
        rc, rcols = split_columns(sms, rows, b)
        bns_paper_pass(1, True, rc, gqr, row_loss, qrb, vb, rows, b, d, inv_tau, LAB, ROWA, c, rcols)
        cc, ccols = split_columns(sms, b, rows)
        bns_paper_pass(2, True, cc, gv, None, vb, qrb, b, rows, d, inv_tau, LAB, ROWA, c, ccols)
        info += (f"sms={sms} rows:{rc[1]}x{rcols}(last {b - (rc[1] - 1) * rcols}) "
                 f"cols:{cc[1]}x{ccols}(last {rows - (cc[1] - 1) * ccols})")
    bns_loss_sum_f32(loss, row_loss, rows, c)
    gq.a[:] = 0.0  # memset_zeros(gq)
    bns_scatter_add_rows_f32(gq, gqr, ROWQ, rows, d, blocks(rows * d, 256), 256)
    bns_norm_bwd_f32(g1, gq, Z1, b, d, blocks(b, 8), 256)
    bns_norm_bwd_f32(g2, gv, Z2, b, d, blocks(b, 8), 256)
    return loss.a[0], g1.a.reshape(b, d), g2.a.reshape(b, d), row_loss.a, gqr.a.reshape(rows, d), \
        gv.a.reshape(b, d), info


def paper_reference(z1, z2, labels, layout, tau):
    """Direct float64 paper form (src/loss/bns.rs bns_paper_f64) on the (q row, anchor) rows: loss, the row
    losses (unscaled), dL/dqhat per row (gqr, before the scatter), dL/dvhat (gv), dL/dz1, dL/dz2."""
    b = z1.shape[0]
    rows = layout.rows()
    rq, ran = np.array([layout.row(r) for r in range(rows)]).T
    n1, n2 = np.maximum(np.linalg.norm(z1, axis=1), EPS), np.maximum(np.linalg.norm(z2, axis=1), EPS)
    qn, vn = z1 / n1[:, None], z2 / n2[:, None]
    qr = qn[rq]
    S = qr @ vn.T / tau
    P = (np.arange(b)[None, :] == ran[:, None]).astype(float)  # j = anchor: the positive
    N = (labels[None, :] != labels[ran][:, None]).astype(float)  # the negatives
    c = 1.0 / rows
    row_loss = (P * softplus(-S) + N * softplus(S)).sum(1)
    W = c * (-P * sigmoid(-S) + N * sigmoid(S))
    gqr, gv = W @ vn / tau, W.T @ qr / tau
    gq = np.zeros_like(z1)
    np.add.at(gq, rq, gqr)

    def nb(g, zn, nrm):
        dot = np.where(nrm > EPS, (g * zn).sum(1), 0.0)
        return (g - dot[:, None] * zn) / nrm[:, None]
    return c * row_loss.sum(), row_loss, gqr, gv, nb(gq, qn, n1), nb(gv, vn, n2)


def paper_loss_direct(z1, z2, labels, layout, tau):
    """METHOD.md's L = mean_i L_i, L_i = -1/(m+1) sum_{q in Q_i} [log s(q.v+/tau) + sum_j log s(-q.v_j/tau)],
    written per anchor with loops (independent of the row formulation above)."""
    qn = z1 / np.maximum(np.linalg.norm(z1, axis=1), EPS)[:, None]
    vn = z2 / np.maximum(np.linalg.norm(z2, axis=1), EPS)[:, None]
    L = []
    for i, a in enumerate(layout.anchors):
        Q = [a] + layout.extra[i * layout.m:(i + 1) * layout.m]
        t = 0.0
        for q in Q:
            t -= softplus(-(qn[q] @ vn[a]) / tau)  # log sigmoid(x) = -softplus(-x)
            for j in range(len(labels)):
                if labels[j] != labels[a]:
                    t -= softplus(qn[q] @ vn[j] / tau)
        L.append(-t / (layout.m + 1))
    return float(np.mean(L))


def check_paper_reference():
    """The vectorised reference's loss against the per-anchor form, its gradients against central finite
    differences of the per-anchor form (hand layout: repeated extras, anchors not at group starts)."""
    rng = np.random.default_rng(3)
    b, d, tau = 10, 4, 0.5
    z1, z2 = rng.standard_normal((b, d)), rng.standard_normal((b, d))
    labels = np.array([0, 1, 0, 1, 2, 0, 1, 2, 0, 1])
    layout = Layout([1, 4, 8], [3, 3, 9, 7, 7, 4, 0, 5, 0], 3, b)  # extras share the anchor's label
    loss, _, _, _, g1, g2 = paper_reference(z1, z2, labels, layout, tau)
    el = abs(loss - paper_loss_direct(z1, z2, labels, layout, tau)) / abs(loss)
    h = 1e-6
    fd = []
    for z in (z1, z2):
        f = np.zeros_like(z)
        for i in range(b):
            for k in range(d):
                zp, zm = z.copy(), z.copy()
                zp[i, k] += h
                zm[i, k] -= h
                args = ((zp, z2), (zm, z2)) if z is z1 else ((z1, zp), (z1, zm))
                f[i, k] = (paper_loss_direct(*args[0], labels, layout, tau) -
                           paper_loss_direct(*args[1], labels, layout, tau)) / (2 * h)
        fd.append(f)
    return el, rel(g1, fd[0]), rel(g2, fd[1])


def paper_labels(kind, b, g, rng):
    """As tests/it/bns.rs label_sets (per group of g images), plus the test's hand-layout labels i % 5."""
    groups = -(-b // g)
    if kind == "one-class":
        return np.full(b, 3)
    if kind == "distinct":
        return np.arange(b) // g
    if kind == "long-tail":  # class c with weight 100^(-c/9), c < 10
        w = 100.0 ** (-np.arange(10) / 9.0)
        lt = np.minimum(np.searchsorted(np.cumsum(w / w.sum()), rng.random(groups), side="right"), 9)
        return lt[np.arange(b) // g]
    if kind == "mod5":
        return np.arange(b) % 5
    raise ValueError(kind)


# (layout, b, n_anchors (hand) or None (groups), m, d, labels, tau, sms for v4's split rule)
PAPER_CASES = [
    ("groups", 21, None, 2, 32, "one-class", 0.5, 132),   # one block, partial tile, no negatives
    ("groups", 70, None, 0, 16, "distinct", 0.5, 132),    # m = 0; 2 splits of 64 per pass, last 6
    ("groups", 147, None, 6, 128, "long-tail", 0.5, 1),   # 2 splits of 128 per pass, last 19
    ("groups", 150, None, 4, 100, "distinct", 0.3, 2),    # 3 splits of 64 per pass, last 22
    ("hand", 300, 40, 6, 128, "mod5", 0.5, 2),            # the CUDA test's layout; 2 splits of 192, last 108/88
    ("hand", 200, 13, 4, 40, "long-tail", 0.2, 2),        # rows 65; 4 splits (last 8) / 2 splits (last 1)
    ("hand", 100, 30, 3, 128, "one-class", 0.5, 1),       # rows 120; 2 splits per pass, last 36/56
    ("hand", 90, 25, 5, 64, "distinct", 0.5, 1),          # rows 150; 2x64 (last 26) / 2x128 (last 22)
]


def run_paper_cases(rng):
    bad = 0
    el, e1, e2 = check_paper_reference()
    ok = el < 1e-12 and e1 < 1e-6 and e2 < 1e-6
    bad += not ok
    print(f"paper reference vs per-anchor loss {el:.1e}, finite differences (b=10, d=4, hand layout): "
          f"g1 {e1:.2e} g2 {e2:.2e} {'OK' if ok else 'FAIL'}")
    for lay, b, na, m, d, kind, tau, sms in PAPER_CASES:
        layout = Layout.groups(b, m) if lay == "groups" else Layout.hand(b, na, m)
        labels = paper_labels(kind, b, m + 1 if lay == "groups" else 1, rng)
        z1, z2 = rng.standard_normal((b, d)), rng.standard_normal((b, d))
        rl, rrow, rgqr, rgv, rg1, rg2 = paper_reference(z1, z2, labels, layout, tau)
        for version in ("v3", "v4"):
            PROB.clear()
            loss, g1, g2, row_loss, gqr, gv, info = run_paper_launcher(version, z1, z2, labels, layout, tau, sms)
            el = max(abs(loss - rl) / abs(rl), rel(row_loss, rrow))
            eh = max(rel(gqr, rgqr), rel(gv, rgv))
            e1, e2 = rel(g1, rg1), rel(g2, rg2)
            ok = el < TOL and eh < TOL and e1 < TOL and e2 < TOL and not PROB  # NaN compares False: FAIL
            bad += not ok
            print(f"paper {version} {lay:6s} b={b:3d} m={m} d={d:3d} {kind:9s} tau={tau} {info:48s} "
                  f"loss {el:.1e}  dL/dqhat,vhat {eh:.1e}  dL/dz1 {e1:.1e}  dL/dz2 {e2:.1e}  "
                  f"{'OK' if ok else 'FAIL'}")
            for p in PROB:
                print("    " + p)
            sys.stdout.flush()
    return bad


def run_code_cases(rng):
    bad = 0
    e = check_reference(np.random.default_rng(1))
    ok = e < 1e-6
    bad += not ok
    print(f"reference  finite differences (n=12, d=5): grad rel err {e:.2e} {'OK' if ok else 'FAIL'}")
    for n, d, kind, tau, v4 in CASES:
        z = rng.standard_normal((n, d))
        labels = labels_of(kind, n, rng)
        rl, rgx, rg = reference(z, labels, tau)
        for version in ("v3", "v4"):
            PROB.clear()
            kw = {} if version == "v3" else ({"sms": v4[1]} if v4[0] == "sms" else {"cols": v4[1]})
            loss, gx, g, info = run_launcher(version, z, labels, tau, **kw)
            el, eg, egx = abs(loss - rl) / abs(rl), rel(g, rg), rel(gx, rgx)
            ok = el < TOL and eg < TOL and egx < TOL and not PROB  # NaN compares False: FAIL
            bad += not ok
            print(f"{version} n={n:3d} d={d:3d} {kind:9s} tau={tau} {info:32s} loss {el:.1e}  dL/dzhat {eg:.1e}"
                  f"  dL/dz {egx:.1e}  {'OK' if ok else 'FAIL'}")
            for p in PROB:
                print("    " + p)
            sys.stdout.flush()
    return bad


def main():
    forms = sys.argv[1:] or ["code", "paper"]
    if not set(forms) <= {"code", "paper"}:
        print("usage: emulate_bns.py [code] [paper]")
        return 2
    t0 = time.time()
    bad = 0
    if "code" in forms:
        bad += run_code_cases(np.random.default_rng(2026))
    if "paper" in forms:
        bad += run_paper_cases(np.random.default_rng(2027))
    print(f"{'FAIL' if bad else 'all OK'} ({time.time() - t0:.0f} s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
