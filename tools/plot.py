#!/usr/bin/env python3
"""Charts of an ipdpp run: runs/<name>/{metrics.jsonl,results.json} -> PNG files.

    python3 tools/plot.py runs/demo            # writes runs/demo/loss.png and runs/demo/per_class.png
    python3 tools/plot.py runs/demo --out DIR  # writes them into DIR instead

loss.png: the training loss per epoch of stage 1 (BNS), the linear probe and stage 2 (cross-entropy), one
panel each, with the IP-DPP selections marked and the test accuracy of the probe and of the final model.
per_class.png: per-class test accuracy against the class's training size (log scale), linear probe vs final
model, with the many / medium / few split that results.json records and each group's mean. The split is the
run's: 10 classes or fewer many > 500, few < 200 training images (the official code's CIFAR-10 rule); more
classes many > 100, few < 20; the demo many > 150, few < 50; --many-above / --few-below override it.

A run that is still going or was cut works too: the stages it has are drawn, the missing ones are named, and
without results.json (or without an evaluation in it) only loss.png is written.
Needs matplotlib (pip install matplotlib); nothing else. --help works without it.
"""
import argparse
import json
import os
import sys

STAGES = [
    ("stage1", "stage 1: BNS loss"),
    ("probe", "linear probe: CE loss"),
    ("stage2", "stage 2 (IP-DPP): CE loss"),
]


STAGE_WORDS = {"stage1": "stage 1", "probe": "the linear probe", "stage2": "stage 2", "eval": "the final evaluation"}


def stage_words(st):
    return STAGE_WORDS.get(st, str(st))


def note(msg):
    print(f"note: {msg}")


def read_metrics(path):
    """metrics.jsonl as a list of dicts; a malformed line (e.g. the last one of a killed run) is skipped."""
    rows = []
    with open(path) as f:
        for i, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                m = json.loads(line)
            except json.JSONDecodeError as e:
                note(f"{path} line {i} is not JSON ({e}); skipped")
                continue
            if isinstance(m, dict):
                rows.append(m)
    return rows


def load(run):
    if not os.path.isdir(run):
        sys.exit(f"error: {run} is not a folder; pass the folder of a run (runs/<name>)")
    mpath = os.path.join(run, "metrics.jsonl")
    if not os.path.isfile(mpath):
        sys.exit(f"error: {mpath} not found; pass the folder of a run (runs/<name>)")
    try:
        metrics = read_metrics(mpath)
    except OSError as e:
        sys.exit(f"error: cannot read {mpath}: {e}")
    results = None
    rpath = os.path.join(run, "results.json")
    if os.path.isfile(rpath):
        try:
            with open(rpath) as f:
                results = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            note(f"{rpath} cannot be read ({e}); no per-class chart")
        if results is not None and not isinstance(results, dict):
            note(f"{rpath} is not a JSON object; no per-class chart")
            results = None
    else:
        note(f"{rpath} not found (the run has not reached the end of the probe); no per-class chart")
    config = None
    cpath = os.path.join(run, "config.json")
    if os.path.isfile(cpath):
        try:
            with open(cpath) as f:
                config = json.load(f)
        except (OSError, json.JSONDecodeError):
            config = None
    return metrics, results, config if isinstance(config, dict) else None


def epoch_rows(metrics, stage):
    """The epoch lines of one stage, the last line of each epoch kept, in epoch order."""
    by_epoch = {}
    for m in metrics:
        if m.get("stage") == stage and "event" not in m and isinstance(m.get("epoch"), int) and _num(m.get("loss")):
            by_epoch[m["epoch"]] = m
    return [by_epoch[e] for e in sorted(by_epoch)]


