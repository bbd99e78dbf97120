#!/usr/bin/env python3
"""A NumPy emulation of the wgmma kernels (kernels/wgmma.cu: the bf16 GEMM probe, K-major and MN-major;
kernels/conv_wgmma.cu: the v7 convolutions; kernels/contrastive_wgmma.cu: the BNS v5 tiles) for desk-checking
their index logic without a GPU: every thread's 16-byte cp.async
chunk (address, zero-fill condition, place in shared memory), and the MMA reading its operands back the way
the PTX ISA's no-swizzle K-major canonical layout defines for a matrix descriptor (element (r, k) of a k-step
at start + (r / 8) * SBO + (k / 8) * LBO + (r % 8) * 16 + (k % 8) * 2 bytes), with the descriptors' start,
LBO and SBO as the kernels build them, over whole grids, against a direct product / convolution (float64).

It checks that what the loaders write is what the descriptors describe. It cannot check that the hardware
reads descriptors the way the PTX ISA is read here, nor the pipeline's synchronisation: the GPU tests
(`cuda_wgmma_bf16_gemm_matches_exact_product`, `cuda_wgmma_bf16_gemm_mn_major_matches_exact_product`,
`conv_tensor_core_versions_match_cpu_reference` with v7, the BNS CUDA tests with v5) do.

    python3 tools/emulate_wgmma.py     # seconds; one line per case, exit 1 on a mismatch
"""
import numpy as np, sys

