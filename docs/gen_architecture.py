"""Draw the architecture picture, docs/img/architecture.png (needs matplotlib: ``pip install 'hive-ha[bench]'``).

    python docs/gen_architecture.py [--out docs/img/architecture.png]

Data flows one way, left to right; failure reports go back to the cache, never to ZooKeeper.
"""
from __future__ import annotations

import argparse
import os
import sys

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "img", "architecture.png")

# (x, y, width, height, title, detail, colour); coordinates in a 0..100 x 0..60 canvas.
STAGES = [
    (1, 24, 13, 14, "ZooKeeper", "Hive's registry:\nhs2, hsi, hsi-ha\n(auth, TLS, chroot)", "#f2f2f2"),
    (20, 24, 14, 14, "watcher", "one thread per\nservice; watches,\ndebounce, re-arm", "#dbe9f6"),
    (40, 24, 14, 14, "snapshot", "whole, immutable,\nvalidated Endpoints\n(stale if ZK down)", "#dbe9f6"),
    (60, 24, 16, 14, "endpoint cache", "one lock; policy:\noldest | random |\nper_user; exclusions", "#c6dbef"),
]
CONSUMERS = [
    "Hue app (hue_integration)",
    "hive_ha.connect / SQLAlchemy",
    "load balancers (emit, monitor)",
    "hive-ha CLI",
]


def draw(path: str) -> None:
    fig, ax = plt.subplots(figsize=(10, 5), dpi=100)
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 60)
    ax.axis("off")
    for x, y, w, h, title, detail, colour in STAGES:
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.4", facecolor=colour, edgecolor="#333333"))
        ax.text(x + w / 2, y + h - 2.5, title, ha="center", va="center", fontsize=11, weight="bold")
        ax.text(x + w / 2, y + h / 2 - 2, detail, ha="center", va="center", fontsize=8, linespacing=1.3)
    for (x1, _, w1, _, *_), (x2, *_) in zip(STAGES, STAGES[1:]):
        _arrow(ax, (x1 + w1 + 0.6, 31), (x2 - 0.6, 31))

    # Consumers: a column of boxes fed by the cache.
    cx, cw, ch = 82, 17, 6
    tops = [50, 38, 26, 14]
    for top, name in zip(tops, CONSUMERS):
        ax.add_patch(FancyBboxPatch((cx, top), cw, ch, boxstyle="round,pad=0.3", facecolor="#e5f5e0",
                                    edgecolor="#333333"))
        ax.text(cx + cw / 2, top + ch / 2, name, ha="center", va="center", fontsize=7.5)
        _arrow(ax, (76.6, 31), (cx - 0.4, top + ch / 2))
    ax.text(cx + cw / 2, 58.5, "consumers", ha="center", va="center", fontsize=10, weight="bold")

    # Failures come back as reports to the cache (compare-and-swap), never as new ZooKeeper requests.
    ax.add_patch(FancyArrowPatch((cx + cw / 2, 13.2), (68, 22.6), connectionstyle="arc3,rad=-0.35",
                                 arrowstyle="-|>", mutation_scale=14, linestyle="--", color="#b2182b"))
    ax.text(66, 8, "report_failure(service, endpoint, user)\ncompare-and-swap: one reselection,\n"
            "no ZooKeeper request", ha="center", va="center", fontsize=8, color="#b2182b")
    ax.text(21, 12, "lookup = a dictionary read under one lock:\nno I/O, no ZooKeeper request",
            ha="left", va="center", fontsize=8, style="italic")
    ax.set_title("hive-ha: data flows one way, from ZooKeeper to the consumers", fontsize=12)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def _arrow(ax, start, end) -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14, color="#333333"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=DEFAULT_OUT, help="PNG file to write (default docs/img/architecture.png)")
    draw(parser.parse_args(argv).out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
