"""Server health per registration, decided from evidence (Envoy's outlier detection with active health checks).

A registration (``Endpoint.key``: address and znode, so a restarted server's new registration never pays for its old
one) is in one of three states:

- ``UP``: used normally. Every registration starts here.
- ``SUSPECT``: a call or a connect timed out, or an open connection broke. New sessions and statements go to another
  server while one is up; what already runs on it is not given up; the prober probes it.
- ``DEAD``: only on evidence: a fresh connection refused (or its host unreachable), the registration gone from
  ZooKeeper while it does not answer, or ``dead_after`` seconds of suspicion without one answer. Consumers drop what
  they hold for it, once (a transition happens once).

An answer (a probe, or a call) brings any state back to ``UP`` at once: no fixed exclusion window. ``advance`` is the
one place these rules live; it is pure.
"""
from __future__ import annotations

import dataclasses
import enum
from typing import Optional


class State(str, enum.Enum):
    UP = "up"
    SUSPECT = "suspect"
    DEAD = "dead"

    def __str__(self) -> str:
        return self.value


class Evidence(str, enum.Enum):
    """What was seen of a registration."""

    #: A call, a connect or a handshake got no answer in time: paused, busy, or gone.
    SLOW = "slow"
    #: A connection that was open broke (reset, end of file): the process may have died, or a peer closed it.
    BROKEN = "broken"
    #: A fresh connection was refused, or the host is unreachable: nothing serves there.
    REFUSED = "refused"
    #: The server answered (a probe or a call).
    ANSWERED = "answered"
    #: The registration left ZooKeeper (a server that still answers is draining, not dead).
    GONE = "gone"

    def __str__(self) -> str:
        return self.value


@dataclasses.dataclass(frozen=True)
class Health:
    """A registration's state, since when (the clock of the cache), and the evidence that set it."""

    state: State = State.UP
    since: float = 0.0
    evidence: Optional[Evidence] = None
    detail: str = ""
    #: Consecutive pieces of adverse evidence in this state (spaces the probes of a dead server).
    strikes: int = 0

    @property
    def usable(self) -> bool:
        """May still serve what already runs on it (calls are answered or merely late)."""
        return self.state is not State.DEAD


UP = Health()


def advance(health: Health, evidence: Evidence, now: float, dead_after: float, detail: str = "") -> Health:
    """The health after ``evidence`` at ``now``; ``health`` itself when nothing changes."""
    state = health.state
    if evidence is Evidence.ANSWERED:
        return health if state is State.UP else Health(State.UP, now, evidence, detail)
    if evidence is Evidence.REFUSED:
        if state is State.DEAD:
            return dataclasses.replace(health, strikes=health.strikes + 1)
        return Health(State.DEAD, now, evidence, detail, 1)
    if evidence is Evidence.GONE:
        # Gone and not answering is dead; gone and answering is a rolling restart draining its queries.
        return Health(State.DEAD, now, evidence, detail, 1) if state is State.SUSPECT else health
    # SLOW or BROKEN: no answer.
    if state is State.UP:
        return Health(State.SUSPECT, now, evidence, detail, 1)
    if state is State.SUSPECT and now - health.since >= dead_after:
        reason = f"no answer for {now - health.since:.0f} s ({detail or evidence})"
        return Health(State.DEAD, now, evidence, reason, 1)
    return dataclasses.replace(health, strikes=health.strikes + 1)
