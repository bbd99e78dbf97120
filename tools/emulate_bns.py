#!/usr/bin/env python3
"""A NumPy emulation of the code-form BNS loss on the bf16 tensor cores (kernels/contrastive.cu), for
desk-checking the index and fragment logic without a GPU:

- v3: bns_code_fwd_v3_bf16 + bns_code_bwd_v3_bf16 (validated on an H200: the check of this emulator);
- v4: bns_code_fwd_v4_bf16 + bns_code_fin_v4_f32 + bns_code_bwd_v4_bf16 (column splits, atomics,
  ldmatrix.trans),

with what the launcher (src/loss/bns_cuda.rs, BnsCodeCuda::run as called by bns_code_cuda) runs around
them: bns_normalize_f32 (the bf16 copy zb, row stride 128, zero-padded), the v4 grid and `cols` rule, the
memsets of the partial sums and of the gradient, bns_loss_sum_f32 and bns_norm_bwd_f32. Every block, warp
and lane is emulated: each lane computes its own global and shared-memory addresses as the kernel does
(vectorised over the lanes of a warp or the threads of a block), every global read honours the kernel's
bounds/zero conditions (reads of masked lanes are not performed; out-of-range reads are reported),
mma.sync.m16n8k16.row.col, ldmatrix.x4(.trans), cvt.rn.bf16x2 and __shfl_xor_sync follow their PTX/CUDA
definitions, and atomicAdd adds. Values are float64 and bf16 rounding is skipped, so a correct
transcription agrees with a direct NumPy computation of the loss and its gradient to ~1e-13.

Shared memory starts as NaN with a write stamp per element: a read of an element never written, written
in an earlier column tile (stale), or written without a __syncthreads in between (race) is reported, as
are writes to an element read or written in the same barrier interval. Global outputs are poisoned (NaN)
as BnsCodeCuda::poison does, zb is poisoned too (stricter than the launcher's zeroed allocation: the
normalisation must write every element the kernels read, padding included), v4's partial sums start as
garbage so that the launcher's memset is what makes them right, and a plain (non-atomic) store to an
element already stored by the same launch is reported.

It is a hand transcription of the kernels, not the kernels: it checks the arithmetic of the indices and
the fragment layouts, not the compiler, the hardware, bf16 accuracy or the synchronisation as a GPU runs
it. Keep it in step with kernels/contrastive.cu. The GPU test (the code-form CUDA test) is what validates.

Power check (mutated copies, not kept): swapping lb3/lb4 in v4's ldmatrix address, dropping .trans,
starting a v4 backward split one column late, extending a v4 forward split by one tile, leaving Bt's last
row or zb's padding unwritten, swapping the bf16x2 halves, or skipping the memset of v4's partial sums
each make it FAIL.

    python3 tools/emulate_bns.py      # ~30 s on one core; one line per (version, case), exit 1 on any FAIL
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
                for nt in range(16):
                    for e in range(4):
                        r = w['r0'] + GQ + 8 * (e // 2)
                        k = nt * 8 + TG * 2 + (e % 2)
                        m = (r < n) & (k < d)
                        gz.atomic_add((r * d + k)[m], w['g'][m, nt, e] * inv_tau)


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


def main():
    rng = np.random.default_rng(2026)
    t0 = time.time()
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
    print(f"{'FAIL' if bad else 'all OK'} ({time.time() - t0:.0f} s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