def _num(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def events(metrics, kind, stage=None):
    return [m for m in metrics if m.get("event") == kind and (stage is None or m.get("stage") == stage)]


def fmt_acc(e):
    """'34.6 % (many 40.7, medium 42.6, few 19.2)' from an eval event or an accuracy object."""
    parts = []
    for g in ("many", "medium", "few"):
        if _num(e.get(g)):
            parts.append(f"{g} {e[g]:.1f}")
    s = f"{e['overall']:.1f} %" if _num(e.get("overall")) else "?"
    return s + (f" ({', '.join(parts)})" if parts else "")


def run_title(name, results, config):
    bits = []
    src = results or config or {}
    arch = src.get("arch")
    if arch:
        bits.append(str(arch).lower().replace("resnet", "ResNet-"))
    imb = src.get("imbalance", (config or {}).get("data", {}).get("imbalance") if config else None)
    if _num(imb):
        bits.append(f"imbalance {imb:g}")
    if config and config.get("precision"):
        bits.append(str(config["precision"]))
    if results and results.get("device"):
        bits.append(str(results["device"]))
    return name + (": " + ", ".join(bits) if bits else "")


def plot_loss(plt, ticker, metrics, results, config, name, out, dpi):
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.1))
    present = []
    for ax, (st, title) in zip(axes, STAGES):
        rows = epoch_rows(metrics, st)
        planned = None
        if rows and isinstance(rows[-1].get("epochs"), int):
            planned = rows[-1]["epochs"]
        elif results and isinstance(results.get("epochs"), dict) and isinstance(results["epochs"].get(st), int):
            planned = results["epochs"][st]
        ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
        ax.grid(alpha=0.3)
        ax.set_xlabel("epoch")
        if not rows:
            ax.set_title(title + ("\n(not reached)" if planned is None else f"\n(0 of {planned} epochs)"), fontsize=10.5)
            ax.set_xlabel("")
            ax.text(0.5, 0.5, "no epoch recorded\n(the run ended before this stage)", ha="center", va="center",
                    transform=ax.transAxes, color="0.4")
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        present.append(st)
        done = rows[-1]["epoch"]
        if planned and done < planned:
            title += f"\n({done} of {planned} epochs: the run ended here)"
        elif planned:
            title += f"\n({planned} epochs)"
        ax.set_title(title, fontsize=10.5)
        xs = [m["epoch"] for m in rows]
        ax.plot(xs, [m["loss"] for m in rows], marker="o", ms=3 if len(rows) < 60 else 2, lw=1.3, color="C0")
        if st == "stage2":
            sel = {}
            for m in events(metrics, "select", "stage2"):
                if isinstance(m.get("epoch"), int):
                    sel[m["epoch"]] = m
            for e in sorted(sel):
                ax.axvline(e + 0.5, color="C2", ls=":", lw=1.3)
            if sel:
                ax.set_xlim(min(min(xs), min(sel) + 0.5) - 0.4, max(max(xs), max(sel) + 0.5) + 0.4)
                m = sel[min(sel)]
                kept = f"\n({m['kept']} of {m['total']} images kept)" if "kept" in m and "total" in m else ""
                ax.text(0.03, 0.03, f"dotted: IP-DPP selection{kept}", ha="left", va="bottom", fontsize=8.5,
                        color="C2", transform=ax.transAxes, bbox=dict(boxstyle="round", fc="white", ec="0.8"))
        for m in events(metrics, "stopped", st):
            if isinstance(m.get("epoch"), int):
                ax.axvline(m["epoch"], color="C3", lw=1.5)
                ax.text(0.5, 0.5, f"stopped in epoch {m['epoch']}:\n{m.get('reason', '')}", ha="center", va="center",
                        fontsize=8.5, color="C3", transform=ax.transAxes,
                        bbox=dict(boxstyle="round", fc="white", ec="C3"))
        # The test accuracy reached at the end of the stage.
        ev = None
        if st == "probe":
            ev = (events(metrics, "eval", "probe") or [None])[-1]
        elif st == "stage2":
            ev = (events(metrics, "eval", "eval") or [None])[-1]
        box = dict(boxstyle="round", fc="white", ec="0.7", alpha=0.9)
        if st in ("probe", "stage2"):
            # Head room for the accuracy box above the curve.
            lo, hi = ax.get_ylim()
            ax.set_ylim(lo, hi + 0.3 * (hi - lo))
        if ev is not None:
            who = "probe" if st == "probe" else "final"
            ax.text(0.97, 0.97, f"{who} test accuracy\n{fmt_acc(ev)}", ha="right", va="top", fontsize=8.5,
                    transform=ax.transAxes, bbox=box)
        elif st in ("probe", "stage2"):
            ax.text(0.97, 0.97, "no test accuracy:\nthe run ended before the evaluation", ha="right", va="top",
                    fontsize=8.5, color="C3", transform=ax.transAxes, bbox=box)
    axes[0].set_ylabel("mean training loss per epoch")
    fig.suptitle(run_title(name, results, config), fontsize=11)
    fig.tight_layout()
    p = os.path.join(out, "loss.png")
    fig.savefig(p, dpi=dpi)
    plt.close(fig)
    print(p)
    missing = [st for st, _ in STAGES if st not in present]
    if missing:
        names = ", ".join(stage_words(st) for st in missing)
        note(f"metrics.jsonl has no epoch line of {names} (the run ended before); "
             f"{'its panel is' if len(missing) == 1 else 'their panels are'} empty")


