#!/usr/bin/env python3
"""PyTorch side-by-side reference for `ipdpp bench ...` (runs on the GPU machine: PyTorch 2.11, CUDA, numpy).

Times the same workload as the engine's benchmark in PyTorch eager mode and prints one JSON object. Given the
engine's JSON report (`ipdpp bench bns --json --out engine.json`), it also prints the ratio per version, so one
device call shows both:

    ipdpp bench bns --n 8192 --dim 128 --loss code --out engine.json
    python3 tools/pytorch_reference.py --what bns --n 8192 --dim 128 --loss code --engine-report engine.json

Workloads (`--what`): `bns` (the BNS loss, forward + backward, both forms of METHOD.md), `resnet` (one whole
BNS training step, the same workload as `ipdpp bench resnet`) and `conv` (cuDNN's forward, grad-input and
grad-weight at the shapes of `ipdpp bench conv --shape`, `--shapes "N,H,W,C,O,K,S,P;..."`; with
`--engine-report DIR` the ratio to each engine version from DIR/conv_<precision>_<shape>.json). Add a new workload by writing
`run_<name>(args) -> dict` and registering it in WORKLOADS (and, for its own comparison, in COMPARE).

The ResNet step: ResNet-18/34 (CIFAR stem, 1x1-conv + BN shortcuts) or ResNet-32 (option-A shortcuts) with the
projector (512-2048-128, 64-512-128 for ResNet-32), PyTorch's default initialisation, channels_last; both views
forwarded separately (batch-norm statistics per view, as the official code does); the official-code BNS loss
(or the paper form with --loss paper); backward; AdamW (lr 1e-3, betas 0.9/0.95, weight decay 0.05, none on 1-D
parameters). Precision: `--precision fp32` is PyTorch's default "fp32" (fp32 storage, cuDNN TF32 convolutions;
matmuls TF32 only with --tf32), `--precision bf16` is bf16 autocast; `--compile` wraps the model in
torch.compile (1-2 minutes of warm-up: one model per call). images/s counts every view (2 x batch per step):

    ipdpp bench resnet --arch resnet18 --batch 1024 --precision bf16 --out engine.json
    python3 tools/pytorch_reference.py --what resnet --arch resnet18 --batch 1024 --precision bf16 --compile \
        --engine-report engine.json
Conventions match the engine's bench: N counts embeddings (2 x images); the paper form uses groups of m+1
images (N/2 rounded down to a multiple of m+1), anchor = first image of each group; labels: 10 classes,
long-tailed (imbalance 100), per image (code form) or per group (paper form). Timing: CUDA events around
each step after warm-up, median / min / max of the repeats.
"""
import argparse
import json
import os
import sys
import time


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--what", default="bns", help="workload: " + ", ".join(sorted(WORKLOADS)))
    p.add_argument("--n", type=int, default=8192, help="embeddings (2 x images)")
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--loss", choices=["paper", "code"], default=None,
                   help="BNS form (default: paper for --what bns, code for --what resnet)")
    p.add_argument("--tau", type=float, default=0.5)
    p.add_argument("--m", type=int, default=6, help="extra same-class positives per anchor (paper form)")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                   help="fp32 storage (matmul TF32 off unless --tf32) or bf16 autocast")
    p.add_argument("--tf32", action="store_true", help="allow TF32 matmuls")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--device", default="cuda")
    p.add_argument("--arch", default="resnet18", choices=["resnet18", "resnet34", "resnet32", "resnet20", "resnet8"],
                   help="ResNet step: the encoder")
    p.add_argument("--batch", type=int, default=1024, help="ResNet step: images per view (2 x batch per step)")
    p.add_argument("--compile", action="store_true", help="ResNet step: torch.compile the model")
    p.add_argument("--shapes", default="512,32,32,64,64,3,1,1",
                   help="conv: N,H,W,C,O,K,S,P shapes (NHWC in, O out, KxK kernel, stride S, pad P), ';'-separated")
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


