#!/usr/bin/env python3
"""Runs the batch-norm kernels (kernels/norm.cu) and element-wise kernels (kernels/elementwise.cu) on the CPU
through cusim, with the launch sequences of their Rust launchers (src/device/cuda/norm.rs, elementwise.rs, and
the per-view loops of src/device/nn_ops.rs), against float64 NumPy transcriptions of the CPU references
(src/device/cpu/norm.rs, elementwise.rs).

Controls (validated on an H200): the unfused batch norm (v1: batchnorm_{sum,sq}_partial, _mean, _var,
_apply, _eval_rstd, _bwd_partial, _bwd_reduce, _bwd_apply) chained with add_f32 / relu_fwd_f32 /
relu_bwd_f32 / add_inplace_f32 / cast_bf16_f32 as nn_ops' BnTailVersion::V1 runs them, and adamw_f32,
relu_fwd_f32, add_f32 alone. The fused tails batchnorm_relu_* / batchnorm_add_relu_* (v2, with
their bf16 copy yb) and cast_bf16_f32 (bit for bit against round-to-nearest-even, ties and odd lengths) passed
on an H200 too (2026-11-27). Not yet run on a GPU: batchnorm_parts_chunk_f32 + batchnorm_stats_chunks_f32
(statistics from conv-epilogue block partials, 2 views, chunks of several partials) and the 8-lane
mean / var / bwd-reduce.

Every buffer carries guard elements after it (and before it, for the shifted views of the unaligned case):
a kernel that writes outside its buffer, or into an input, fails the case. `sms` is the SM count the
launchers read (132 on an H100/H200); the cases with sms 1 make the grids small enough that the grid-stride
loops (and bn_for_each_vec's channel step) run more than once.

    python3 tools/cusim/check_norm.py [--reverse] [--only tails,unaligned,stats,elementwise]   # exit 1 on a mismatch

--reverse passes reverse=True to every job.launch (cusim's other thread order: run both, a missing barrier
may hide in one of them).
"""
import argparse
import os
import sys
import time

import numpy as np

import cusim

F32, U16, F64 = np.float32, np.uint16, np.float64
EPS, MOMENTUM = 1e-5, 0.1  # BnSpec::new
TOL = 1e-5
GUARD = 16
NAN_BITS = 0x7FC0DEAD  # the poison of outputs and guards: a NaN whose bits a kernel would not write


