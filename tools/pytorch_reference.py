#!/usr/bin/env python3
"""PyTorch side-by-side reference for `ipdpp bench ...` (runs on the GPU machine: PyTorch 2.11, CUDA, numpy).

Times the same workload as the engine's benchmark in PyTorch eager mode and prints one JSON object. Given the
engine's JSON report (`ipdpp bench bns --json --out engine.json`), it also prints the ratio per version, so one
device call shows both:

    ipdpp bench bns --n 8192 --dim 128 --loss code --out engine.json
    python3 tools/pytorch_reference.py --what bns --n 8192 --dim 128 --loss code --engine-report engine.json

Workloads (`--what`): `bns` (the BNS loss, forward + backward, both forms of METHOD.md). Add a new workload by
writing `run_<name>(args) -> dict` and registering it in WORKLOADS (e.g. a ResNet training step).
Conventions match the engine's bench: N counts embeddings (2 x images); the paper form uses groups of m+1
images (N/2 rounded down to a multiple of m+1), anchor = first image of each group; labels: 10 classes,
long-tailed (imbalance 100), per image (code form) or per group (paper form). Timing: CUDA events around
each step after warm-up, median / min / max of the repeats.
"""
import argparse
import json
import sys
import time


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--what", default="bns", help="workload: " + ", ".join(sorted(WORKLOADS)))
    p.add_argument("--n", type=int, default=8192, help="embeddings (2 x images)")
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--loss", choices=["paper", "code"], default="paper")
    p.add_argument("--tau", type=float, default=0.5)
    p.add_argument("--m", type=int, default=6, help="extra same-class positives per anchor (paper form)")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                   help="fp32 storage (matmul TF32 off unless --tf32) or bf16 autocast")
    p.add_argument("--tf32", action="store_true", help="allow TF32 matmuls")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--device", default="cuda")
    p.add_argument("--engine-report", default=None,
                   help="the engine's JSON report of the same shape: print the ratio per version")
    return p.parse_args(argv)


def long_tailed_labels(torch, count, gen):
    w = torch.tensor([100.0 ** (-c / 9.0) for c in range(10)], dtype=torch.float64)
    return torch.multinomial(w / w.sum(), count, replacement=True, generator=gen)


