"""Run the lookup benchmark and draw its figures as PNG for docs/performance.md.

    python benchmarks/plot.py [--quick] [--from-json FILE] [--out docs/img]

Writes ``lookup-latency.png`` (p50 and p99 per thread count, log scale), ``lookup-ratio.png`` (p50 ratio of a
per-lookup ZooKeeper client to hive-ha's cache) and ``lookup.json`` (the figures plotted) into ``--out``, and
prints a Markdown table of the same figures. ``--from-json`` plots a file written by ``lookup.py --json``
instead of running the benchmark. Needs matplotlib (``pip install 'hive-ha[bench]'``).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from typing import Dict, List

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FixedLocator  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lookup  # noqa: E402  (the benchmark next to this file)

THREADS = (1, 8, 64)
CACHE, PER_CALL = "hive-ha cache", "zk client per lookup"
LABELS = {CACHE: "hive-ha cache", PER_CALL: "ZooKeeper client per lookup (Hue 4.11 / Hive JDBC style)"}
COLOURS = {CACHE: "#2b7bba", PER_CALL: "#d95f02"}
# PNG metadata without the matplotlib version, so re-running with another version changes only pixels.
PNG_METADATA = {"Software": None}


def run_benchmark(quick: bool) -> Dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "lookup.json")
        lookup.main((["--quick"] if quick else []) + ["--json", path])
        with open(path) as fh:
            return json.load(fh)


def _us_label(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:g} s"
    if value >= 1e3:
        return f"{value / 1e3:g} ms"
    return f"{value:g} µs"


def plot_latency(results: Dict[str, Dict[str, float]], path: str) -> None:
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    width = 0.2
    for i, threads in enumerate(THREADS):
        for j, method in enumerate((CACHE, PER_CALL)):
            row = results[f"{method}/{threads}"]
            for k, (stat, hatch, alpha) in enumerate((("p50_us", "", 1.0), ("p99_us", "//", 0.55))):
                x = i + (2 * j + k - 1.5) * width
                ax.bar(x, row[stat], width, color=COLOURS[method], alpha=alpha, hatch=hatch, edgecolor="white",
                       label=f"{LABELS[method]}, {stat[:3]}" if i == 0 else None)
                ax.text(x, row[stat] * 1.15, _us_label(float(f"{row[stat]:.3g}")), ha="center", va="bottom",
                        fontsize=7, rotation=90)
    ax.set_yscale("log")
    ticks = [10.0 ** e for e in range(0, 7)]
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.set_yticklabels([_us_label(t) for t in ticks])
    ax.set_ylim(0.5, 1e7)
    ax.set_xticks(range(len(THREADS)))
    ax.set_xticklabels([f"{t} thread{'s' if t > 1 else ''}" for t in THREADS])
    ax.set_ylabel("latency of one lookup (log scale)")
    ax.set_title("Endpoint lookup latency, real ZooKeeper, 3 registered HiveServer2s")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, metadata=PNG_METADATA)
    plt.close(fig)


def plot_ratio(results: Dict[str, Dict[str, float]], path: str) -> None:
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ratios = [results[f"ratio/{t}"]["p50"] for t in THREADS]
    bars = ax.bar([str(t) for t in THREADS], ratios, color=COLOURS[CACHE])
    for bar, ratio in zip(bars, ratios):
        ax.text(bar.get_x() + bar.get_width() / 2, ratio * 1.1, f"{ratio:,.0f}x", ha="center", va="bottom")
    ax.set_yscale("log")
    ax.set_ylim(1, max(ratios) * 10)
    ax.set_xlabel("threads looking up at once")
    ax.set_ylabel("p50 per-lookup client / p50 cache")
    ax.set_title("How many times faster the cached lookup is (p50)")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, metadata=PNG_METADATA)
    plt.close(fig)


def markdown_table(data: Dict) -> List[str]:
    results = data["results"]
    lines = ["| threads | hive-ha p50 | hive-ha p99 | per-lookup client p50 | per-lookup client p99 | p50 ratio |",
             "|---:|---:|---:|---:|---:|---:|"]
    for t in THREADS:
        cache, base = results[f"{CACHE}/{t}"], results[f"{PER_CALL}/{t}"]
        lines.append(f"| {t} | {cache['p50_us']:.2f} µs | {cache['p99_us']:,.2f} µs | {base['p50_us'] / 1000:,.1f} ms "
                     f"| {base['p99_us'] / 1000:,.1f} ms | {results[f'ratio/{t}']['p50']:,.0f}x |")
    lines.append(f"\nZooKeeper requests per 10,000 warm lookups: {data['zk_requests_per_10000']}")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="run the benchmark with fewer iterations")
    parser.add_argument("--from-json", metavar="FILE", help="plot a file written by lookup.py --json instead of running")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), os.pardir, "docs", "img"),
                        help="directory for the PNG files (default docs/img)")
    args = parser.parse_args(argv)
    if args.from_json:
        with open(args.from_json) as fh:
            data = json.load(fh)
    else:
        data = run_benchmark(args.quick)
    os.makedirs(args.out, exist_ok=True)
    plot_latency(data["results"], os.path.join(args.out, "lookup-latency.png"))
    plot_ratio(data["results"], os.path.join(args.out, "lookup-ratio.png"))
    with open(os.path.join(args.out, "lookup.json"), "w") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")
    print("\n".join(markdown_table(data)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
