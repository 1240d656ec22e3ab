"""Small text helpers shared by the emitters."""
from __future__ import annotations

import math
from typing import Iterable


def block(lines: Iterable[str], indent: str = "    ") -> str:
    return "\n".join(indent + line for line in lines)


def header_comment(lines: Iterable[str]) -> str:
    return "".join(f"# {line}\n" for line in lines)


def duration_ms(seconds: float) -> str:
    """A duration HAProxy and nginx both read: whole seconds as ``Ns``, else ``Nms``."""
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{max(1, round(seconds * 1000))}ms"


def whole_seconds(seconds: float) -> int:
    """httpd takes whole seconds; round up so a bound is never shortened."""
    return max(1, math.ceil(seconds))