def cdiv(a, b):
    return -(-a // b)


def poison(n, dtype):
    if dtype == F32:
        return np.full(n, NAN_BITS, np.uint32).view(F32)
    return np.full(n, 0xFFFF, dtype)


def bf16_bits(x):
    """Round to nearest even (half::bf16::from_f32 for the non-NaN values used here)."""
    u = np.ascontiguousarray(x, F32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(U16)


def next_pow2(v):
    return 1 << max(v - 1, 0).bit_length()


# ---------------------------------------------------------------------------------------------------------
# Launch geometry, transcribed from the launchers.

class Dev:
    def __init__(self, sms):
        self.sms = sms

    def grid_for(self, n, block):  # CudaDevice::grid_for
        return min(max(cdiv(n, block), 1), max(self.sms, 1) * 32)

    def flat(self, n):  # norm.rs flat(); elementwise.rs cfg()
        return (self.grid_for(n, 256), 1, 1), (256, 1, 1)

    def split(self, rows, c):  # norm.rs split()
        cgroups = cdiv(c, 32)
        want = max(cdiv(max(self.sms, 1) * 8, cgroups), 1)
        per = max(cdiv(rows, want), 64)
        return per, max(cdiv(rows, per), 1)

    def flat_vec(self, rows, c):
        return self.flat(rows * c // vec_of(c)[1])

    def partial_layout(self, rows, c):  # norm.rs partial_layout()
        vec, w = vec_of(c)
        vpr = c // w
        tx = min(next_pow2(vpr), 256)
        ty = 256 // tx
        cblocks = cdiv(vpr, tx)
        want = max(cdiv(max(self.sms, 1) * 8, cblocks), 1)
        per = max(cdiv(rows, want), 8 * ty, cdiv(rows, 65535))
        return vec, tx, cblocks, per, max(cdiv(rows, per), 1)


def per_channel(c):
    return (cdiv(c, 128), 1, 1), (128, 1, 1)


def lanes(c):  # norm.rs lanes(): 32 channels x 8 lanes over the partials
    return (cdiv(c, 32), 1, 1), (32, 8, 1)


def partial_grid(c, parts):
    return (cdiv(c, 32), parts, 1), (32, 8, 1)


def vec_of(c):
    return (1, 4) if c % 4 == 0 else (0, 1)


# ---------------------------------------------------------------------------------------------------------
# A job with guarded buffers and views.

class View:
    def __init__(self, h, off, n):
        self.h, self.off, self.n = h, off, n

    def sub(self, start, n):
        assert start + n <= self.n
        return View(self.h, self.off + start, n)


class Sim:
    def __init__(self, mod, sms, reverse):
        self.job, self.dev, self.reverse = mod.job(), Dev(sms), reverse
        self.init, self.span, self.ro, self.names = {}, {}, set(), {}
        self.res = None

    def buf(self, name, data=None, n=None, dtype=F32, lead=0, ro=False):
        """An allocation of lead + n elements (data, or the poison, from `lead` on; the poison before it),
        followed by GUARD poisoned elements. Returns the view of its n elements from `lead`."""
        if data is not None:
            data = np.ascontiguousarray(data, dtype).reshape(-1)
            n = data.size
        arr = poison(lead + n + GUARD, dtype)
        if data is not None:
            arr[lead:lead + n] = data
        h = self.job.buf(arr)
        self.init[h], self.span[h], self.names[h] = arr.copy(), (lead, lead + n), name
        if ro:
            self.ro.add(h)
        return View(h, lead, n)

    def zeros(self, name, n, dtype=F32):
        """dev.zeros (cudarc alloc_zeros: a fresh allocation, memset to 0), uploaded as zeros rather than
        through job.memset, which would clear the guard too (and hide a kernel writing zeros past the end)."""
        return self.buf(name, np.zeros(n, dtype), dtype=dtype)

    def launch(self, name, cfg, *args):
        grid, block = cfg
        # None: the null pointer the launchers push for an absent output (norm.rs relu_apply: `&null`).
        conv = [(a.h, a.off) if isinstance(a, View) else a for a in args]
        self.job.launch(name, grid=grid, block=block, smem=0, args=conv, reverse=self.reverse)

    def run(self):
        self.res = self.job.run()
        bad = []
        for h, init in self.init.items():
            got = self.res[h].view(np.uint8)
            want = init.view(np.uint8)
            if h in self.ro:
                if not np.array_equal(got, want):
                    bad.append(f"input {self.names[h]} written")
                continue
            lo, hi = self.span[h]
            isz = init.itemsize
            if not (np.array_equal(got[:lo * isz], want[:lo * isz]) and np.array_equal(got[hi * isz:], want[hi * isz:])):
                bad.append(f"{self.names[h]} written outside its {hi - lo} elements")
        return bad

    def get(self, v):
        return self.res[v.h][v.off:v.off + v.n].copy()


# ---------------------------------------------------------------------------------------------------------
# The launch sequences (norm.rs / nn_ops.rs), one function per launcher.

def bn_train_stats(S, mean, rstd, rm, rv, x, rows, c, pre=None):
    """norm.rs train_stats (with `pre`: stats_from_blocks)."""
    if pre is not None:
        psum, pm2, first, count, block_rows = pre
        want = cdiv(max(S.dev.sms, 1) * 2, cdiv(c, 32))
        per = cdiv(count, min(max(want, 1), count))
        chunks = cdiv(count, per)
        # Σ and M2 per chunk in double: 2·chunks·C floats each, as the launcher's scratch, which is not
        # zeroed (a reused buffer): NaN here, so an element the kernel leaves unwritten shows.
        nan = np.full(2 * chunks * c, np.nan, F32)
        csum, cm2 = S.buf("chunk_sum", nan), S.buf("chunk_m2", nan.copy())
        S.launch("batchnorm_parts_chunk_f32", ((cdiv(c, 32), chunks, 1), (32, 8, 1)), csum, cm2, psum, pm2, first,
                 count, per, block_rows, c)
        S.launch("batchnorm_stats_chunks_f32", lanes(c), mean, rstd, rm, rv, csum, cm2, chunks, per, count,
                 block_rows, c, EPS, MOMENTUM)
        return
    per, parts = S.dev.split(rows, c)
    part = S.buf("part", np.full(parts * c, np.nan, F32))  # not zeroed by the launcher: NaN shows gaps
    grid = partial_grid(c, parts)
    S.launch("batchnorm_sum_partial_f32", grid, part, x, rows, c, per)
    S.launch("batchnorm_mean_f32", lanes(c), mean, part, parts, c, rows)
    S.launch("batchnorm_sq_partial_f32", grid, part, x, mean, rows, c, per)
    S.launch("batchnorm_var_f32", lanes(c), rstd, rm, rv, mean, part, parts, c, rows, EPS, MOMENTUM)


def bn_apply(S, y, x, mean, rstd, gamma, beta, rows, c):  # norm.rs apply
    S.launch("batchnorm_apply_f32", S.dev.flat(rows * c), y, x, mean, rstd, gamma, beta, rows, c)


def bn_eval_rstd(S, rv, c):  # norm.rs eval_rstd
    rstd = S.zeros("eval rstd", c)
    S.launch("batchnorm_eval_rstd_f32", per_channel(c), rstd, rv, c, EPS)
    return rstd


def bn_bwd_reduce(S, gg, gb, pg, pgx, parts, c):
    S.launch("batchnorm_bwd_reduce_f32", lanes(c), gg, gb, pg, pgx, parts, c)


def bn_bwd_v1(S, gx, gg, gb, gy, x, mean, rstd, gamma, rows, c):  # norm.rs batchnorm_bwd_f32
    per, parts = S.dev.split(rows, c)
    pg, pgx = S.zeros("part_g", parts * c), S.zeros("part_gx", parts * c)
    S.launch("batchnorm_bwd_partial_f32", partial_grid(c, parts), pg, pgx, gy, x, mean, rstd, rows, c, per)
    bn_bwd_reduce(S, gg, gb, pg, pgx, parts, c)
    S.launch("batchnorm_bwd_apply_f32", S.dev.flat(rows * c), gx, gy, x, mean, rstd, gamma, gg, gb, rows, c)


def relu_apply(S, y, yb, x, sc, mean, rstd, gamma, beta, rows, c):  # norm.rs relu_apply
    vec = vec_of(c)[0]
    if sc is None:
        S.launch("batchnorm_relu_apply_f32", S.dev.flat_vec(rows, c), y, yb, x, mean, rstd, gamma, beta, rows, c, vec)
    else:
        S.launch("batchnorm_add_relu_apply_f32", S.dev.flat_vec(rows, c), y, yb, x, sc, mean, rstd, gamma, beta,
                 rows, c, vec)


def tail_bwd_v2(S, gx, gsc, gg, gb, gy, y, x, mean, rstd, gamma, rows, c):  # norm.rs batchnorm_tail_bwd_f32
    vec, tx, cblocks, per, parts = S.dev.partial_layout(rows, c)
    pg, pgx = S.zeros("part_g", parts * c), S.zeros("part_gx", parts * c)
    S.launch("batchnorm_relu_bwd_partial_f32", ((cblocks, parts, 1), (256, 1, 1)), pg, pgx, gy, y, x, mean, rstd,
             rows, c, per, tx, vec)
    bn_bwd_reduce(S, gg, gb, pg, pgx, parts, c)
    cfg = S.dev.flat_vec(rows, c)
    if gsc is None:
        S.launch("batchnorm_relu_bwd_apply_f32", cfg, gx, gy, y, x, mean, rstd, gamma, gg, gb, rows, c, vec)
    else:
        S.launch("batchnorm_add_relu_bwd_apply_f32", cfg, gx, gsc[0], gy, y, x, mean, rstd, gamma, gg, gb, rows, c,
                 int(gsc[1]), vec)


def ew_flat(S, n):  # elementwise.rs cfg(dev, n)
    return S.dev.flat(n)


# ---------------------------------------------------------------------------------------------------------
# float64 references (src/device/cpu/norm.rs, elementwise.rs).

def ref_stats(x, rm, rv):
    """cpu::norm::batchnorm_fwd_train_f32's statistics: (mean, rstd) as stored (f32), running stats updated."""
    xd = x.astype(F64)
    n = xd.shape[0]
    m = xd.sum(0) / n
    var = np.maximum((xd * xd).sum(0) / n - m * m, 0.0)
    mean, rstd = m.astype(F32), (1.0 / np.sqrt(var + F64(F32(EPS)))).astype(F32)
    unb = var * n / (n - 1.0) if n > 1 else var
    mo = F64(F32(MOMENTUM))
    rm = ((1 - mo) * rm.astype(F64) + mo * m).astype(F32)
    rv = ((1 - mo) * rv.astype(F64) + mo * unb).astype(F32)
    return mean, rstd, rm, rv


def ref_norm(x, mean, rstd, gamma, beta):
    return (x.astype(F64) - mean) * rstd.astype(F64) * gamma + beta


def ref_tail(pre, sc):
    t = pre if sc is None else pre + sc
    return np.where(t > 0, t, 0.0)


def ref_bwd(g, x, mean, rstd, gamma):
    """cpu::norm::batchnorm_bwd_f32 on the masked gradient g: (gx, ggamma, gbeta)."""
    n = g.shape[0]
    xh = (x.astype(F64) - mean.astype(F64)) * rstd.astype(F64)
    sg, sgx = g.sum(0), (g * xh).sum(0)
    gx = gamma.astype(F64) * rstd.astype(F64) / n * (n * g - sg - xh * sgx)
    return gx, sgx, sg


def rel(got, want):
    """max |got − want| / max |want| (inf when got holds a non-finite value)."""
    got = np.asarray(got, F64)
    want = np.asarray(want, F64)
    if got.shape != want.shape or not np.isfinite(got).all():
        return np.inf
    scale = np.abs(want).max() if want.size else 0.0
    return np.abs(got - want).max() / (scale if scale > 0 else 1.0)


class Report:
    def __init__(self):
        self.bad = 0

    def line(self, what, errs, bits, guards, secs):
        """errs: [(name, rel err)], bits: [(name, mismatches, n)], guards: [problem]."""
        fails = [f"{k} {e:.1e}" for k, e in errs if not e <= TOL]
        fails += [f"{k} {b}/{n} bf16 differ" for k, b, n in bits if b]
        fails += guards
        notes = []
        if errs:
            worst = max(errs, key=lambda t: t[1])
            notes.append(f"worst {worst[0]} {worst[1]:.1e}")
        if bits:
            notes.append(f"bf16 bits {sum(n - b for _, b, n in bits)}/{sum(n for _, _, n in bits)} equal")
        txt = f"{what}: " + ", ".join(notes)
        if fails:
            txt += " -- " + "; ".join(fails)
        ok = not fails
        self.bad += not ok
        print(("ok   " if ok else "FAIL ") + txt + f" ({secs:.1f} s)", flush=True)


# ---------------------------------------------------------------------------------------------------------
# Batch-norm tails through nn_ops (per-view statistics over `groups` equal row slices).

def tail_inputs(rng, rows, c):  # TailIn::new
    u = lambda n, lo, hi: rng.uniform(lo, hi, n).astype(F32)
    return dict(x=u(rows * c, 2, 4), sc=u(rows * c, -1, 1), gsc0=u(rows * c, -1, 1), gamma=u(c, 0.5, 1.5),
                beta=u(c, -0.5, 0.5), gy=u(rows * c, -1, 1), rm0=u(c, -0.1, 0.1), rv0=u(c, 0.9, 1.1))


def tail_reference(t, rows, c, groups, add, acc):
    """The CPU reference of nn_ops' tail train forward, eval forward and backward (per view)."""
    n = rows // groups
    x = t["x"].reshape(rows, c)
    sc = t["sc"].reshape(rows, c).astype(F64) if add else None
    rm, rv = t["rm0"], t["rv0"]
    y, means, rstds = np.zeros((rows, c)), [], []
    for k in range(groups):
        sl = slice(k * n, (k + 1) * n)
        m, r, rm, rv = ref_stats(x[sl], rm, rv)
        y[sl] = ref_tail(ref_norm(x[sl], m, r, t["gamma"], t["beta"]), None if sc is None else sc[sl])
        means.append(m)
        rstds.append(r)
    out = dict(y=y, mean=np.concatenate(means), rstd=np.concatenate(rstds), running_mean=rm, running_var=rv)
    r_e = (1.0 / np.sqrt(t["rv0"].astype(F64) + F64(F32(EPS)))).astype(F32)
    out["eval y"] = ref_tail(ref_norm(x, t["rm0"], r_e, t["gamma"], t["beta"]), sc)
    mask = y.astype(F32)  # the backward's mask: the reference's y, as the Rust test passes it
    g = np.where(mask > 0, t["gy"].reshape(rows, c).astype(F64), 0.0)
    gx, gg, gb = np.zeros((rows, c)), [], []
    for k in range(groups):
        sl = slice(k * n, (k + 1) * n)
        a, b, d = ref_bwd(g[sl], x[sl], means[k], rstds[k], t["gamma"])
        gx[sl] = a
        gg.append(b)
        gb.append(d)
    out.update({"gx": gx, "ggamma (per view)": np.concatenate(gg), "gbeta (per view)": np.concatenate(gb)})
    if add:
        out["gsc"] = g + t["gsc0"].reshape(rows, c) if acc else g
    return out, mask


def run_tail(mod, sms, reverse, t, rows, c, groups, add, acc, ver, mask):
    """nn_ops::batchnorm_tail_fwd_train / _fwd_eval / _bwd on CUDA at `ver`, every launch as its launcher."""
    S = Sim(mod, sms, reverse)
    n, N = rows // groups * c, rows * c
    g_rows = rows // groups
    x = S.buf("x", t["x"], ro=True)
    sc = S.buf("sc", t["sc"], ro=True) if add else None
    ga, be = S.buf("gamma", t["gamma"], ro=True), S.buf("beta", t["beta"], ro=True)
    gy = S.buf("gy", t["gy"], ro=True)
    rm, rv = S.buf("running_mean", t["rm0"]), S.buf("running_var", t["rv0"])
    y, m, r = S.buf("y", n=N), S.buf("mean", n=groups * c), S.buf("rstd", n=groups * c)
    yb_t = S.buf("yb train", np.full(N, 0xFFFF, U16), dtype=U16)
    yb_e = S.buf("yb eval", np.full(N, 0xFFFF, U16), dtype=U16)
    ye = S.buf("eval y", n=N)
    rm0, rv0 = S.buf("rm0", t["rm0"], ro=True), S.buf("rv0", t["rv0"], ro=True)
    ym = S.buf("y mask", mask, ro=True)
    gx = S.buf("gx", n=N)
    gsc = (S.buf("gsc", t["gsc0"]) if acc else S.buf("gsc", n=N)) if add else None
    # train forward
    if ver == "v1":
        pre = S.zeros("pre_act", N)
        for k in range(groups):  # nn_ops::batchnorm_fwd_train -> norm::batchnorm_fwd_train_f32
            mk, rk = m.sub(k * c, c), r.sub(k * c, c)
            bn_train_stats(S, mk, rk, rm, rv, x.sub(k * n, n), g_rows, c)
            bn_apply(S, pre.sub(k * n, n), x.sub(k * n, n), mk, rk, ga, be, g_rows, c)
        v1_relu_tail(S, y, pre, sc, N)
        S.launch("cast_bf16_f32", ew_flat(S, max(N // 4, 1)), yb_t, y, N)  # bf16_copy_of
    else:
        for k in range(groups):  # norm::batchnorm_tail_fwd_train_f32 per view
            mk, rk = m.sub(k * c, c), r.sub(k * c, c)
            bn_train_stats(S, mk, rk, rm, rv, x.sub(k * n, n), g_rows, c)
            relu_apply(S, y.sub(k * n, n), yb_t.sub(k * n, n), x.sub(k * n, n), sc.sub(k * n, n) if add else None,
                       mk, rk, ga, be, g_rows, c)
    # eval forward (one view, the initial running statistics)
    rstd_e = bn_eval_rstd(S, rv0, c)
    if ver == "v1":
        pre_e = S.zeros("eval pre", N)
        bn_apply(S, pre_e, x, rm0, rstd_e, ga, be, rows, c)
        v1_relu_tail(S, ye, pre_e, sc, N)
        S.launch("cast_bf16_f32", ew_flat(S, max(N // 4, 1)), yb_e, ye, N)
    else:
        relu_apply(S, ye, yb_e, x, sc, rm0, rstd_e, ga, be, rows, c)
    # backward, the mask from the reference's y; per-view ∂γ, ∂β into scratch rows (cuda_view_grads)
    tg, tb = S.zeros("ggamma rows", groups * c), S.zeros("gbeta rows", groups * c)
    if ver == "v1":
        gm = S.zeros("relu grad", N)
        S.launch("relu_bwd_f32", ew_flat(S, N), gm, gy, ym, N)
        if add and acc:
            S.launch("add_inplace_f32", ew_flat(S, N), gsc, gm, N)
        for k in range(groups):
            sl = lambda v: v.sub(k * n, n)
            bn_bwd_v1(S, sl(gx), tg.sub(k * c, c), tb.sub(k * c, c), sl(gm), sl(x), m.sub(k * c, c), r.sub(k * c, c),
                      ga, g_rows, c)
    else:
        for k in range(groups):
            sl = lambda v: v.sub(k * n, n)
            tail_bwd_v2(S, sl(gx), (sl(gsc), acc) if add else None, tg.sub(k * c, c), tb.sub(k * c, c), sl(gy), sl(ym),
                        sl(x), m.sub(k * c, c), r.sub(k * c, c), ga, g_rows, c)
    guards = S.run()
    out = {k: S.get(v) for k, v in [("y", y), ("mean", m), ("rstd", r), ("running_mean", rm), ("running_var", rv),
                                     ("eval y", ye), ("gx", gx), ("ggamma (per view)", tg), ("gbeta (per view)", tb)]}
    if add:
        # v1 without accumulation copies the masked gradient into gsc (a memcpy, no kernel): compare that.
        out["gsc"] = S.get(gm) if (ver == "v1" and not acc) else S.get(gsc)
    bits = [(f"yb {w}", int((S.get(b) != bf16_bits(S.get(f))).sum()), N) for w, b, f in
            (("train", yb_t, y), ("eval", yb_e, ye))]
    return out, bits, guards


def v1_relu_tail(S, y, pre, sc, N):  # nn_ops::relu_tail_v1
    if sc is None:
        S.launch("relu_fwd_f32", ew_flat(S, N), y, pre, N)
    else:
        s = S.zeros("sum", N)
        S.launch("add_f32", ew_flat(S, N), s, pre, sc, N)
        S.launch("relu_fwd_f32", ew_flat(S, N), y, s, N)


# (rows, channels, views, sms): the Rust test's TAIL_SHAPES with smaller row counts, plus two shapes whose
# grids (sms 1) loop: 1000 x 48 per view (12000 float4 vectors over 8192 threads, channel step 8) and
# 300 x 33 (9900 scalars, step 8); v1's partial sums over several row blocks.
TAIL_SHAPES = [(10, 3, 1, 132), (128, 16, 2, 132), (126, 33, 2, 132), (75, 48, 1, 132), (64, 512, 1, 132),
               (72, 512, 2, 132), (2000, 48, 2, 1), (600, 33, 2, 1), (4096, 16, 2, 132)]
TAIL_KINDS = [(False, False), (True, False), (True, True)]


def check_tails(mods, rng, reverse, rep):
    for rows, c, groups, sms in TAIL_SHAPES:
        t = tail_inputs(rng, rows, c)
        for add, acc in TAIL_KINDS:
            want, mask = tail_reference(t, rows, c, groups, add, acc)
            for ver in ("v1", "v2"):
                t0 = time.time()
                name = ("batchnorm_add_relu" if add else "batchnorm_relu") + (" acc" if acc else "")
                what = f"{ver} {name:22} {rows:5}x{c:<3} views {groups} sms {sms:3}"
                try:
                    got, bits, guards = run_tail(mods["norm"], sms, reverse, t, rows, c, groups, add, acc, ver, mask)
                except (cusim.RunError, OSError) as e:  # OSError: e.g. the cached runner deleted meanwhile
                    rep.line(what, [], [], [str(e)], time.time() - t0)
                    continue
                errs = [(k, rel(got[k], want[k].reshape(-1))) for k in want]
                rep.line(what, errs, bits, guards, time.time() - t0)


# ---------------------------------------------------------------------------------------------------------
# The unaligned views of cuda_fused_bn_unaligned_views_match_cpu: every row-sized operand one element into a
# larger allocation (float4 path asked for, the kernels must fall back to scalar accesses), direct
# norm::batchnorm_tail_fwd_train_f32 / batchnorm_tail_bwd_f32 calls, one view, accumulating gsc.

def check_unaligned(mods, rng, reverse, rep):
    for rows, c in [(96, 64), (2 * 9 * 9, 16)]:
        t = tail_inputs(rng, rows, c)
        N = rows * c
        for add in (False, True):
            t0 = time.time()
            want, mask = tail_reference(t, rows, c, 1, add, True)
            S = Sim(mods["norm"], 132, reverse)
            shifted = lambda name, v, ro=True: S.buf(name, v, lead=1, ro=ro)
            x, sc, gy = shifted("x", t["x"]), shifted("sc", t["sc"]), shifted("gy", t["gy"])
            ga, be = S.buf("gamma", t["gamma"], ro=True), S.buf("beta", t["beta"], ro=True)
            y, m, r = S.buf("y", n=N, lead=1), S.buf("mean", n=c), S.buf("rstd", n=c)
            rm, rv = S.buf("running_mean", t["rm0"]), S.buf("running_var", t["rv0"])
            yb = S.buf("yb", np.full(N, 0xFFFF, U16), dtype=U16, lead=1)
            bn_train_stats(S, m, r, rm, rv, x, rows, c)
            relu_apply(S, y, yb, x, sc if add else None, m, r, ga, be, rows, c)
            ym = shifted("y mask", mask)
            gx, gg, gb = S.buf("gx", n=N, lead=1), S.buf("ggamma", n=c), S.buf("gbeta", n=c)
            gs = shifted("gsc", t["gsc0"], ro=False)
            tail_bwd_v2(S, gx, (gs, True) if add else None, gg, gb, gy, ym, x, m, r, ga, rows, c)
            what = f"v2 {('batchnorm_add_relu acc' if add else 'batchnorm_relu'):22} {rows:5}x{c:<3} unaligned views"
            guards = run_case(S, rep, what, t0)
            if guards is None:
                continue
            got = {"y": S.get(y), "mean": S.get(m), "rstd": S.get(r), "running_mean": S.get(rm),
                   "running_var": S.get(rv), "gx": S.get(gx), "ggamma (per view)": S.get(gg),
                   "gbeta (per view)": S.get(gb)}
            if add:
                got["gsc"] = S.get(gs)
            errs = [(k, rel(v, want[k].reshape(-1))) for k, v in got.items()]
            bits = [("yb", int((S.get(yb) != bf16_bits(S.get(y))).sum()), N)]
            rep.line(what, errs, bits, guards, time.time() - t0)


# ---------------------------------------------------------------------------------------------------------
# batchnorm_parts_chunk_f32 + batchnorm_stats_chunks_f32: statistics from the v6 convolution's `_stats` epilogue partials (Tc6OutStats):
# per block of bm rows and per column, the fp32 sum and the fp32 sum of squares about the block's own mean
# (sum / rows), [blocks, C]; BnPartials::group(k, 2) hands view k blocks [k·count, (k + 1)·count). Then the
# train forward of the tails (nn_ops V2 with `pre`, and V1: stats_from_blocks + batchnorm_apply_f32).

def conv_partials(x, bm):
    xb = x.reshape(-1, bm, x.shape[1]).astype(F32)
    s = xb.sum(axis=1, dtype=F32)
    mb = (s / F32(bm)).astype(F32)
    d = (xb - mb[:, None, :]).astype(F32)
    return s, (d * d).sum(axis=1, dtype=F32)


# (C, rows per block (bm of v4_tile(C) in a network), blocks per view, SMs): with few SMs the launcher combines
# several partials per chunk (5 blocks in chunks of 3 + 2; 9 in 3 x 3; 7 in one).
STATS_SHAPES = [(40, 256, 2, 132), (100, 128, 3, 132), (18, 256, 1, 132), (64, 256, 2, 132), (24, 16, 5, 1),
                (24, 8, 9, 2), (64, 8, 7, 2)]


def check_stats(mods, rng, reverse, rep):
    groups = 2
    for c, bm, count, sms in STATS_SHAPES:
        rows = groups * count * bm
        t = tail_inputs(rng, rows, c)
        t["x"] = (t["x"] + rng.standard_normal(rows * c).astype(F32) * 0.5).astype(F32)  # a conv output, offset mean
        psum, pm2 = conv_partials(t["x"].reshape(rows, c), bm)
        for add in (False, True):
            want, _ = tail_reference(t, rows, c, groups, add, False)
            for ver in ("v1", "v2"):
                t0 = time.time()
                S = Sim(mods["norm"], sms, reverse)
                N, n = rows * c, rows // groups * c
                x = S.buf("x", t["x"], ro=True)
                sc = S.buf("sc", t["sc"], ro=True) if add else None
                ga, be = S.buf("gamma", t["gamma"], ro=True), S.buf("beta", t["beta"], ro=True)
                rm, rv = S.buf("running_mean", t["rm0"]), S.buf("running_var", t["rv0"])
                y, m, r = S.buf("y", n=N), S.buf("mean", n=groups * c), S.buf("rstd", n=groups * c)
                yb = S.buf("yb", np.full(N, 0xFFFF, U16), dtype=U16)
                ps, pq = S.buf("part_sum", psum, ro=True), S.buf("part_m2", pm2, ro=True)
                pre_act = S.zeros("pre_act", N) if ver == "v1" else None
                for k in range(groups):
                    mk, rk = m.sub(k * c, c), r.sub(k * c, c)
                    bn_train_stats(S, mk, rk, rm, rv, x.sub(k * n, n), rows // groups, c,
                                   pre=(ps, pq, k * count, count, bm))
                    if ver == "v1":
                        bn_apply(S, pre_act.sub(k * n, n), x.sub(k * n, n), mk, rk, ga, be, rows // groups, c)
                    else:
                        relu_apply(S, y.sub(k * n, n), yb.sub(k * n, n), x.sub(k * n, n),
                                   sc.sub(k * n, n) if add else None, mk, rk, ga, be, rows // groups, c)
                if ver == "v1":
                    v1_relu_tail(S, y, pre_act, sc, N)
                    S.launch("cast_bf16_f32", ew_flat(S, max(N // 4, 1)), yb, y, N)
                what = (f"{ver} stats_parts {('batchnorm_add_relu' if add else 'batchnorm_relu'):22} {rows:5}x{c:<3} "
                        f"views 2 x {count} blocks of {bm}, {sms} SMs")
                guards = run_case(S, rep, what, t0)
                if guards is None:
                    continue
                got = {"y": S.get(y), "mean": S.get(m), "rstd": S.get(r), "running_mean": S.get(rm),
                       "running_var": S.get(rv)}
                errs = [(k, rel(v, want[k].reshape(-1))) for k, v in got.items()]
                bits = [("yb", int((S.get(yb) != bf16_bits(S.get(y))).sum()), N)]
                rep.line(what, errs, bits, guards, time.time() - t0)


# ---------------------------------------------------------------------------------------------------------
# Element-wise kernels (elementwise.rs: whole allocations, grid_for(n, 256) blocks of 256).

def cast_input(rng, n, i):
    x = rng.uniform(-3, 3, n).astype(F32)
    u = x.view(np.uint32)
    u[::3] = (u[::3] & 0xFFFF0000) | 0x8000  # every third value an exact tie, as the Rust test
    specials = np.array([0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x00000001, 0x00008000, 0x00018000,
                         0x80008000, 0x007FFFFF, 0x7F7FFFFF, 0x7F7F8000, 0x7F7E8000, 0xFF7F8000, 0x3F808000,
                         0x3F818000, 0x3F807FFF, 0x3F808001, 0xBF818000], np.uint32)
    k = min(n, specials.size)
    at = rng.permutation(n)[:k]
    u[at] = np.roll(specials, i)[:k]
    return u.view(F32)


def check_elementwise(mods, rng, reverse, rep):
    mod = mods["elementwise"]
    for i, (n, sms) in enumerate([(1, 132), (3, 132), (4, 132), (5, 132), (30, 132), (1027, 132), (4099, 132),
                                  ((1 << 17) + 3, 1), ((1 << 15) + 2, 132)]):
        t0 = time.time()
        S = Sim(mod, sms, reverse)
        xv = cast_input(rng, n, i)
        x = S.buf("x", xv, ro=True)
        y = S.buf("y", np.full(n, 0xFFFF, U16), dtype=U16)
        S.launch("cast_bf16_f32", ew_flat(S, max(n // 4, 1)), y, x, n)
        what = f"cast_bf16_f32 n {n:6} sms {sms:3}"
        guards = run_case(S, rep, what, t0)
        if guards is None:
            continue
        rep.line(what, [], [("y", int((S.get(y) != bf16_bits(xv)).sum()), n)], guards, time.time() - t0)

    for n, sms, step in [(1000, 132, 1), (20011, 1, 7)]:
        t0 = time.time()
        S = Sim(mod, sms, reverse)
        p0, g = rng.standard_normal(n).astype(F32), rng.standard_normal(n).astype(F32)
        m0 = (rng.standard_normal(n) * 0.1).astype(F32)
        v0 = (rng.uniform(0, 0.5, n)).astype(F32)
        lr, b1, b2, eps, wd = F32(1e-3), F32(0.9), F32(0.95), F32(1e-8), F32(0.05)  # AdamW::default
        bc1 = F32(1.0 - F64(b1) ** step)  # AdamW::bias_corrections: f64, then f32
        bc2s = F32(np.sqrt(1.0 - F64(b2) ** step))
        p, gb, m, v = S.buf("p", p0), S.buf("g", g, ro=True), S.buf("m", m0), S.buf("v", v0)
        S.launch("adamw_f32", ew_flat(S, n), p, gb, m, v, float(lr), float(b1), float(b2), float(eps), float(wd),
                 float(bc1), float(bc2s), n)
        what = f"adamw_f32 n {n:6} sms {sms:3} step {step}"
        guards = run_case(S, rep, what, t0)
        if guards is None:
            continue
        d = lambda a: np.asarray(a, F64)
        mi = d(b1) * d(m0) + (1 - d(b1)) * d(g)
        vi = d(b2) * d(v0) + (1 - d(b2)) * d(g) * d(g)
        pi = d(p0) * (1 - d(lr) * d(wd)) - (d(lr) / d(bc1)) * (mi / (np.sqrt(vi) / d(bc2s) + d(eps)))
        rep.line(what, [("p", rel(S.get(p), pi)), ("m", rel(S.get(m), mi)), ("v", rel(S.get(v), vi))], [], guards,
                 time.time() - t0)

    for n, sms in [(1001, 132), (20011, 1)]:
        t0 = time.time()
        S = Sim(mod, sms, reverse)
        a, b = rng.standard_normal(n).astype(F32), rng.standard_normal(n).astype(F32)
        a[:3] = [0.0, -0.0, np.float32(-1e-30)]
        av, bv = S.buf("a", a, ro=True), S.buf("b", b, ro=True)
        o1, o2 = S.buf("relu out", n=n), S.buf("add out", n=n)
        S.launch("relu_fwd_f32", ew_flat(S, n), o1, av, n)
        S.launch("add_f32", ew_flat(S, n), o2, av, bv, n)
        what = f"relu_fwd_f32, add_f32 n {n:6} sms {sms:3}"
        guards = run_case(S, rep, what, t0)
        if guards is None:
            continue
        relu_ref = np.where(a > 0, a, F32(0))
        if not np.array_equal(S.get(o1).view(np.uint32), relu_ref.view(np.uint32)):
            guards = guards + ["relu_fwd_f32 bits differ from x > 0 ? x : +0"]
        rep.line(what, [("relu", rel(S.get(o1), relu_ref)), ("add", rel(S.get(o2), a.astype(F64) + b))], [], guards,
                 time.time() - t0)


def module(files):
    """One cusim module of kernels/<files>.cu. The tails' V1 chain launches norm.cu and elementwise.cu kernels
    on the same buffers, so those two are compiled together: a generated file under cusim's cache that
    #includes both (common.cuh is inlined once)."""
    if len(files) == 1:
        return cusim.Module(f"kernels/{files[0]}.cu")
    os.makedirs(cusim.CACHE, exist_ok=True)
    path = os.path.join(cusim.CACHE, "_".join(files) + ".cu")
    text = "".join(f'#include "{os.path.join(cusim.ROOT, "kernels", f + ".cu")}"\n' for f in files)
    if not os.path.exists(path) or open(path).read() != text:
        tmp = f"{path}.{os.getpid()}"
        with open(tmp, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)  # other checkers may read it meanwhile
    return cusim.Module(path)



def run_case(S, rep, what, t0):
    """S.run()'s guard report, or None after a FAIL line for `what` (a simulator error)."""
    try:
        return S.run()
    except (cusim.RunError, OSError) as e:  # OSError: e.g. the cached runner deleted meanwhile
        rep.line(what, [], [], [str(e)], time.time() - t0)
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reverse", action="store_true", help="schedule threads in reverse order")
    ap.add_argument("--only", default="tails,unaligned,stats,elementwise")
    a = ap.parse_args()
    t0 = time.time()
    mods = {}
    for key, files in (("norm", ("norm", "elementwise")), ("elementwise", ("elementwise",))):
        t = time.time()
        mods[key] = module(files)
        print(f"built {' + '.join(f + '.cu' for f in files)} for cusim in {time.time() - t:.1f} s", flush=True)
    rep = Report()
    parts = a.only.split(",")
    for key, fn, seed in [("tails", check_tails, 11), ("unaligned", check_unaligned, 12), ("stats", check_stats, 13),
                          ("elementwise", check_elementwise, 14)]:
        if key in parts:
            fn(mods, np.random.default_rng(seed), a.reverse, rep)
    print(("all ok" if not rep.bad else f"{rep.bad} FAILED") + f" in {time.time() - t0:.1f} s")
    return 1 if rep.bad else 0


if __name__ == "__main__":
    sys.exit(main())