def bns_code_loss(torch, F, z1, z2, labels, tau):
    """Official-code form: pos = mean over same label (other view included), neg = sum over others / N."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    lab = torch.cat([labels, labels])
    n = z.shape[0]
    s = z @ z.t() / tau
    same = lab[:, None] == lab[None, :]
    eye = torch.eye(n, dtype=torch.bool, device=z.device)
    pos_mask = (same & ~eye).to(s.dtype)
    neg_mask = (~same).to(s.dtype)
    e = torch.exp(s)
    pos = (e * pos_mask).sum(1) / pos_mask.sum(1).clamp(min=1)
    neg = (e * neg_mask).sum(1) / n
    return -(F.logsigmoid(pos) + F.logsigmoid(-neg)).mean()


def bns_paper_loss(torch, F, q, v, labels, row_q, row_a, tau):
    """Paper Eq. 12: rows (q, anchor); loss = mean over anchors of 1/(m+1) sum over its m+1 rows."""
    qn = F.normalize(q, dim=1)
    vn = F.normalize(v, dim=1)
    s = qn[row_q] @ vn.t() / tau
    neg_mask = (labels[None, :] != labels[row_a][:, None]).to(s.dtype)
    pos = s[torch.arange(s.shape[0], device=s.device), row_a]
    per_row = -F.logsigmoid(pos) - (F.logsigmoid(-s) * neg_mask).sum(1)
    return per_row.sum() / s.shape[0]


def time_steps(torch, step, warmup, repeats, cuda):
    for _ in range(warmup):
        step()
    ms = []
    if cuda:
        torch.cuda.synchronize()
        for _ in range(repeats):
            a = torch.cuda.Event(enable_timing=True)
            b = torch.cuda.Event(enable_timing=True)
            a.record()
            step()
            b.record()
            b.synchronize()
            ms.append(a.elapsed_time(b))
    else:
        for _ in range(repeats):
            t = time.perf_counter()
            step()
            ms.append((time.perf_counter() - t) * 1e3)
    ms.sort()
    k = len(ms)
    med = ms[k // 2] if k % 2 else 0.5 * (ms[k // 2 - 1] + ms[k // 2])
    return {"median_ms": med, "min_ms": ms[0], "max_ms": ms[-1], "repeats": k}


def run_bns(args):
    import torch
    import torch.nn.functional as F

    cuda = args.device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        raise SystemExit("error: CUDA is not available to PyTorch; pass --device cpu")
    dev = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = bool(args.tf32)
    gen = torch.Generator().manual_seed(args.seed)
    if args.loss == "code":
        b = args.n // 2
        labels = long_tailed_labels(torch, b, gen)
        row_q = row_a = None
    else:
        g = args.m + 1
        b = (args.n // 2) // g * g
        if b == 0:
            raise SystemExit(f"error: --n {args.n} is too small for groups of m+1 = {g}")
        labels = long_tailed_labels(torch, b // g, gen).repeat_interleave(g)
        anchors = torch.arange(0, b, g)
        row_q = torch.arange(b)  # rows grouped by anchor: the anchor itself, then its m group mates
        row_a = anchors.repeat_interleave(g)
        row_q, row_a = row_q.to(dev), row_a.to(dev)
    z1 = (torch.rand(b, args.dim, generator=gen) * 2 - 1).to(dev).requires_grad_(True)
    z2 = (torch.rand(b, args.dim, generator=gen) * 2 - 1).to(dev).requires_grad_(True)
    labels = labels.to(dev)

    def loss_fn():
        if args.loss == "code":
            return bns_code_loss(torch, F, z1, z2, labels, args.tau)
        return bns_paper_loss(torch, F, z1, z2, labels, row_q, row_a, args.tau)

    def step():
        z1.grad = None
        z2.grad = None
        if args.precision == "bf16":
            with torch.autocast(device_type=dev.type, dtype=torch.bfloat16):
                loss = loss_fn()
        else:
            loss = loss_fn()
        loss.backward()
        return loss

    loss = step()
    timing = time_steps(torch, step, args.warmup, args.repeats, cuda)
    n_rows = b if args.loss == "paper" else 2 * b
    n_cols = b if args.loss == "paper" else 2 * b
    flops = 3.0 * 2.0 * n_rows * n_cols * args.dim
    return {
        "what": "bns",
        "impl": f"pytorch eager {args.precision}" + (" tf32" if args.tf32 else ""),
        "form": args.loss,
        "n": 2 * b,
        "images": b,
        "dim": args.dim,
        "tau": args.tau,
        "m": args.m if args.loss == "paper" else None,
        "loss": float(loss.detach().float().cpu()),
        "timing": timing,
        "tflops": flops / (timing["median_ms"] * 1e-3) / 1e12,
        "device": torch.cuda.get_device_name(dev) if cuda else "cpu",
        "torch": torch.__version__,
    }


WORKLOADS = {"bns": run_bns}


def ratios(result, report_path):
    """Speed-up of every engine version over PyTorch: torch median / engine median."""
    with open(report_path) as f:
        rep = json.load(f)
    out = []
    for line in rep.get("lines", []):
        t = line.get("timing")
        if not t:
            continue
        out.append({
            "version": line["version"],
            "engine_median_ms": t["median_ms"],
            "speedup_vs_pytorch": result["timing"]["median_ms"] / t["median_ms"],
            "engine_correct": line.get("correct"),
        })
    return {"engine_report": report_path, "engine_device": rep.get("device"), "engine_shape": rep.get("shape"),
            "ratios": out}


def main(argv=None):
    args = parse_args(argv)
    if args.what not in WORKLOADS:
        print(f"error: unknown --what {args.what!r}; use one of {sorted(WORKLOADS)}", file=sys.stderr)
        return 2
    result = WORKLOADS[args.what](args)
    if args.engine_report:
        result.update(ratios(result, args.engine_report))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
