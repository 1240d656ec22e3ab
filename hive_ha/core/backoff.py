"""How long a server that failed stays excluded from selection (the cache applies it; settings choose it)."""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Backoff:
    """``base * 2**(n-1)`` seconds capped at ``maximum``, ``n`` counting the probes a dead server failed in a row:
    a dead server is let back the moment a probe finds it answering, and is not probed more often than this."""

    base: float = 5.0
    maximum: float = 300.0

    def duration(self, failures: int) -> float:
        return min(self.maximum, self.base * (2 ** max(0, failures - 1)))
