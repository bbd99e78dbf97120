#!/usr/bin/env python3
"""Markdown tables from one GPU call's reports (tools/gpu-run.sh's $OUT, or a folder under docs/measurements):
the GPU tests, ResNet step benchmarks with PyTorch on the same card, the BNS loss, the per-op convolution and
wgmma A/Bs, and the pipeline runs. For the README's performance section: every number comes with the file it
was read from, so what is pasted is what ran.

    python3 tools/report_tables.py OUT_DIR [--card "NVIDIA H200"] [--date 2026-11-26]

Reads only the standard library's json; missing or cut files are skipped with a note, never a traceback.
"""
import argparse, glob, json, os, re, statistics, sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except Exception:
        return None


def fmt(v, spec=",.0f"):
    if v is None:
        return "-"
    try:
        return format(v, spec)
    except (TypeError, ValueError):
        return str(v)


def tests(out):
    logs = sorted(glob.glob(os.path.join(out, "test_*.log")) + glob.glob(os.path.join(out, "tests", "test_*.log")))
    if not logs:
        return ["(no test logs)"]
    passed, failed = [], []
    for f in logs:
        name = os.path.basename(f)[len("test_"):-len(".log")]
        text = open(f, errors="replace").read()
        (passed if "test result: ok" in text else failed).append(name)
    rows = [f"{len(passed)} of {len(logs)} GPU tests passed."]
    rows += [f"- failed: `{n}`" for n in failed]
    return rows


def torch_reports(out):
    """PyTorch side-by-side reports (tools/pytorch_reference.py prints one JSON object), by engine report name."""
    by_engine = {}
    for f in sorted(glob.glob(os.path.join(out, "torch_*.log"))):
        r = load(f)
        if isinstance(r, dict) and r.get("engine_report"):
            by_engine.setdefault(os.path.basename(r["engine_report"]), []).append(r)
    return by_engine