def build_resnet(torch, nn, arch, proj_dim):
    """The engine's networks (src/nn/resnet.rs), with PyTorch's default initialisation."""
    F = torch.nn.functional

    class Basic(nn.Module):
        def __init__(self, cin, cout, stride, option_a):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.option_a = None
            self.shortcut = nn.Sequential()
            if stride != 1 or cin != cout:
                if option_a:
                    self.option_a = (cout - cin) // 2
                else:
                    self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            if self.option_a is not None:
                p = self.option_a
                sc = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, p, p))
            else:
                sc = self.shortcut(x)
            return F.relu(out + sc)

    cifar = arch in ("resnet8", "resnet20", "resnet32")
    stem, stages = {
        "resnet18": (64, [(64, 2, 1), (128, 2, 2), (256, 2, 2), (512, 2, 2)]),
        "resnet34": (64, [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]),
        "resnet8": (16, [(16, 1, 1), (32, 1, 2), (64, 1, 2)]),
        "resnet20": (16, [(16, 3, 1), (32, 3, 2), (64, 3, 2)]),
        "resnet32": (16, [(16, 5, 1), (32, 5, 2), (64, 5, 2)]),
    }[arch]

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, stem, 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(stem)
            blocks, c = [], stem
            for cout, n, stride in stages:
                for i in range(n):
                    blocks.append(Basic(c, cout, stride if i == 0 else 1, cifar))
                    c = cout
            self.blocks = nn.Sequential(*blocks)
            hidden = 512 if cifar else 2048
            self.proj = nn.Sequential(nn.Linear(c, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, proj_dim))

        def forward(self, x):
            x = F.relu(self.bn1(self.conv1(x)))
            x = self.blocks(x)
            x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
            return self.proj(x)

    return Net()


def resnet_flops_per_image(arch):
    """Nominal FLOPs of forward + backward per image (convolutions and linears), as the engine counts them."""
    import math
    cifar = arch in ("resnet8", "resnet20", "resnet32")
    stem, stages = {
        "resnet18": (64, [(64, 2, 1), (128, 2, 2), (256, 2, 2), (512, 2, 2)]),
        "resnet34": (64, [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]),
        "resnet8": (16, [(16, 1, 1), (32, 1, 2), (64, 1, 2)]),
        "resnet20": (16, [(16, 3, 1), (32, 3, 2), (64, 3, 2)]),
        "resnet32": (16, [(16, 5, 1), (32, 5, 2), (64, 5, 2)]),
    }[arch]
    hw, c = 32, stem
    f_stem = 2.0 * hw * hw * stem * 27
    rest = 0.0
    for cout, n, stride in stages:
        for i in range(n):
            s = stride if i == 0 else 1
            o = math.ceil(hw / s)
            rest += 2.0 * o * o * cout * 9 * c + 2.0 * o * o * cout * 9 * cout
            if (s != 1 or c != cout) and not cifar:
                rest += 2.0 * o * o * cout * c
            hw, c = o, cout
    hidden = 512 if cifar else 2048
    rest += 2.0 * c * hidden + 2.0 * hidden * 128
    return 2.0 * f_stem + 3.0 * rest


