"""What the monitor should do about a new backend list: a pure decision, no I/O.

``decide(current, running, desired)`` compares the model now on disk (``current``), the servers the running load
balancer knows (``running``: listener -> server names, including ones the monitor put in maintenance) and the model
the new snapshot gives (``desired``, None when the source reported no servers). The answer is one of:

* ``nothing``       the load balancer already serves exactly the desired pools;
* ``refuse_empty``  the source reported no servers: keep the last good config (never publish an empty backend set);
* ``runtime``       only servers the running process already knows join or leave: switch their state over the
                    runtime API (HAProxy ``set server <backend>/<server> state ready|maint``), no reload;
* ``reload``        anything else (a server it has never seen, a changed setting): write, check, reload.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, FrozenSet, Mapping, Optional, Tuple

from hive_ha.lb.model import LoadBalancer

NOTHING, REFUSE_EMPTY, RUNTIME, RELOAD = "nothing", "refuse_empty", "runtime", "reload"

Pools = Dict[str, FrozenSet[str]]


@dataclasses.dataclass(frozen=True)
class StateChange:
    """One runtime-API change: server ``server`` of backend ``backend`` goes to ``state`` (ready or maint)."""

    backend: str
    server: str
    state: str


@dataclasses.dataclass(frozen=True)
class Decision:
    """What to do (``action``: one of the four above), the runtime-API ``changes`` it takes, and the servers
    ``added`` and ``removed`` (``listener/server`` names, for the log line)."""

    action: str
    changes: Tuple[StateChange, ...] = ()
    added: Tuple[str, ...] = ()
    removed: Tuple[str, ...] = ()

    def describe(self) -> str:
        """What changed, for the one log line per applied change."""
        parts = []
        if self.added:
            parts.append("added " + ", ".join(self.added))
        if self.removed:
            parts.append("removed " + ", ".join(self.removed))
        return "; ".join(parts) or "settings changed"


def pools(model: LoadBalancer) -> Pools:
    """Listener name -> the names of its servers."""
    return {listener.name: frozenset(s.name for s in listener.servers) for listener in model.listeners}


def decide(current: Optional[LoadBalancer], running: Optional[Mapping[str, FrozenSet[str]]],
           desired: Optional[LoadBalancer], *, runtime_api: bool) -> Decision:
    """The decision described in the module docstring. ``current``/``running`` are None before the first apply;
    ``runtime_api`` says whether the load balancer has one (HAProxy)."""
    if desired is None:
        return Decision(REFUSE_EMPTY)
    if current is None or running is None:
        return Decision(RELOAD, added=_names(pools(desired)))
    want, have = pools(desired), pools(current)
    added = _names({k: want[k] - have.get(k, frozenset()) for k in want})
    removed = _names({k: have[k] - want.get(k, frozenset()) for k in have})
    if desired == current:
        return Decision(NOTHING)
    if not runtime_api or set(want) != set(have):
        return Decision(RELOAD, added=added, removed=removed)
    # Everything but the pools must be equal: the running process keeps its settings, only server states change.
    if current.with_servers({l.name: l.servers for l in desired.listeners}) != desired:
        return Decision(RELOAD, added=added, removed=removed)
    if any(not want[k] <= running.get(k, frozenset()) for k in want):
        return Decision(RELOAD, added=added, removed=removed)  # a server the running process has never seen
    changes = tuple(
        [StateChange(k, name, "ready") for k in sorted(want) for name in sorted(want[k] - have[k])]
        + [StateChange(k, name, "maint") for k in sorted(have) for name in sorted(have[k] - want[k])])
    return Decision(RUNTIME, changes=changes, added=added, removed=removed)


def _names(by_listener: Mapping[str, FrozenSet[str]]) -> Tuple[str, ...]:
    return tuple(f"{k}/{name}" for k in sorted(by_listener) for name in sorted(by_listener[k]))