def valid_acc(a):
    return (isinstance(a, dict) and isinstance(a.get("per_class"), list) and isinstance(a.get("train_counts"), list)
            and len(a["per_class"]) == len(a["train_counts"]) and len(a["per_class"]) > 0)


def plot_per_class(plt, ticker, results, config, name, out, dpi):
    probe, final = results.get("probe"), results.get("final")
    have = [(k, a) for k, a in (("probe", probe), ("final", final)) if valid_acc(a)]
    if not have:
        where = results.get("stage")
        note("results.json holds no evaluation yet"
             + (f" (the run is at or ended in {stage_words(where)})" if where else "") + "; per_class.png not written")
        return
    if not valid_acc(final):
        where = results.get("stage")
        note("results.json has no final evaluation"
             + (f" (the run ended in {stage_words(where)})" if where and where != "done" else "")
             + "; per_class.png shows the linear probe only")
    acc0 = have[-1][1]
    counts = acc0["train_counts"]
    sp = acc0.get("split") or {}
    many_above, few_below = sp.get("many_above"), sp.get("few_below")
    nclass = len(counts)

    fig, ax = plt.subplots(figsize=(8, 5.2))
    ax.set_xscale("log")
    lo = min(c for c in counts if c > 0) if any(c > 0 for c in counts) else 1
    hi = max(max(counts), 1)
    if _num(few_below) and few_below > 0:
        lo = min(lo, few_below)
    if _num(many_above) and many_above > 0:
        hi = max(hi, many_above)
    xlo, xhi = lo / 1.35, hi * 1.35
    ax.set_xlim(xlo, xhi)
    ax.set_ylim(-4, 106)

    # The shot groups: shaded bands with their rule and class counts.
    if _num(many_above) and _num(few_below):
        bands = [
            (xlo, few_below, f"few: < {few_below}", sp.get("few_classes"), "#f3d6d6"),
            (few_below, many_above, f"medium: {few_below}–{many_above}", sp.get("medium_classes"), "#f6ecd0"),
            (many_above, xhi, f"many: > {many_above}", sp.get("many_classes"), "#d8e8d4"),
        ]
        for a, b, lab, n, col in bands:
            if b <= a:
                continue
            ax.axvspan(a, b, color=col, alpha=0.55, lw=0, zorder=0)
            txt = lab + (f" ({n} class{'es' if n != 1 else ''})" if isinstance(n, int) else "")
            xm = (max(a, xlo) * min(b, xhi)) ** 0.5
            # Above the plot area, so that no point hides it.
            ax.text(xm, 1.01, txt, ha="center", va="bottom", fontsize=8.5, color="0.25",
                    transform=ax.get_xaxis_transform())

    styles = {"probe": ("stage 1 + linear probe", "o", "C0"), "final": ("final (IP-DPP stage 2)", "s", "C1")}
    # Probe -> final per class.
    if valid_acc(probe) and valid_acc(final) and len(probe["per_class"]) == len(final["per_class"]):
        for c, p0, p1 in zip(counts, probe["per_class"], final["per_class"]):
            ax.plot([c, c], [p0, p1], color="0.6", lw=0.8, zorder=1)
    for key, acc in have:
        label, mk, col = styles[key]
        ax.scatter(acc["train_counts"], acc["per_class"], marker=mk, color=col, s=36 if nclass <= 20 else 14,
                   zorder=3, label=f"{label}: {fmt_acc(acc)}")
        # Group means as short horizontal segments over each band's classes.
        if _num(many_above) and _num(few_below):
            groups = (("many", lambda n: n > many_above, many_above, xhi),
                      ("medium", lambda n: few_below <= n <= many_above, few_below, many_above),
                      ("few", lambda n: n < few_below, xlo, few_below))
            for g, test, a, b in groups:
                xs = [n for n in acc["train_counts"] if test(n) and n > 0]
                if xs and _num(acc.get(g)):
                    ax.plot([max(min(xs) / 1.12, a), min(max(xs) * 1.12, b)], [acc[g], acc[g]], color=col, ls="--",
                            lw=1.2, zorder=2)
    if not valid_acc(final):
        where = results.get("stage")
        why = f"the run ended in {stage_words(where)}" if where and where != "done" else "not in results.json"
        ax.scatter([], [], marker="s", facecolors="none", edgecolors="C1", label=f"final (IP-DPP stage 2): none, {why}")
    if nclass <= 20:
        pts = dict(zip(range(nclass), zip(counts, acc0["per_class"])))
        for i, (c, y) in pts.items():
            ax.annotate(str(i), (c, y), textcoords="offset points", xytext=(4, 3), fontsize=7, color="0.3")

    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ticks = sorted({t for t in (10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000)
                    if xlo <= t <= xhi} | ({few_below, many_above} if _num(few_below) and _num(many_above) else set()))
    if ticks:
        ax.set_xticks(ticks)
    ax.set_xlabel("training images of the class (log scale)")
    ax.set_ylabel("test accuracy of the class (%)")
    ax.set_yticks(range(0, 101, 20))
    ax.grid(alpha=0.3, which="major")
    extra = " (numbers: class index; dashed: group mean)" if nclass <= 20 else " (dashed: group mean)"
    ax.set_title(run_title(name, results, config) + "\nper-class test accuracy" + extra, fontsize=10, pad=20)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), fontsize=8.5, ncol=1, frameon=False)
    fig.tight_layout()
    p = os.path.join(out, "per_class.png")
    fig.savefig(p, dpi=dpi)
    plt.close(fig)
    print(p)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="the run folder, runs/<name>")
    ap.add_argument("--out", help="output folder (default: the run folder)")
    ap.add_argument("--dpi", type=int, default=100, help="resolution of the PNG files (default 100)")
    a = ap.parse_args()
    # Imported here so that --help and the errors about the run folder work without matplotlib.
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker as ticker
    except ImportError:
        sys.exit("error: matplotlib is not installed; install it with `pip install matplotlib` and run again")
    metrics, results, config = load(a.run)
    if not epoch_rows(metrics, "stage1") and not epoch_rows(metrics, "probe") and not epoch_rows(metrics, "stage2"):
        sys.exit(f"error: {os.path.join(a.run, 'metrics.jsonl')} has no epoch line yet; nothing to plot")
    out = a.out or a.run
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        sys.exit(f"error: cannot create {out}: {e}")
    name = (results or {}).get("name") or (config or {}).get("name") or os.path.basename(os.path.normpath(a.run))
    plot_loss(plt, ticker, metrics, results, config, name, out, a.dpi)
    if results is not None:
        plot_per_class(plt, ticker, results, config, name, out, a.dpi)


if __name__ == "__main__":
    main()