def run_resnet(args):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    cuda = args.device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        raise SystemExit("error: CUDA is not available to PyTorch; pass --device cpu")
    if args.batch < 2:
        raise SystemExit("error: --batch must be at least 2 images per view")
    dev = torch.device(args.device)
    # PyTorch's defaults: cuDNN convolutions in TF32, matmuls in exact fp32 unless --tf32.
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cuda.matmul.allow_tf32 = bool(args.tf32)
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    model = build_resnet(torch, nn, args.arch, args.dim).to(dev).to(memory_format=torch.channels_last)
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.95), eps=1e-8)
    fwd = torch.compile(model) if args.compile else model
    b = args.batch
    x1 = torch.rand(b, 3, 32, 32, generator=gen).to(dev).to(memory_format=torch.channels_last)
    x2 = torch.rand(b, 3, 32, 32, generator=gen).to(dev).to(memory_format=torch.channels_last)
    if args.loss == "code":
        labels = long_tailed_labels(torch, b, gen).to(dev)
        row_q = row_a = None
    else:
        g = args.m + 1
        if b % g:
            raise SystemExit(f"error: --loss paper needs --batch a multiple of m+1 = {g}")
        labels = long_tailed_labels(torch, b // g, gen).repeat_interleave(g).to(dev)
        row_q = torch.arange(b, device=dev)
        row_a = torch.arange(0, b, g, device=dev).repeat_interleave(g)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=args.precision == "bf16"):
            z1 = fwd(x1)  # the two views separately: batch-norm statistics per view
            z2 = fwd(x2)
        z1, z2 = z1.float(), z2.float()
        if args.loss == "code":
            loss = bns_code_loss(torch, F, z1, z2, labels, args.tau)
        else:
            loss = bns_paper_loss(torch, F, z1, z2, labels, row_q, row_a, args.tau)
        loss.backward()
        opt.step()
        return loss

    t0 = time.perf_counter()
    loss_first = float(step().detach())
    first_s = time.perf_counter() - t0
    loss_holder = [None]

    def timed():
        loss_holder[0] = step()

    timing = time_steps(torch, timed, args.warmup, args.repeats, cuda)
    n_img = 2 * b
    flops = resnet_flops_per_image(args.arch) * n_img + 3.0 * 2.0 * n_img * n_img * args.dim
    impl = ("torch.compile " if args.compile else "pytorch eager ") + args.precision
    if args.precision == "fp32":
        impl += " (cuDNN TF32 convolutions" + (", TF32 matmuls)" if args.tf32 else ")")
    else:
        impl += " autocast"
    return {
        "what": "resnet",
        "impl": impl,
        "arch": args.arch,
        "batch": b,
        "images_per_step": n_img,
        "precision": args.precision,
        "compile": bool(args.compile),
        "loss_form": args.loss,
        "channels_last": True,
        "params": sum(p.numel() for p in model.parameters()),
        "loss_first": loss_first,
        "loss_last": float(loss_holder[0].detach()),
        "first_step_s": first_s,
        "timing": timing,
        "images_per_s": n_img / (timing["median_ms"] * 1e-3),
        "images_per_s_best": n_img / (timing["min_ms"] * 1e-3),
        "flops_per_step": flops,
        "tflops": flops / (timing["median_ms"] * 1e-3) / 1e12,
        "device": torch.cuda.get_device_name(dev) if cuda else "cpu",
        "torch": torch.__version__,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
    }


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


def ratios_resnet(result, report_path):
    """Engine images/s over PyTorch images/s (> 1: the engine is faster), from `ipdpp bench resnet --out`."""
    with open(report_path) as f:
        rep = json.load(f)
    same = (rep.get("arch") == result["arch"] and rep.get("batch") == result["batch"])
    eng = rep.get("images_per_s")
    return {
        "engine_report": report_path,
        "engine_device": rep.get("device"),
        "engine_precision": rep.get("precision"),
        "engine_images_per_s": eng,
        "engine_step_median_ms": (rep.get("step") or {}).get("median_ms"),
        "engine_loss_first": rep.get("loss_first"),
        "same_arch_and_batch": same,
        "speedup_vs_pytorch": (eng / result["images_per_s"]) if eng else None,
    }


