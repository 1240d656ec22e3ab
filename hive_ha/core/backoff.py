"""How long a server that failed stays excluded from selection (the cache applies it; settings choose it)."""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Backoff:
    """How long a failed endpoint stays excluded: ``base * 2**(n-1)`` capped at ``maximum``.

    ``n`` counts consecutive failures; it starts again once ``maximum`` has passed without one.
    """

    base: float = 15.0
    maximum: float = 300.0

    def duration(self, failures: int) -> float:
        return min(self.maximum, self.base * (2 ** max(0, failures - 1)))