def resnet(out, torch):
    rows = ["| report | arch | precision | conv kernels asked | fused BN | switches | img/s | step ms | conv TFLOP/s | PyTorch img/s (same card) | ratio |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for f in sorted(glob.glob(os.path.join(out, "*.json"))):
        r = load(f)
        if not (isinstance(r, dict) and r.get("bench") == "resnet_step"):
            continue
        base = os.path.basename(f)
        ts = torch.get(base, [])
        tcell = "; ".join(f"{t.get('impl', '?')}: {fmt(t.get('images_per_s'))}" for t in ts) or "-"
        ratio = "; ".join(fmt(t.get("speedup_vs_pytorch"), ".2f") + "×" for t in ts) or "-"
        rows.append(f"| `{base}` | {r.get('arch')} | {r.get('precision')} | {r.get('conv_tc') or '-'} | "
                    f"{'yes' if r.get('fused_bn') else 'no'} | "
                    f"{' '.join(f'{k}={v}' for k, v in (r.get('switches') or [])) or '-'} | {fmt(r.get('images_per_s'))} | "
                    f"{fmt((r.get('step') or {}).get('median_ms'), '.1f')} | {fmt(r.get('conv_tflops'), '.1f')} | {tcell} | {ratio} |")
    return rows if len(rows) > 2 else ["(no ResNet step reports)"]


def step_split(out):
    """Where each ResNet step's profiled time goes: convolution forwards, grad-inputs, grad-weights (the
    backward parts `bench resnet` times apart since 2026-11-28; "-" in older reports), the rest of the
    convolutions' backward (operand casts, weight transposes), the batch-norm tails, everything else."""
    rows = ["| report | conv fwd ms | conv gx ms | conv gw ms | conv bwd other ms | BN tails ms | rest ms | profiled ms |",
            "|---|---|---|---|---|---|---|---|"]
    for f in sorted(glob.glob(os.path.join(out, "*.json"))):
        r = load(f)
        if not (isinstance(r, dict) and r.get("bench") == "resnet_step"):
            continue
        ops = r.get("ops") or []
        conv = [o for o in ops if str(o.get("op", "")).startswith("conv")]
        tails = [o for o in ops if o.get("op") in ("bn_relu", "bn_add_relu", "batchnorm", "bn_stats", "fused", "relu", "add")]
        fwd = sum(o.get("fwd_ms") or 0 for o in conv)
        bwd = sum(o.get("bwd_ms") or 0 for o in conv)
        split = all(o.get("gw_ms") is not None for o in conv) and conv
        gx = sum(o.get("gx_ms") or 0 for o in conv) if split else None
        gw = sum(o.get("gw_ms") or 0 for o in conv) if split else None
        other = bwd - gx - gw if split else None
        tl = sum((o.get("fwd_ms") or 0) + (o.get("bwd_ms") or 0) for o in tails)
        tot = r.get("profiled_step_ms") or 0
        rest = tot - fwd - bwd - tl
        rows.append(f"| `{os.path.basename(f)}` | {fmt(fwd, '.2f')} | {fmt(gx, '.2f')} | {fmt(gw, '.2f')} | "
                    f"{fmt(other, '.2f')} | {fmt(tl, '.2f')} | {fmt(rest, '.2f')} | {fmt(tot, '.2f')} |")
    return rows if len(rows) > 2 else ["(no ResNet step reports)"]


def ab(out):
    """Each ResNet step report against the default run of its arch and precision in the same call (the
    `r18_<precision>.json` / `r32_<precision>.json` of gpu-run.sh's defaults, no switches): the img/s ratio,
    fastest first, so the call's candidates for the next defaults stand at the top. The old engine's
    `*_baseline` runs are left out (they differ in more than a switch)."""
    steps = {}
    for f in sorted(glob.glob(os.path.join(out, "*.json"))):
        r = load(f)
        if isinstance(r, dict) and r.get("bench") == "resnet_step" and r.get("images_per_s"):
            steps[os.path.basename(f)] = r
    defaults = {}
    for name, r in steps.items():
        if re.fullmatch(r"r(18|32)_(bf16|tf32|fp32)\.json", name) and not r.get("switches"):
            defaults[(r.get("arch"), r.get("precision"))] = (name, r)
    rows = []
    for name, r in steps.items():
        d = defaults.get((r.get("arch"), r.get("precision")))
        if not d or d[0] == name or "baseline" in name:
            continue
        ratio = r["images_per_s"] / d[1]["images_per_s"]
        sw = " ".join(f"{k}={v}" for k, v in (r.get("switches") or [])) or "-"
        rows.append((ratio, f"| `{name}` | `{d[0]}` | {sw} | {fmt(r['images_per_s'])} | "
                            f"{fmt(d[1]['images_per_s'])} | {ratio:.3f}× |"))
    if not rows:
        return ["(no A/B pairs)"]
    head = ["| report | default run | switches | img/s | default img/s | ratio |", "|---|---|---|---|---|---|"]
    return head + [r for _, r in sorted(rows, key=lambda t: -t[0])]


def lines_table(reports, what):
    rows = [f"| {what} | bench | version | what ran | median ms | TFLOP/s | rel err | ok |", "|---|---|---|---|---|---|---|---|"]
    for name, rep in reports:
        for l in rep.get("lines", []):
            t = l.get("timing") or {}
            rows.append(f"| `{name}` | {rep.get('bench')} | {l.get('version')} | {l.get('description', '')} | "
                        f"{fmt(t.get('median_ms'), '.3f')} | {fmt(l.get('tflops'), '.1f')} | {fmt(l.get('rel_err'), '.1e')} | "
                        f"{'yes' if l.get('correct') else 'NO'} |")
    return rows if len(rows) > 2 else ["(none)"]


def reports(out, pattern):
    got = []
    for f in sorted(glob.glob(os.path.join(out, pattern))):
        r = load(f)
        for rep in (r if isinstance(r, list) else [r]):
            if isinstance(rep, dict) and "lines" in rep:
                got.append((os.path.basename(f), rep))
    return got


def bns_torch(out):
    rows = []
    for f in sorted(glob.glob(os.path.join(out, "torch_bns_*.log"))):
        r = load(f)
        if isinstance(r, dict):
            t = (r.get("timing") or {}).get("median_ms")
            rows.append(f"- PyTorch `{os.path.basename(f)}`: {r.get('impl', '?')} {fmt(t, '.3f')} ms"
                        + (f", engine best / PyTorch: {fmt(r.get('speedup_vs_pytorch'), '.2f')}×" if r.get("speedup_vs_pytorch") else ""))
    return rows


def pipelines(out):
    rows = []
    for m in sorted(glob.glob(os.path.join(out, "**", "metrics.jsonl"), recursive=True)):
        d = os.path.dirname(m)
        epochs = []
        for line in open(m, errors="replace"):
            try:
                e = json.loads(line)
            except Exception:
                continue
            if e.get("stage") == "stage1" and "seconds" in e and "epoch" in e:
                epochs.append(e)
        res = load(os.path.join(d, "results.json")) or {}
        fin, probe = res.get("final") or {}, res.get("probe") or {}
        cfg = load(os.path.join(d, "config.json")) or {}
        line = f"- `{os.path.relpath(d, out)}`: {res.get('arch', cfg.get('arch', '?'))}, preset {res.get('preset', '?')}"
        if epochs:
            secs = [e["seconds"] for e in epochs]
            line += (f"; stage 1: {len(epochs)} epochs, median {statistics.median(secs):.3f} s per epoch "
                     f"({statistics.median(e.get('images_per_s', 0) for e in epochs):,.0f} img/s)")
        sec = res.get("seconds")
        if isinstance(sec, dict):
            line += "; seconds " + ", ".join(f"{k} {fmt(v, '.1f')}" for k, v in sec.items())
        elif sec is not None:
            line += f"; {fmt(sec, '.0f')} s in all"
        if fin:
            line += (f"; final overall {fmt(fin.get('overall'), '.2f')} (many {fmt(fin.get('many'), '.1f')}, "
                     f"medium {fmt(fin.get('medium'), '.1f')}, few {fmt(fin.get('few'), '.1f')})")
        if probe:
            line += f"; probe overall {fmt(probe.get('overall'), '.2f')}"
        if res.get("stage") not in (None, "done"):
            line += f" (stopped in {res.get('stage')})"
        rows.append(line)
    return rows or ["(no pipeline runs)"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--card", default=None)
    ap.add_argument("--date", default=None)
    a = ap.parse_args()
    if not os.path.isdir(a.out):
        print(f"report_tables: {a.out} is not a folder of GPU reports", file=sys.stderr)
        return 2
    torch = torch_reports(a.out)
    caption = " · ".join(x for x in [a.card, a.date] if x)
    print(f"## GPU reports{': ' + caption if caption else ''} ({a.out})\n")
    for title, rows in [("Tests", tests(a.out)), ("ResNet training step", resnet(a.out, torch)),
                        ("Where the step goes", step_split(a.out)),
                        ("Against the defaults of the call", ab(a.out)),
                        ("BNS loss", lines_table(reports(a.out, "bench_bns_*.json"), "report") + bns_torch(a.out)),
                        ("Convolutions, per op", lines_table(reports(a.out, "conv_*.json"), "report")),
                        ("wgmma probe", lines_table(reports(a.out, "wgmma_*.json"), "report")),
                        ("DPP kernel matrix", lines_table(reports(a.out, "bench_dpp_*.json"), "report")),
                        ("Pipeline", pipelines(a.out))]:
        print(f"### {title}\n")
        print("\n".join(rows))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