def run_conv(args):
    """cuDNN (through PyTorch, channels_last) per op at each shape: forward, grad-input, grad-weight, timed
    apart like `ipdpp bench conv`; TFLOP/s of the same useful work (2 M N K of each implicit GEMM)."""
    import torch
    cuda = args.device.startswith("cuda")
    torch.backends.cudnn.benchmark = True  # as the ResNet step: cuDNN times its algorithms per shape
    if args.precision == "fp32":
        torch.backends.cudnn.allow_tf32 = args.tf32
    dt = torch.bfloat16 if args.precision == "bf16" else torch.float32
    gen = torch.Generator(device=args.device).manual_seed(args.seed)
    out = []
    for text in args.shapes.split(";"):
        n, h, w, c, o, k, st, pad = (int(v) for v in text.split(","))
        x = torch.randn(n, c, h, w, device=args.device, generator=gen).to(dt).contiguous(
            memory_format=torch.channels_last)
        wt = (torch.randn(o, c, k, k, device=args.device, generator=gen) / (k * k * c) ** 0.5).to(dt).contiguous(
            memory_format=torch.channels_last)
        y = torch.nn.functional.conv2d(x, wt, stride=st, padding=pad)
        gy = torch.randn(y.shape, device=args.device, generator=gen).to(dt).contiguous(
            memory_format=torch.channels_last)
        oh, ow = y.shape[2], y.shape[3]
        cvb = torch.ops.aten.convolution_backward
        ops = {
            "fwd": lambda: torch.nn.functional.conv2d(x, wt, stride=st, padding=pad),
            "bwd_input": lambda: cvb(gy, x, wt, None, [st, st], [pad, pad], [1, 1], False, [0, 0], 1,
                                     [True, False, False]),
            "bwd_weight": lambda: cvb(gy, x, wt, None, [st, st], [pad, pad], [1, 1], False, [0, 0], 1,
                                      [False, True, False]),
        }
        # Useful work as the engine counts it: forward and grad-weight 2 (n oh ow) o (k k c); the grad-input
        # without the zeros of a strided gather, the same product.
        flops = 2.0 * n * oh * ow * o * k * k * c
        res = {"shape": text, "ops": {}}
        with torch.no_grad():
            for name, f in ops.items():
                t = time_steps(torch, f, args.warmup, args.repeats, cuda)
                t["tflops"] = flops / (t["median_ms"] * 1e-3) / 1e12
                res["ops"][name] = t
        out.append(res)
    return {"what": "conv", "library": "cuDNN " + str(torch.backends.cudnn.version()), "torch": torch.__version__,
            "device": torch.cuda.get_device_name() if cuda else "cpu", "precision": args.precision,
            "layout": "channels_last", "shapes": out}


def ratios_conv(result, report_dir):
    """cuDNN median over engine median per shape, op and version (> 1: the engine is faster), from the
    `ipdpp bench conv --out DIR/conv_<precision>_<shape with x>.json` reports that exist, and v6's per ring
    (DIR/conv_v6_<ring>_<shape>.json, as tools/gpu-run.sh writes them)."""
    import glob
    import os
    rows = []
    for sh in result["shapes"]:
        tag = sh["shape"].replace(",", "x")
        paths = [(os.path.join(report_dir, f"conv_{result['precision']}_{tag}.json"), "")]
        paths += [(p, " " + os.path.basename(p).split("_")[2])
                  for p in sorted(glob.glob(os.path.join(report_dir, f"conv_v6_*_{tag}.json")))]
        for path, ring in paths:
            if not os.path.exists(path):
                continue
            with open(path) as f:
                reps = json.load(f)
            for rep in reps if isinstance(reps, list) else [reps]:
                op = rep.get("bench", "").removeprefix("conv_")
                lib = sh["ops"].get(op)
                for line in rep.get("lines", []) if lib else []:
                    t = line.get("timing")
                    if t and line["version"] != "cast":
                        rows.append({"shape": sh["shape"], "op": op, "version": line["version"] + ring,
                                     "engine_median_ms": t["median_ms"], "cudnn_median_ms": lib["median_ms"],
                                     "speedup_vs_cudnn": lib["median_ms"] / t["median_ms"]})
    return {"engine_reports": report_dir, "ratios": rows}


WORKLOADS = {"bns": run_bns, "resnet": run_resnet, "conv": run_conv}
COMPARE = {"resnet": ratios_resnet, "conv": ratios_conv}


def main(argv=None):
    args = parse_args(argv)
    if args.what not in WORKLOADS:
        print(f"error: unknown --what {args.what!r}; use one of {sorted(WORKLOADS)}", file=sys.stderr)
        return 2
    if args.loss is None:
        args.loss = "code" if args.what == "resnet" else "paper"
    result = WORKLOADS[args.what](args)
    if args.engine_report and not os.path.exists(args.engine_report):
        # The timing above is still worth having (a compiled model costs minutes): no ratio, not a failure.
        result["engine_report_missing"] = args.engine_report
    elif args.engine_report:
        result.update(COMPARE.get(args.what, ratios)(result, args.engine_report))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
