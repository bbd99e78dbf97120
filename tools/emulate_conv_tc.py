#!/usr/bin/env python3
"""A NumPy emulation of the v6 convolutions (kernels/conv_tc6.cu: bf16 and tf32 on tensor cores, f32 on the
CUDA cores' FMAs) and the tensor-core v5 (bf16, kernels/conv_tc.cu),
for desk-checking their index logic without a GPU: every thread's copy (v6: cp.async chunks of 8; v5: float4
loads packed to bf16; addresses, zero-fill conditions, shared-memory layout), the
ldmatrix fragments as PTX defines them (x4, with and without .trans), mma.m16n8k16's (bf16) and
mma.m16n8k8's (tf32, scalar fragment loads) layouts, the f32 path's float4/float2/scalar shared-memory reads
into the same fragment layout (alignment checked) and
tc_store_acc, over whole grids at ResNet-like shapes and every tile width, against a direct NumPy
convolution (float64, so exact agreement is ~1e-16).

It is a hand transcription of the kernel, not the kernel: it checks the arithmetic of the indices, not
the pipeline's synchronisation, the compiler, or the hardware. Keep it in step with the kernels when the
loaders change. The GPU tests (`conv_tensor_core_versions_match_cpu_reference`,
`resnet_steps_cuda_conv_v6_match_v4_and_v2`) are what validate the kernels.

    python3 tools/emulate_conv_tc.py     # a few minutes; one line per (version, shape, op), exit 1 on a mismatch
"""
import numpy as np, itertools, sys
STAGES, BK = 3, 32
CFG = {'n128': (2,4,4), 'n64': (4,4,4), 'n32': (8,2,4), 'n16': (8,2,2)}
def tile(cols):
    return 'n128' if cols > 64 else 'n64' if cols > 32 else 'n32' if cols > 16 else 'n16'

class Pr:  # operand type of a v6 (or v5) run: elements per 16-byte copy, k-fast row stride, fragments
    def __init__(p, tf32, ffma=False):
        p.tf32 = tf32; p.ffma = ffma; p.EPC = 4 if tf32 else 8; p.KS = BK + (4 if tf32 else 8)
BF16, TF32, F32 = Pr(False), Pr(True), Pr(True, ffma=True)  # f32: fp32 loaders as tf32, FMA compute

class D:  # ConvDims
    def __init__(s, n,h,w,c,o,k,stride,pad):
        s.n,s.h,s.w,s.c,s.o,s.kh,s.kw,s.stride,s.pad = n,h,w,c,o,k,k,stride,pad
        s.oh=(h+2*pad-k)//stride+1; s.ow=(w+2*pad-k)//stride+1

def ldsm(S, base_of_lane, trans):
    # returns r[lane][j] = (lo, hi)
    addrs = [base_of_lane(l) for l in range(32)]
    r = [[None]*4 for _ in range(32)]
    for j in range(4):
        rows = [S[addrs[8*j+i]:addrs[8*j+i]+8] for i in range(8)]
        M = np.array(rows)  # 8x8 as stored
        for lane in range(32):
            g, q = lane//4, lane%4
            if not trans: r[lane][j] = (M[g,2*q], M[g,2*q+1])
            else: r[lane][j] = (M[2*q,g], M[2*q+1,g])
    return r

def cdiv(a, b):  # C integer division (truncation)
    return int(a / b) if b else 0

