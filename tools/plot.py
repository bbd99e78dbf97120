#!/usr/bin/env python3
"""Charts of an ipdpp run: runs/<name>/{metrics.jsonl,results.json} -> PNG files.

    python3 tools/plot.py runs/demo            # writes runs/demo/loss.png and runs/demo/per_class.png
    python3 tools/plot.py runs/demo --out DIR

loss.png: the loss per epoch of stage 1 (BNS), the linear probe and stage 2 (cross-entropy), one panel each,
with the IP-DPP re-selections marked. per_class.png: per-class test accuracy against the class's training
size (log scale), linear probe vs final model, with the many/medium/few thresholds.
Needs matplotlib (pip install matplotlib); nothing else.
"""
import argparse
import json
import os
import sys


def load(run):
    mpath = os.path.join(run, "metrics.jsonl")
    rpath = os.path.join(run, "results.json")
    if not os.path.isfile(mpath):
        sys.exit(f"error: {mpath} not found; pass the folder of a run (runs/<name>)")
    metrics = []
    with open(mpath) as f:
        for i, line in enumerate(f, 1):
            line = line.strip()
            if line:
                try:
                    metrics.append(json.loads(line))
                except json.JSONDecodeError as e:
                    sys.exit(f"error: {mpath} line {i} is not JSON ({e})")
    results = None
    if os.path.isfile(rpath):
        with open(rpath) as f:
            results = json.load(f)
    return metrics, results


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="runs/<name>")
    ap.add_argument("--out", help="output folder (default: the run folder)")
    a = ap.parse_args()
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("error: matplotlib is not installed; install it with `pip install matplotlib` and run again")
    metrics, results = load(a.run)
    out = a.out or a.run
    os.makedirs(out, exist_ok=True)

    stages = [("stage1", "stage 1 (BNS loss)"), ("probe", "linear probe (CE)"), ("stage2", "stage 2 (CE)")]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, (st, title) in zip(axes, stages):
        rows = [m for m in metrics if m.get("stage") == st and "event" not in m]
        if rows:
            ax.plot([m["epoch"] for m in rows], [m["loss"] for m in rows], marker="o", ms=3)
        if st == "stage2":
            for m in metrics:
                if m.get("event") == "select":
                    ax.axvline(m["epoch"] + 0.5, color="grey", ls=":", lw=1)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("loss")
    fig.tight_layout()
    p = os.path.join(out, "loss.png")
    fig.savefig(p, dpi=120)
    print(p)

    if results and (results.get("probe") or results.get("final")):
        fig, ax = plt.subplots(figsize=(6.5, 4.2))
        for key, label, mk in [("probe", "stage 1 + linear probe", "o"), ("final", "final (IP-DPP)", "s")]:
            acc = results.get(key)
            if acc:
                ax.scatter(acc["train_counts"], acc["per_class"], label=f"{label}: {acc['overall']:.1f} %", marker=mk)
        acc = results.get("final") or results.get("probe")
        sp = acc["split"]
        ax.axvline(sp["many_above"], color="grey", ls="--", lw=1)
        ax.axvline(sp["few_below"], color="grey", ls="--", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel("training images of the class")
        ax.set_ylabel("test accuracy of the class (%)")
        ax.set_ylim(-2, 102)
        ax.legend()
        ax.grid(alpha=0.3)
        ax.set_title(results.get("name", ""))
        fig.tight_layout()
        p = os.path.join(out, "per_class.png")
        fig.savefig(p, dpi=120)
        print(p)


if __name__ == "__main__":
    main()
