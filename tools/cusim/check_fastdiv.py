#!/usr/bin/env python3
"""kernels/fastdiv.cuh through cusim: FastDiv(d).div(n) against n // d for divisors 1 .. 600, powers of two and
their neighbours, and large ones up to 2^31 - 1, at the boundary values of n (multiples of d and their
neighbours, 2^31 - 1) and at random n below 2^31. The loaders of conv_tc6.cu and conv_wgmma.cu divide by
tensor dimensions with it, so an error here is a wrong gather there.

    python3 tools/cusim/check_fastdiv.py      # exit 1 on a mismatch
"""
import os
import sys
import tempfile

import numpy as np

import cusim

PROBE = r'''
#include "%s"
extern "C" __global__ void fastdiv_probe(int* q, const int* n, int count, int d) {
    const FastDiv f(d);
    for (int i = threadIdx.x; i < count; i += blockDim.x) q[i] = f.div(n[i]);
}
'''


def main():
    rng = np.random.default_rng(11)
    top = 2**31 - 1
    divisors = list(range(1, 601)) + [2**k + e for k in range(10, 31) for e in (-1, 0, 1)] + [top]
    divisors += [int(v) for v in rng.integers(1, top, 200)]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "fastdiv_probe.cu")
        open(path, "w").write(PROBE % os.path.join(cusim.ROOT, "kernels", "fastdiv.cuh"))
        mod = cusim.Module(path)
        job, cases = mod.job(), []
        for d in divisors:
            ns = [0, 1, d - 1, d, d + 1, 2 * d - 1, 2 * d, top - 1, top] + [int(v) for v in rng.integers(0, top, 64)]
            ns += [m * d + e for m in (int(v) for v in rng.integers(0, top // d + 1, 16)) for e in (-1, 0, 1)]
            n = np.array(sorted({v for v in ns if 0 <= v <= top}), np.int32)
            q = job.buf(np.full(n.size, -1, np.int32))
            job.launch("fastdiv_probe", grid=1, block=64, args=[q, job.buf(n), int(n.size), d])
            cases.append((d, n, q))
        res = job.run()
    bad = [(d, int(v), int(g)) for d, n, q in cases for v, g in zip(n, res[q]) if g != v // d]
    for d, v, g in bad[:10]:
        print(f"FAIL {v} / {d}: got {g}, want {v // d}")
    total = sum(n.size for _, n, _ in cases)
    print(f"{total} quotients over {len(cases)} divisors: " + ("all ok" if not bad else f"{len(bad)} wrong"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
