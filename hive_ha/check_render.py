"""Print a ``check`` report: aligned text for people, one JSON document for programs."""
from __future__ import annotations

import json

from .check import FAIL, OK, SKIP, WARN, Report

_LABELS = {OK: "OK", WARN: "WARN", SKIP: "SKIP", FAIL: "FAIL"}


def render_text(report: Report, strict: bool = False) -> str:
    service = report.service
    lines = [f"hive-ha check: layout {service.layout.name}, namespace {service.namespace}, "
             f"ZooKeeper {report.zk_hosts}"]
    for f in report.findings:
        took = f" ({f.elapsed_ms:.0f} ms)" if f.elapsed_ms is not None else ""
        lines.append(f"  {_LABELS[f.status]:<5} {f.item:<13} {f.subject}: {f.detail}{took}")
        if f.hint and f.status != OK:
            lines.append(f"        next: {f.hint}")
    counts = ", ".join(f"{report.count(s)} {_LABELS[s].lower()}" for s in (OK, WARN, SKIP, FAIL))
    verdict = "healthy" if report.healthy(strict) else "PROBLEMS FOUND"
    lines.append(f"{verdict}: {counts}")
    return "\n".join(lines) + "\n"


def render_json(report: Report, strict: bool = False) -> str:
    return json.dumps(report.as_dict(strict), indent=2) + "\n"