def run(op, d, x, w, gy, p_lo=0, p_hi=None, loader=None, pr=BF16):
    # x: NHWC flat, w: OHWI flat, gy: [P, O] flat; grad-weight returns gw for pixels [p_lo, p_hi)
    if op == 'fwd': M, N = d.n*d.oh*d.ow, d.o
    elif op == 'bwd_input': M, N = d.n*d.h*d.w, d.c
    else: M, N = d.kh*d.kw*d.c, d.o
    tag = tile(N); WMW, MI, NJ = CFG[tag]
    BM, BN = WMW*16*MI, (8//WMW)*8*NJ
    if op == 'bwd_weight':
        k_begin, k_end = p_lo, (p_hi if p_hi is not None else d.n*d.oh*d.ow)
    else:
        k_begin, k_end = 0, (d.kh*d.kw*d.c if op == 'fwd' else d.kh*d.kw*d.o)
    C = np.zeros(N*M) if op == 'bwd_weight' else np.full(M*N, np.nan)
    for by, bx in itertools.product(range((M+BM-1)//BM), range((N+BN-1)//BN)):
        blk = gemm_block(lambda t, k0, As, Bs: (loader or load)(op, d, t, by, bx, BM, BN, k0, k_end, x, w, gy, As, Bs, pr),
                         BM, BN, MI, NJ, WMW, op != 'bwd_weight', op == 'fwd', k_begin, k_end, pr)
        for (r, c), v in blk.items():  # tc_store_acc
            row, col = by*BM + r, bx*BN + c
            if row >= M or col >= N: continue
            if op == 'bwd_weight': C[col*M + row] += v
            else: C[row*N + col] = v
    return C

class Cls:  # Tc6Class
    def __init__(c, d, z):
        s = d.stride; c.s = s; c.ry, c.rx = z//s, z%s
        c.iy1 = ((c.ry - d.pad) % s + s) % s; c.ix1 = ((c.rx - d.pad) % s + s) % s
        c.hy = (d.h - c.iy1 + s - 1)//s if c.iy1 < d.h else 0
        c.wx = (d.w - c.ix1 + s - 1)//s if c.ix1 < d.w else 0
        nky = (d.kh - c.ry + s - 1)//s if c.ry < d.kh else 0
        c.nkx = (d.kw - c.rx + s - 1)//s if c.rx < d.kw else 0
        c.M = d.n*c.hy*c.wx; c.K = nky*c.nkx*d.o
    def pixel(c, m):
        r = m//c.wx; ix = c.ix1 + c.s*(m - r*c.wx); iy = c.iy1 + c.s*(r % c.hy); return r//c.hy, iy, ix

def run_strided(d, x, w, gy, pr=BF16):
    # conv_bwd_input_strided_v6: one residue class per blockIdx.z, Tc6ClassOut epilogue
    tag = tile(d.c); WMW, MI, NJ = CFG[tag]
    BM, BN = WMW*16*MI, (8//WMW)*8*NJ
    out = np.full(d.n*d.h*d.w*d.c, np.nan)
    rows = d.n*(-(-d.h//d.stride))*(-(-d.w//d.stride))
    for z in range(d.stride*d.stride):
        cl = Cls(d, z)
        for by, bx in itertools.product(range((rows+BM-1)//BM), range((d.c+BN-1)//BN)):
            if by*BM >= cl.M: continue
            C = gemm_block(lambda t, k0, As, Bs: load_cls(d, cl, t, by, bx, BM, BN, k0, w, gy, As, Bs, pr),
                           BM, BN, MI, NJ, WMW, True, False, 0, cl.K, pr)
            for (row, col), v in C.items():
                if row >= cl.M or col >= d.c: continue
                n, iy, ix = cl.pixel(by*BM + row)
                out[((n*d.h+iy)*d.w+ix)*d.c + bx*BN + col] = v
    return out

def load_cls(d, cl, t, by, bx, BM, BN, k0, w, gy, As, Bs, pr):
    col0 = bx*BN; E = pr.EPC; CPA = BK//E
    tt = k0//d.o; o0 = k0 - tt*d.o; ky = cl.ry + cl.s*(tt//cl.nkx); kx = cl.rx + cl.s*(tt % cl.nkx)
    for i in range(BM*CPA//256):
        row = t//CPA + (256//CPA)*i; koff = E*(t % CPA); m = by*BM + row
        if m < cl.M: n, iy, ix = cl.pixel(m); ty0 = iy + d.pad
        else: n, ix, ty0 = 0, 0, -(1<<28)
        tx0 = ix + d.pad
        ty, tx = ty0-ky, tx0-kx; oy, ox = cdiv(ty, cl.s), cdiv(tx, cl.s)
        ok = ty >= 0 and tx >= 0 and oy < d.oh and ox < d.ow
        if ok: assert ty % cl.s == 0 and tx % cl.s == 0
        cp16(As, row*pr.KS+koff, gy, ((n*d.oh+oy)*d.ow+ox)*d.o + o0 + koff, ok, E)
    load_w_kn(d, t, BN, col0, o0, ky, kx, w, Bs, pr)

def load_w_kn(d, t, BN, col0, o0, ky, kx, w, Bs, pr):  # tc6_load_w_kn
    E = pr.EPC; CPR = BN//E; BCH = BK*CPR
    for i in range((BCH+255)//256):
        f = t + 256*i
        if f >= BCH: break
        kk = f//CPR; cc = E*(f % CPR); c = col0 + cc; ok = c < d.c
        cp16(Bs, kk*(BN+8)+cc, w, (((o0+kk)*d.kh + ky)*d.kw + kx)*d.c + c, ok, E)

def gemm_block(load_fn, BM, BN, MI, NJ, WMW, A_MK, B_NK, k_begin, k_end, pr=BF16):
    # one block's k-loop and fragments; returns {(row, col) within the block: value}
    SA_STRIDE = pr.KS if A_MK else BM+8; SA_SIZE = (BM if A_MK else BK)*SA_STRIDE
    SB_STRIDE = pr.KS if B_NK else BN+8; SB_SIZE = (BN if B_NK else BK)*SB_STRIDE
    acc = np.zeros((8, 32, MI, NJ, 4))
    for kt in range((k_end-k_begin+BK-1)//BK if k_end > k_begin else 0):
        k0 = k_begin + kt*BK
        As = np.full(SA_SIZE, np.nan); Bs = np.full(SB_SIZE, np.nan)
        for t in range(256): load_fn(t, k0, As, Bs)
        assert SA_SIZE % 4 == 0  # Bs = As + SA_SIZE must stay 16-byte aligned for float4 reads
        step = ffma_tile if pr.ffma else mma_tile_tf32 if pr.tf32 else mma_tile
        step(acc, As, Bs, MI, NJ, WMW, A_MK, B_NK, SA_STRIDE, SB_STRIDE)
    out = {}
    for warp in range(8):
        wm, wn = (warp % WMW)*(16*MI), (warp//WMW)*(8*NJ)
        for l in range(32):
            g, q = l//4, l%4
            for i in range(MI):
                for j in range(NJ):
                    for e in range(4):
                        out[(wm + i*16 + g + (e//2)*8, wn + j*8 + 2*q + (e%2))] = acc[warp,l,i,j,e]
    return out

def mma_tile(acc, As, Bs, MI, NJ, WMW, A_MK, B_NK, SA_STRIDE, SB_STRIDE):
    for warp in range(8):
        wm, wn = (warp % WMW)*(16*MI), (warp//WMW)*(8*NJ)
        for ks in (0, 16):
            a = []
            for i in range(MI):
                mb = wm + 16*i
                if A_MK: f = lambda l: (mb + l%8 + 8*((l>>3)&1))*SA_STRIDE + ks + 8*(l>>4)
                else: f = lambda l: (ks + l%8 + 8*(l>>4))*SA_STRIDE + mb + 8*((l>>3)&1)
                a.append(ldsm(As, f, not A_MK))
            b = [None]*NJ
            for jp in range(NJ//2):
                nb = wn + 16*jp
                if B_NK: f = lambda l: (nb + l%8 + 8*(l>>4))*SB_STRIDE + ks + 8*((l>>3)&1)
                else: f = lambda l: (ks + l%8 + 8*((l>>3)&1))*SB_STRIDE + nb + 8*(l>>4)
                r = ldsm(Bs, f, not B_NK)
                b[2*jp] = [(r[l][0], r[l][1]) for l in range(32)]
                b[2*jp+1] = [(r[l][2], r[l][3]) for l in range(32)]
            for i in range(MI):
                for j in range(NJ):
                    Am = np.zeros((16,16)); Bm = np.zeros((16,8))
                    for l in range(32):
                        g, q = l//4, l%4
                        r = a[i][l]
                        Am[g,2*q:2*q+2] = r[0]; Am[g+8,2*q:2*q+2] = r[1]
                        Am[g,2*q+8:2*q+10] = r[2]; Am[g+8,2*q+8:2*q+10] = r[3]
                        b0, b1 = b[j][l]
                        Bm[2*q:2*q+2, g] = b0; Bm[2*q+8:2*q+10, g] = b1
                    if np.isnan(Am).any() or np.isnan(Bm).any(): raise SystemExit('a fragment read shared memory that no copy wrote')
                    Cm = Am @ Bm
                    for l in range(32):
                        g, q = l//4, l%4
                        acc[warp,l,i,j] += [Cm[g,2*q], Cm[g,2*q+1], Cm[g+8,2*q], Cm[g+8,2*q+1]]

def mma_tile_tf32(acc, As, Bs, MI, NJ, WMW, A_MK, B_NK, SA, SB):
    # m16n8k8 tf32: A (g, q) a0, (g+8, q) a1, (g, q+4) a2, (g+8, q+4) a3; B (k q, n g) b0, (q+4, g) b1
    at = (lambda m, k: As[m*SA + k]) if A_MK else (lambda m, k: As[k*SA + m])
    bt = (lambda k, n: Bs[n*SB + k]) if B_NK else (lambda k, n: Bs[k*SB + n])
    for warp in range(8):
        wm, wn = (warp % WMW)*(16*MI), (warp//WMW)*(8*NJ)
        for ks in range(0, BK, 8):
            for i in range(MI):
                for j in range(NJ):
                    Am = np.zeros((16, 8)); Bm = np.zeros((8, 8))
                    for l in range(32):
                        g, q = l//4, l%4; m = wm + 16*i + g; n = wn + 8*j + g
                        Am[g, q] = at(m, ks+q); Am[g+8, q] = at(m+8, ks+q)
                        Am[g, q+4] = at(m, ks+q+4); Am[g+8, q+4] = at(m+8, ks+q+4)
                        Bm[q, g] = bt(ks+q, n); Bm[q+4, g] = bt(ks+q+4, n)
                    if np.isnan(Am).any() or np.isnan(Bm).any(): raise SystemExit('a fragment read shared memory that no copy wrote')
                    Cm = Am @ Bm
                    for l in range(32):
                        g, q = l//4, l%4
                        acc[warp,l,i,j] += [Cm[g,2*q], Cm[g,2*q+1], Cm[g+8,2*q], Cm[g+8,2*q+1]]

def ffma_tile(acc, As, Bs, MI, NJ, WMW, A_MK, B_NK, SA, SB):
    # tc6_ffma_kstep: lane (g, q) reads A rows wm+16i+g(+8) and B columns wn+8j+2q(+1) for 4 k at a time
    # (A [m][k]: one float4; A [k][m]: 4 scalars; B [n][k]: one float4 per column; B [k][n]: a float2 per k)
    # and accumulates acc[i][j][2h + e] += a[i][h][kk] * b[j][e][kk] in k order.
    l = np.arange(32); g, q = l//4, l % 4
    I, H, J, E, KK = np.arange(MI), np.arange(2), np.arange(NJ), np.arange(2), np.arange(4)
    for warp in range(8):
        wm, wn = (warp % WMW)*(16*MI), (warp//WMW)*(8*NJ)
        m = wm + 16*I[None, :, None] + g[:, None, None] + 8*H[None, None, :]        # (32, MI, 2)
        n = wn + 8*J[None, :, None] + 2*q[:, None, None] + E[None, None, :]        # (32, NJ, 2)
        for ks in range(0, BK, 4):
            if A_MK:
                ia = m[..., None]*SA + ks + KK
                assert (ia[..., 0] % 4 == 0).all(), 'misaligned float4 read of A'
            else:
                ia = (ks + KK)*SA + m[..., None]
            if B_NK:
                ib = n[..., None]*SB + ks + KK
                assert (ib[..., 0] % 4 == 0).all(), 'misaligned float4 read of B'
            else:
                ib = (ks + KK)*SB + n[..., None]
                assert (ib[:, :, 0, :] % 2 == 0).all(), 'misaligned float2 read of B'
            a, b = As[ia], Bs[ib]                                                      # (32, MI|NJ, 2, 4)
            if np.isnan(a).any() or np.isnan(b).any(): raise SystemExit('an FMA read shared memory that no copy wrote')
            acc[warp] += np.einsum('lihk,ljek->lijhe', a, b).reshape(32, MI, NJ, 4)

def cp16(S, dst, src_arr, src, ok, E=8):  # one 16-byte cp.async: E elements, zero-filled when not ok
    S[dst:dst+E] = src_arr[src:src+E] if ok else 0.0

def load(op, d, t, by, bx, BM, BN, k0, k_end, x, w, gy, As, Bs, pr=BF16):
    E = pr.EPC; CPA = BK//E; KS = pr.KS; col0 = bx*BN
    if op == 'fwd':
        K = d.kh*d.kw*d.c
        tap = k0//d.c; c0 = k0 - tap*d.c; ky = tap//d.kw; kx = tap - ky*d.kw
        for i in range(BM*CPA//256):
            row = t//CPA + (256//CPA)*i; koff = E*(t % CPA)
            m = by*BM + row; ox = m % d.ow; r = m//d.ow; n = r//d.oh
            iy0 = (r % d.oh)*d.stride - d.pad if m < d.n*d.oh*d.ow else -(1<<28); ix0 = ox*d.stride - d.pad
            iy, ix = iy0+ky, ix0+kx
            ok = 0 <= iy < d.h and 0 <= ix < d.w
            cp16(As, row*KS+koff, x, ((n*d.h+iy)*d.w+ix)*d.c + c0 + koff, ok, E)
        BCH = CPA*BN
        for i in range((BCH+255)//256):
            f = t + 256*i
            if f >= BCH: break
            o = col0 + f//CPA; kc = E*(f % CPA); ok = o < d.o
            cp16(Bs, (f//CPA)*KS + kc, w, o*K + k0 + kc, ok, E)
    elif op == 'bwd_input':
        tap = k0//d.o; o0 = k0 - tap*d.o; ky = tap//d.kw; kx = tap - ky*d.kw
        for i in range(BM*CPA//256):
            row = t//CPA + (256//CPA)*i; koff = E*(t % CPA)
            m = by*BM + row; ix = m % d.w; r = m//d.w; n = r//d.h
            ty0 = (r % d.h) + d.pad if m < d.n*d.h*d.w else -(1<<28); tx0 = ix + d.pad
            ty, tx = ty0-ky, tx0-kx
            oy, ox = cdiv(ty, d.stride), cdiv(tx, d.stride)
            ok = ty >= 0 and tx >= 0 and oy*d.stride == ty and ox*d.stride == tx and oy < d.oh and ox < d.ow
            cp16(As, row*KS+koff, gy, ((n*d.oh+oy)*d.ow+ox)*d.o + o0 + koff, ok, E)
        load_w_kn(d, t, BN, col0, o0, ky, kx, w, Bs, pr)
    else:
        p_end = k_end
        ACPR = BM//E; NA = BK*ACPR//256
        k = by*BM + E*(t % ACPR); tap = k//d.c; c = k - tap*d.c
        ky = tap//d.kw if k < d.kh*d.kw*d.c else -(1<<28); kx = tap % d.kw
        for i in range(NA):
            pl = t//ACPR + i*(256//ACPR); p = k0 + pl
            ox = p % d.ow; r = p//d.ow; oy = r % d.oh; nn = r//d.oh
            iy = oy*d.stride - d.pad + ky; ix = ox*d.stride - d.pad + kx
            ok = p < p_end and 0 <= iy < d.h and 0 <= ix < d.w
            cp16(As, pl*(BM+8) + E*(t % ACPR), x, ((nn*d.h+iy)*d.w+ix)*d.c + c, ok, E)
        BCPR = BN//E; BCH = BK*BCPR
        for i in range((BCH+255)//256):
            f = t + 256*i
            if f >= BCH: break
            pl = f//BCPR; oc = E*(f % BCPR); p = k0 + pl; o = col0 + oc
            ok = p < p_end and o < d.o
            cp16(Bs, pl*(BN+8)+oc, gy, p*d.o + o, ok, E)

def cp4(S, dst, src_arr, src, ok):  # v5: one float4 packed to 4 bf16 (uint2 store)
    S[dst:dst+4] = src_arr[src:src+4] if ok else 0.0

def load_v5(op, d, t, by, bx, BM, BN, k0, k_end, x, w, gy, As, Bs, pr=BF16):
    col0 = bx*BN
    if op in ('fwd', 'bwd_input'):
        TPR = 256//BM; FA = 8//TPR; row = t//TPR; koff = (t % TPR)*(4*FA)
        m = by*BM + row
        if op == 'fwd':
            K = d.kh*d.kw*d.c
            ox = m % d.ow; r = m//d.ow; n = r//d.oh
            iy0 = (r % d.oh)*d.stride - d.pad if m < d.n*d.oh*d.ow else -(1<<28); ix0 = ox*d.stride - d.pad
            tap = k0//d.c; c0 = k0 - tap*d.c; ky = tap//d.kw; kx = tap - ky*d.kw
            iy, ix = iy0+ky, ix0+kx; ok = 0 <= iy < d.h and 0 <= ix < d.w
            base = ((n*d.h+iy)*d.w+ix)*d.c + c0 + koff
            for j in range(FA): cp4(As, row*(BK+8) + koff + 4*j, x, base + 4*j, ok)
            B4 = 8*BN
            for i in range((B4+255)//256):
                f = t + 256*i
                if f >= B4: break
                o = col0 + f//8; ok = o < d.o
                cp4(Bs, (f//8)*(BK+8) + 4*(f%8), w, o*K + k0 + 4*(f%8), ok)
        else:
            ix = m % d.w; r = m//d.w; n = r//d.h
            ty0 = (r % d.h) + d.pad if m < d.n*d.h*d.w else -(1<<28); tx0 = ix + d.pad
            tap = k0//d.o; o0 = k0 - tap*d.o; ky = tap//d.kw; kx = tap - ky*d.kw
            ty, tx = ty0-ky, tx0-kx; oy, ox = cdiv(ty, d.stride), cdiv(tx, d.stride)
            ok = ty >= 0 and tx >= 0 and oy*d.stride == ty and ox*d.stride == tx and oy < d.oh and ox < d.ow
            base = ((n*d.oh+oy)*d.ow+ox)*d.o + o0 + koff
            for j in range(FA): cp4(As, row*(BK+8) + koff + 4*j, gy, base + 4*j, ok)
            B4 = 8*BN; Q = BN//4
            for i in range((B4+255)//256):
                f = t + 256*i
                if f >= B4: break
                kk = f//Q; c = col0 + 4*(f % Q); ok = c < d.c
                cp4(Bs, kk*(BN+8) + 4*(f % Q), w, ((o0+kk)*d.kh*d.kw + tap)*d.c + c, ok)
    else:
        p_end = k_end; AQ = BM//4; NA = 8*BM//256
        k = by*BM + 4*(t % AQ); tap = k//d.c; c = k - tap*d.c
        ky = tap//d.kw if k < d.kh*d.kw*d.c else -(1<<28); kx = tap % d.kw
        for i in range(NA):
            pl = t//AQ + i*(256//AQ); p = k0 + pl
            ox = p % d.ow; r = p//d.ow; oy = r % d.oh; nn = r//d.oh
            iy = oy*d.stride - d.pad + ky; ix = ox*d.stride - d.pad + kx
            ok = p < p_end and 0 <= iy < d.h and 0 <= ix < d.w
            cp4(As, pl*(BM+8) + 4*(t % AQ), x, ((nn*d.h+iy)*d.w+ix)*d.c + c, ok)
        B4 = 8*BN; Q = BN//4
        for i in range((B4+255)//256):
            f = t + 256*i
            if f >= B4: break
            p = k0 + f//Q; o = col0 + 4*(f % Q); ok = p < p_end and o < d.o
            cp4(Bs, (f//Q)*(BN+8) + 4*(f % Q), gy, p*d.o + o, ok)

def ref(d, x, w, gy):
    X = x.reshape(d.n,d.h,d.w,d.c); W = w.reshape(d.o,d.kh,d.kw,d.c); GY = gy.reshape(d.n,d.oh,d.ow,d.o)
    Xp = np.pad(X, ((0,0),(d.pad,d.pad),(d.pad,d.pad),(0,0)))
    Y = np.zeros((d.n,d.oh,d.ow,d.o)); GXp = np.zeros_like(Xp); GW = np.zeros_like(W)
    for ky in range(d.kh):
        for kx in range(d.kw):
            patch = Xp[:, ky:ky+d.stride*d.oh:d.stride, kx:kx+d.stride*d.ow:d.stride, :]
            Y += patch @ W[:,ky,kx,:].T
            GXp[:, ky:ky+d.stride*d.oh:d.stride, kx:kx+d.stride*d.ow:d.stride, :] += GY @ W[:,ky,kx,:]
            GW[:,ky,kx,:] += np.einsum('nijo,nijc->oc', GY, patch)
    GX = GXp[:, d.pad:d.pad+d.h, d.pad:d.pad+d.w, :]
    return Y.ravel(), GX.ravel(), GW.ravel()

bad = 0
rng = np.random.default_rng(0)
shapes = [(2,8,8,32,64,3,1,1),(2,8,8,64,128,3,2,1),(2,6,6,32,16,3,1,1),(3,5,7,32,48,3,1,1),(2,8,8,64,32,1,2,0),(2,9,9,16,32,3,2,1),(2,6,6,16,16,3,1,1),(1,5,5,256,256,3,1,1),
          (2,7,5,32,32,3,2,1),(1,6,6,64,32,3,3,1),(2,8,8,16,32,1,2,0),(2,5,7,48,20,3,2,1),(2,6,6,12,32,3,2,1)]
for sh in shapes:
    d = D(*sh)
    x = rng.standard_normal(d.n*d.h*d.w*d.c); w = rng.standard_normal(d.o*d.kh*d.kw*d.c); gy = rng.standard_normal(d.n*d.oh*d.ow*d.o)
    Y, GX, GW = ref(d, x, w, gy)
    P = d.n*d.oh*d.ow; per = ((P + 2)//3 + 15)//16*16  # three pixel splits, as the launchers' z grid
    def gw_of(loader):
        return sum(run('bwd_weight', d, x, w, gy, p0, min(P, p0+per), loader) for p0 in range(0, P, per))
    out = []
    # v6 (conv_tc6::takes)
    if d.c % 32 == 0: out.append(('v6 bf16', 'fwd', run('fwd', d, x, w, gy), Y))
    if d.o % 32 == 0 and d.c % 8 == 0:
        out.append(('v6 bf16', 'bwd_input', run('bwd_input', d, x, w, gy) if d.stride == 1 else run_strided(d, x, w, gy), GX))
    if d.c % 8 == 0 and d.o % 8 == 0: out.append(('v6 bf16', 'bwd_weight', gw_of(None), GW))
    # v6 tf32 (4 fp32 channels per copy)
    if d.c % 32 == 0: out.append(('v6 tf32', 'fwd', run('fwd', d, x, w, gy, pr=TF32), Y))
    if d.o % 32 == 0 and d.c % 4 == 0:
        out.append(('v6 tf32', 'bwd_input', run('bwd_input', d, x, w, gy, pr=TF32) if d.stride == 1 else run_strided(d, x, w, gy, TF32), GX))
    if d.c % 4 == 0 and d.o % 4 == 0:
        out.append(('v6 tf32', 'bwd_weight', sum(run('bwd_weight', d, x, w, gy, p0, min(P, p0+per), pr=TF32) for p0 in range(0, P, per)), GW))
    # v6 f32: the tf32 loaders (same takes) with FMA compute
    if d.c % 32 == 0: out.append(('v6 f32', 'fwd', run('fwd', d, x, w, gy, pr=F32), Y))
    if d.o % 32 == 0 and d.c % 4 == 0:
        out.append(('v6 f32', 'bwd_input', run('bwd_input', d, x, w, gy, pr=F32) if d.stride == 1 else run_strided(d, x, w, gy, F32), GX))
    if d.c % 4 == 0 and d.o % 4 == 0:
        out.append(('v6 f32', 'bwd_weight', sum(run('bwd_weight', d, x, w, gy, p0, min(P, p0+per), pr=F32) for p0 in range(0, P, per)), GW))
    # v5 (conv_tc::effective_version)
    if d.c % 32 == 0: out.append(('v5', 'fwd', run('fwd', d, x, w, gy, loader=load_v5), Y))
    if d.o % 32 == 0 and d.c % 4 == 0: out.append(('v5', 'bwd_input', run('bwd_input', d, x, w, gy, loader=load_v5), GX))
    if d.c % 4 == 0 and d.o % 4 == 0: out.append(('v5', 'bwd_weight', gw_of(load_v5), GW))
    for v, k, got, want in out:
        e = np.linalg.norm(got - want)/np.linalg.norm(want)
        bad += not e < 1e-12
        print(v, sh, k, tile(d.o if k != 'bwd_input' else d.c), f'{e:.2e}', 'OK' if e < 1e-12 else 'FAIL'); sys.stdout.flush()
sys.exit(1 if bad else 0)
