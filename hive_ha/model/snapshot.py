"""An immutable, whole reading of one service's registry, as the watcher publishes it."""
from __future__ import annotations

import dataclasses
import time
from typing import Tuple

from hive_ha.model.endpoint import Endpoint
from hive_ha.model.layouts import Service


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """Every endpoint found under ``path`` at one moment, plus what was skipped: ``malformed`` holds ``(znode, why)``
    of each znode that is not a valid registration or that this client may not read (its ACL).

    ``stale`` is set while the watch behind it is not live (ZooKeeper unreachable): the endpoints are
    the last known ones. ``exists`` is False when the namespace znode itself is missing.
    """

    service: Service
    zk_hosts: str
    path: str
    endpoints: Tuple[Endpoint, ...] = ()
    malformed: Tuple[Tuple[str, str], ...] = ()
    exists: bool = True
    stale: bool = False
    taken_at: float = dataclasses.field(default_factory=time.time)

    @property
    def candidates(self) -> Tuple[Endpoint, ...]:
        """Endpoints a client may use (only the active ones under HA)."""
        return self.service.layout.candidates(self.endpoints)

    @property
    def leader_pending(self) -> bool:
        """HA instances are registered but none is active: a leader change is under way."""
        return self.service.layout.ha and bool(self.endpoints) and not self.candidates

    def empty_reason(self) -> str:
        """Why this snapshot offers no candidate (for NoEndpointAvailable), or '' when nothing special."""
        if not self.exists:
            return f"the znode {self.path} does not exist (is dynamic service discovery enabled?)"
        if self.leader_pending:
            return "no instance publishes an activeEndpoint (leader election in progress?)"
        if self.stale:
            return "ZooKeeper is unreachable; this is the last known registry"
        return ""

    def with_stale(self, stale: bool) -> "Snapshot":
        return self if stale == self.stale else dataclasses.replace(self, stale=stale)
