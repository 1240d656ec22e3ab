"""Selection policies: pure functions of (eligible endpoints, user) -> endpoint.

Stickiness is not a policy's business: the cache keeps a working choice and asks a policy only
when there is none (first lookup, or the chosen endpoint failed or left the registry).
"""
from __future__ import annotations

import hashlib
import random
from typing import Callable, Dict, Optional, Sequence

from hive_ha.errors import ConfigError
from hive_ha.model.endpoint import Endpoint


class Policy:
    """Base class: ``pick`` is called with a non-empty sequence of eligible endpoints."""

    name = ""
    per_user = False

    def pick(self, eligible: Sequence[Endpoint], user: Optional[str]) -> Endpoint:  # pragma: no cover
        raise NotImplementedError


class Oldest(Policy):
    """The lowest sequence number — what Hue and the HSI leader latch consider 'first'."""

    name = "oldest"

    def pick(self, eligible: Sequence[Endpoint], user: Optional[str]) -> Endpoint:
        return min(eligible, key=lambda e: e.age_key)


class Random(Policy):
    """A random endpoint, chosen once per process and kept: spreads Hue processes over the servers.

    The default generator draws from the operating system (``random.SystemRandom``), so processes forked from one
    parent (gunicorn's workers, recycled ones included) do not all make their parent's draw."""

    name = "random"

    def __init__(self, rng: Optional[random.Random] = None) -> None:
        self._rng = rng or random.SystemRandom()

    def pick(self, eligible: Sequence[Endpoint], user: Optional[str]) -> Endpoint:
        return self._rng.choice(sorted(eligible, key=lambda e: e.age_key))


class PerUser(Policy):
    """Rendezvous (highest-random-weight) hashing on the user name.

    Users spread evenly; a user's server depends only on the user and the live servers, so every Hue
    process sends one user to the same HiveServer2, and when a server dies only its users move.
    """

    name = "per_user"
    per_user = True

    def pick(self, eligible: Sequence[Endpoint], user: Optional[str]) -> Endpoint:
        key = (user or "").encode("utf-8", "surrogatepass")
        return max(eligible, key=lambda e: (_weight(key, e.address), e.address))


def _weight(user: bytes, address: str) -> bytes:
    return hashlib.blake2b(user + b"\x00" + address.encode(), digest_size=8).digest()


POLICIES: Dict[str, Callable[[], Policy]] = {"oldest": Oldest, "random": Random, "per_user": PerUser}


def get_policy(name: str) -> Policy:
    try:
        return POLICIES[name]()
    except KeyError:
        raise ConfigError("selection_policy", name, "one of " + ", ".join(POLICIES)) from None