def mma_read(S, start, rows, lbo, sbo):
    """The rows x 16 operand of one k-step as the hardware reads it (S: shared memory as bf16 elements)."""
    r = np.arange(rows)[:, None]; k = np.arange(16)[None, :]
    byte = start + (r // 8) * sbo + (k // 8) * lbo + (r % 8) * 16 + (k % 8) * 2
    assert (byte % 2 == 0).all() and start % 16 == 0
    v = S[byte // 2]
    if np.isnan(v).any(): raise SystemExit('the MMA read shared memory that no copy wrote')
    return v

def mma_read_mn(S, start, rows, lbo, sbo):
    """The same for an MN-major operand (imm-trans = 1): element (r, k) at start + (r / 8) * SBO + (k / 8) * LBO
    + (k % 8) * 16 + (r % 8) * 2 (core matrices of 8 k-rows holding 8 consecutive r each)."""
    r = np.arange(rows)[:, None]; k = np.arange(16)[None, :]
    byte = start + (r // 8) * sbo + (k // 8) * lbo + (k % 8) * 16 + (r % 8) * 2
    assert start % 16 == 0
    v = S[byte // 2]
    if np.isnan(v).any(): raise SystemExit('the MMA read shared memory that no copy wrote')
    return v

def conv_v7_bwd_weight(x, gy, n, h, w_, c, o, k, stride, pad, splits=3):
    """kernels/conv_wgmma.cu grad-weight: gw^T [m = (ky, kx, c)][o] over pixel splits, MN-major operands."""
    oh, ow = (h + 2 * pad - k) // stride + 1, (w_ + 2 * pad - k) // stride + 1
    P, K = n * oh * ow, k * k * c; BM, BK = 128, 32; BN = 128 if o > 64 else 64
    SBO = BK // 8 * 128; A_BYTES = BM * BK * 2
    per = ((P + splits - 1) // splits + 15) // 16 * 16
    gw = np.zeros((o, K))
    for p0 in range(0, P, per):
        p1 = min(P, p0 + per)
        for by in range((K + BM - 1) // BM):
            for bx in range((o + BN - 1) // BN):
                col0 = bx * BN
                D = [np.zeros((64, BN)), np.zeros((64, BN))]
                for kt in range((p1 - p0 + BK - 1) // BK):
                    k0 = p0 + kt * BK
                    S = np.full((BM + BN) * BK, np.nan)
                    for t in range(256):
                        p = k0 + t % 32
                        ox, r = p % ow, p // ow; oy, nn = r % oh, r // oh
                        for i in range(BM * BK // 8 // 256):
                            m = by * BM + 8 * (t // 32 + 8 * i)
                            tap = m // c; cc = m - tap * c
                            ky = tap // k if m < K else -(1 << 28); kx = tap % k
                            iy, ix = oy * stride - pad + ky, ox * stride - pad + kx
                            ok = p < p1 and 0 <= iy < h and 0 <= ix < w_
                            dst = 16 * (t + 256 * i) // 2
                            src = ((nn * h + iy) * w_ + ix) * c + cc
                            S[dst:dst + 8] = x[src:src + 8] if ok else 0.0
                        for i in range((BN * BK // 8 + 255) // 256):
                            f = t + 256 * i
                            if f >= BN * BK // 8: break
                            pp = k0 + f % 32; oo = col0 + 8 * (f // 32)
                            ok = pp < p1 and oo < o
                            dst = (A_BYTES + 16 * f) // 2
                            S[dst:dst + 8] = gy[pp * o + oo: pp * o + oo + 8] if ok else 0.0
                    for wg in range(2):
                        for s_ in range(BK // 16):
                            a = mma_read_mn(S, wg * 8 * SBO + 256 * s_, 64, 128, SBO)
                            b = mma_read_mn(S, A_BYTES + 256 * s_, BN, 128, SBO)
                            D[wg] += a @ b.T
                for wg in range(2):
                    for rr in range(64):
                        m = by * BM + 64 * wg + rr
                        if m >= K: continue
                        for cc in range(BN):
                            if col0 + cc < o: gw[col0 + cc, m] += D[wg][rr, cc]
    return gw.ravel()

def bwd_weight_ref(x, gy, n, h, w_, c, o, k, stride, pad):
    X = x.reshape(n, h, w_, c); oh, ow = (h + 2 * pad - k) // stride + 1, (w_ + 2 * pad - k) // stride + 1
    GY = gy.reshape(n, oh, ow, o); Xp = np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    GW = np.zeros((o, k, k, c))
    for ky in range(k):
        for kx in range(k):
            GW[:, ky, kx, :] = np.einsum('nijo,nijc->oc', GY, Xp[:, ky:ky + stride * oh:stride, kx:kx + stride * ow:stride, :])
    return GW.ravel()

def gemm_probe_mn(At, Bt, BN):
    """kernels/wgmma.cu, MN-major: C = At^T Bt with At [K][M], Bt [K][N]; chunk f = 8 consecutive rows
    (f / 64) * 8.. at k = f % 64, at byte 16 f; read back MN-major with LBO 128, SBO 1024."""
    K, M = At.shape; N = Bt.shape[1]; BM, BK = 64, 64
    C = np.full((M, N), np.nan)
    Af, Bf = At.ravel(), Bt.ravel()
    for by in range((M + BM - 1) // BM):
        for bx in range((N + BN - 1) // BN):
            row0, col0 = by * BM, bx * BN
            D = np.zeros((64, BN))
            for kt in range((K + BK - 1) // BK):
                S = np.full((BM + BN) * BK, np.nan)
                def load(X, rows, R, r0, base):
                    for i in range(R * BK // 8 // 128):
                        for t in range(128):
                            f = t + 128 * i
                            r = r0 + (f // 64) * 8; k = kt * BK + f % 64
                            ok = r < rows and k < K
                            dst = (base + 16 * f) // 2
                            S[dst:dst + 8] = X[k * rows + r: k * rows + r + 8] if ok else 0.0
                load(Af, M, BM, row0, 0); load(Bf, N, BN, col0, BM * BK * 2)
                for s in range(BK // 16):
                    a = mma_read_mn(S, 256 * s, 64, 128, 1024)
                    b = mma_read_mn(S, BM * BK * 2 + 256 * s, BN, 128, 1024)
                    D += a @ b.T
            for r in range(64):
                for c in range(BN):
                    if row0 + r < M and col0 + c < N: C[row0 + r, col0 + c] = D[r, c]
    return C

def gemm_probe(A, B, BN):
    """kernels/wgmma.cu: C = A B^T, A [M][K], B [N][K]; 128 threads, 64 x BN tiles, BK = 64."""
    M, K = A.shape; N = B.shape[0]; BM, BK = 64, 64
    C = np.full((M, N), np.nan)
    Af, Bf = A.ravel(), B.ravel()
    for by in range((M + BM - 1) // BM):
        for bx in range((N + BN - 1) // BN):
            row0, col0 = by * BM, bx * BN
            D = np.zeros((64, BN))
            for kt in range((K + BK - 1) // BK):
                S = np.full((BM + BN) * BK, np.nan)
                def load(X, rows, R, r0, base):
                    for i in range(R * BK // 8 // 128):
                        for t in range(128):
                            f = t + 128 * i
                            r = r0 + (f // 64) * 8 + f % 8; k = kt * BK + ((f // 8) % 8) * 8
                            ok = r < rows and k < K
                            dst = (base + 16 * f) // 2
                            S[dst:dst + 8] = X[r * K + k: r * K + k + 8] if ok else 0.0
                load(Af, M, BM, row0, 0); load(Bf, N, BN, col0, BM * BK * 2)
                for s in range(BK // 16):
                    a = mma_read(S, 256 * s, 64, 128, 1024)
                    b = mma_read(S, BM * BK * 2 + 256 * s, BN, 128, 1024)
                    D += a @ b.T
            # fragments: warp w, lane (g, q), d[4 j + 2 h + e] at (16 w + g + 8 h, 8 j + 2 q + e)
            for w in range(4):
                for lane in range(32):
                    g, q = lane // 4, lane % 4
                    for j in range(BN // 8):
                        for h in range(2):
                            for e in range(2):
                                r, c = row0 + 16 * w + g + 8 * h, col0 + 8 * j + 2 * q + e
                                if r < M and c < N: C[r, c] = D[16 * w + g + 8 * h, 8 * j + 2 * q + e]
    return C

def conv_v7(x, wt, n, h, w_, c, o, k, stride, pad, op='fwd', gy=None):
    """kernels/conv_wgmma.cu, 256 threads (two warpgroups), 128 x BN tiles, BK = 32. op 'fwd': y = conv(x, w)
    (NHWC / OHWI, `wt` = w); op 'bwd_input' (stride 1): gx from gy and `wt` = the IHWO transpose of w."""
    oh, ow = (h + 2 * pad - k) // stride + 1, (w_ + 2 * pad - k) // stride + 1
    fwd = op == 'fwd'
    M, K, N = (n * oh * ow, k * k * c, o) if fwd else (n * h * w_, k * k * o, c)
    BM, BK = 128, 32; BN = 128 if N > 64 else 64
    SBO = BK // 8 * 128; A_BYTES = BM * BK * 2
    y = np.full((M, N), np.nan)
    for by in range((M + BM - 1) // BM):
        for bx in range((N + BN - 1) // BN):
            row0, col0 = by * BM, bx * BN
            D = [np.zeros((64, BN)), np.zeros((64, BN))]
            for kt in range(K // BK):
                S = np.full((BM + BN) * BK, np.nan)
                k0 = kt * BK; ch = c if fwd else o; tap = k0 // ch; c0 = k0 - tap * ch; ky, kx = tap // k, tap % k
                for t in range(256):
                    kc = 8 * ((t // 8) % 4)
                    for i in range(BM * BK // 8 // 256):
                        m = row0 + 8 * (t // 32) + t % 8 + 64 * i
                        dst = 16 * (t + 256 * i) // 2
                        if fwd:  # C7FwdLoad
                            ox, r = m % ow, m // ow; nn = r // oh
                            iy0 = (r % oh) * stride - pad if m < M else -(1 << 28); ix0 = ox * stride - pad
                            iy, ix = iy0 + ky, ix0 + kx
                            ok = 0 <= iy < h and 0 <= ix < w_
                            src = ((nn * h + iy) * w_ + ix) * c + c0 + kc
                            S[dst:dst + 8] = x[src:src + 8] if ok else 0.0
                        else:  # C7BwdInputLoad
                            ix, r = m % w_, m // w_; nn = r // h
                            ty0 = (r % h) + pad if m < M else -(1 << 28); tx0 = ix + pad
                            oy, ox = ty0 - ky, tx0 - kx
                            ok = 0 <= oy < oh and 0 <= ox < ow
                            src = ((nn * oh + oy) * ow + ox) * o + c0 + kc
                            S[dst:dst + 8] = gy[src:src + 8] if ok else 0.0
                    for i in range((BN * BK // 8 + 255) // 256):
                        f = t + 256 * i
                        if f >= BN * BK // 8: break
                        oo = col0 + (f // 32) * 8 + f % 8; kk = k0 + 8 * ((f // 8) % 4)
                        dst = (A_BYTES + 16 * f) // 2
                        S[dst:dst + 8] = wt[oo * K + kk: oo * K + kk + 8] if oo < N else 0.0
                for wg in range(2):
                    for s in range(BK // 16):
                        a = mma_read(S, wg * 8 * SBO + 256 * s, 64, 128, SBO)
                        b = mma_read(S, A_BYTES + 256 * s, BN, 128, SBO)
                        D[wg] += a @ b.T
            for wg in range(2):
                for wq in range(4):
                    for lane in range(32):
                        g, q = lane // 4, lane % 4
                        for hh in range(2):
                            r = row0 + 64 * wg + 16 * wq + g + 8 * hh
                            if r >= M: continue
                            for j in range(BN // 8):
                                for e in range(2):
                                    cc = col0 + 8 * j + 2 * q + e
                                    if cc < N: y[r, cc] = D[wg][16 * wq + g + 8 * hh, 8 * j + 2 * q + e]
    return y

def bwd_input_ref(gy, wt, n, h, w_, c, o, k, stride, pad):
    GY = gy.reshape(n, (h + 2 * pad - k) // stride + 1, (w_ + 2 * pad - k) // stride + 1, o)
    W = wt.reshape(o, k, k, c); GXp = np.zeros((n, h + 2 * pad, w_ + 2 * pad, c))
    oh, ow = GY.shape[1], GY.shape[2]
    for ky in range(k):
        for kx in range(k):
            GXp[:, ky:ky + stride * oh:stride, kx:kx + stride * ow:stride, :] += GY @ W[:, ky, kx, :]
    return GXp[:, pad:pad + h, pad:pad + w_, :].reshape(-1, c)

def conv_ref(x, wt, n, h, w_, c, o, k, stride, pad):
    X = x.reshape(n, h, w_, c); W = wt.reshape(o, k, k, c)
    oh, ow = (h + 2 * pad - k) // stride + 1, (w_ + 2 * pad - k) // stride + 1
    Xp = np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0))); Y = np.zeros((n, oh, ow, o))
    for ky in range(k):
        for kx in range(k):
            Y += Xp[:, ky:ky + stride * oh:stride, kx:kx + stride * ow:stride, :] @ W[:, ky, kx, :].T
    return Y.reshape(-1, o)

bad = 0
rng = np.random.default_rng(1)
def report(name, got, want):
    global bad
    e = np.linalg.norm(got - want) / np.linalg.norm(want)
    ok = e < 1e-12 and not np.isnan(got).any()
    bad += not ok
    print(name, f'{e:.2e}', 'OK' if ok else 'FAIL'); sys.stdout.flush()
def bns_v5(z, W, y=None):
    """kernels/contrastive_wgmma.cu's tile logic: rows of zb (n x 128) into the K-major layout (BK = 128: SBO
    2048), S = own . tile^T per warpgroup, M = S * W[row, col] from the accumulator fragments, M rounded in
    place into A fragments (two 8-column blocks per k-step), g += M . tile with the tile read MN-major (LBO
    2048, SBO 128, k-step s at byte 4096 s). Returns g = (S * W) @ y over all columns, S = z y^T (y = z: the
    code form; the paper form's passes have own rows z and column rows y) — no masks: they are elementwise
    in the kernel and W stands in for them."""
    y = z if y is None else y
    n, ny = z.shape[0], y.shape[0]; BM, BN, D = 128, 64, 128; SBO = D // 8 * 128
    g_out = np.zeros((n, D))
    def load_rows(S, base, X, rows, r0, R):
        Xf = X.ravel()
        for f in range(R * 16):
            r = r0 + (f // 128) * 8 + f % 8; k = ((f // 8) % 16) * 8
            dst = (base + 16 * f) // 2
            S[dst:dst + 8] = Xf[r * D + k: r * D + k + 8] if r < rows else 0.0
    for bx in range((n + BM - 1) // BM):
        r0 = bx * BM
        for c0 in range(0, ny, BN):
            S = np.full((BM + BN) * D, np.nan)
            load_rows(S, 0, z, n, r0, BM); load_rows(S, BM * D * 2, y, ny, c0, BN)
            for wg in range(2):
                acc = np.zeros((64, BN))
                for s in range(D // 16):
                    acc += mma_read(S, wg * 8 * SBO + 256 * s, 64, 128, SBO) @ mma_read(S, BM * D * 2 + 256 * s, BN, 128, SBO).T
                # per-thread fragments acc[4 j + 2 h + e] -> coefficients
                frag = np.zeros((128, 32))
                for w in range(4):
                    for lane in range(32):
                        g, q = lane // 4, lane % 4
                        for j in range(BN // 8):
                            for h in range(2):
                                for e in range(2):
                                    rr, cc = 16 * w + g + 8 * h, 8 * j + 2 * q + e
                                    a, b = r0 + 64 * wg + rr, c0 + cc
                                    frag[32 * w + lane, 4 * j + 2 * h + e] = acc[rr, cc] * (W[a, b] if a < n and b < ny else 0.0)
                G = np.zeros((64, D))
                for s in range(BN // 16):
                    A = np.full((64, 16), np.nan)
                    for w in range(4):
                        for lane in range(32):
                            g, q = lane // 4, lane % 4; fr = frag[32 * w + lane]
                            A[16 * w + g, 2 * q:2 * q + 2] = fr[8 * s:8 * s + 2]
                            A[16 * w + g + 8, 2 * q:2 * q + 2] = fr[8 * s + 2:8 * s + 4]
                            A[16 * w + g, 8 + 2 * q:8 + 2 * q + 2] = fr[8 * s + 4:8 * s + 6]
                            A[16 * w + g + 8, 8 + 2 * q:8 + 2 * q + 2] = fr[8 * s + 6:8 * s + 8]
                    Bt = mma_read_mn(S, BM * D * 2 + 4096 * s, D, 2048, 128)  # (n' = dim, k' = column)
                    G += A @ Bt.T
                for rr in range(64):
                    if r0 + 64 * wg + rr < n: g_out[r0 + 64 * wg + rr] += G[rr]
    return g_out

for (M, N, K) in [(64, 64, 64), (128, 256, 192), (100, 200, 136), (70, 48, 64), (64, 8, 8)]:
    A = rng.standard_normal((M, K)); B = rng.standard_normal((N, K))
    report(f'wgmma gemm {M}x{N}x{K} n{128 if N > 64 else 64}', gemm_probe(A, B, 128 if N > 64 else 64), A @ B.T)
for (M, N, K) in [(64, 64, 16), (128, 256, 136), (96, 200, 64), (64, 8, 8)]:
    At = rng.standard_normal((K, M)); Bt = rng.standard_normal((K, N))
    report(f'wgmma gemm mn-major {M}x{N}x{K}', gemm_probe_mn(At, Bt, 128 if N > 64 else 64), At.T @ Bt)
for sh in [(2, 8, 8, 32, 64, 3, 1, 1), (2, 8, 8, 64, 128, 3, 2, 1), (3, 5, 7, 32, 48, 3, 1, 1), (2, 8, 8, 64, 32, 1, 2, 0),
           (1, 6, 6, 64, 200, 3, 1, 1)]:
    n, h, w_, c, o, k, stride, pad = sh
    x = rng.standard_normal(n * h * w_ * c); wt = rng.standard_normal(o * k * k * c)
    report(f'conv fwd v7 {sh}', conv_v7(x, wt, *sh), conv_ref(x, wt, *sh))
for sh in [(2, 8, 8, 64, 32, 3, 1, 1), (2, 6, 6, 200, 64, 3, 1, 1), (3, 5, 7, 40, 96, 3, 1, 1), (2, 5, 5, 16, 32, 1, 1, 0),
           (1, 6, 6, 8, 32, 3, 1, 0)]:
    n, h, w_, c, o, k, stride, pad = sh
    oh, ow = (h + 2 * pad - k) // stride + 1, (w_ + 2 * pad - k) // stride + 1
    gy = rng.standard_normal(n * oh * ow * o); wt = rng.standard_normal(o * k * k * c)
    wT = wt.reshape(o, k * k, c).transpose(2, 1, 0).ravel()  # IHWO, as conv_weight_t
    report(f'conv bwd_input v7 {sh}', conv_v7(None, wT, *sh, op='bwd_input', gy=gy), bwd_input_ref(gy, wt, *sh))
for sh in [(2, 8, 8, 32, 64, 3, 1, 1), (2, 8, 8, 64, 128, 3, 2, 1), (3, 5, 7, 16, 40, 3, 1, 1), (2, 8, 8, 64, 32, 1, 2, 0),
           (2, 9, 9, 8, 200, 3, 2, 1)]:
    n, h, w_, c, o, k, stride, pad = sh
    oh, ow = (h + 2 * pad - k) // stride + 1, (w_ + 2 * pad - k) // stride + 1
    x = rng.standard_normal(n * h * w_ * c); gy = rng.standard_normal(n * oh * ow * o)
    report(f'conv bwd_weight v7 {sh}', conv_v7_bwd_weight(x, gy, *sh), bwd_weight_ref(x, gy, *sh))
for n in [64, 200, 300]:
    z = rng.standard_normal((n, 128)); W = rng.standard_normal((n, n))
    report(f'bns code v5 tiles n={n}', bns_v5(z, W), ((z @ z.T) * W) @ z)
for (n, ny) in [(70, 300), (300, 130)]:
    z = rng.standard_normal((n, 128)); y = rng.standard_normal((ny, 128)); W = rng.standard_normal((n, ny))
    report(f'bns paper v5 pass tiles {n} own x {ny} columns', bns_v5(z, W, y), ((z @ y.T) * W) @ y)
sys.exit(1 if bad else 0)
