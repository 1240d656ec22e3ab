"""Reading a service's registry from ZooKeeper: the one read every reader shares (the watcher, ``hive-ha check``).

* ``locate``: the children path of the first of a layout's candidate roots that exists (HSI HA tries
  ``-sasl``/``-unsecure`` too);
* ``read_child``: one child's data, parsed with ``parse_registration`` into an ``Endpoint`` or the
  ``MalformedRegistration`` saying why it is skipped;
* ``read_all``: every child of a located path, for one-shot readers (the watcher reads only what changed).

Each call takes the kazoo client, an optional ``watch`` (the watcher re-arms its watches with every read) and an
optional ``retry`` (kazoo's ``client.retry``: the client's command retry policy); ZooKeeper errors other than a
vanished child are the caller's to handle (kazoo's own timeouts bound every request).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, List, NamedTuple, Optional, Tuple, Union

from kazoo.exceptions import NoAuthError, NoNodeError

from hive_ha.errors import MalformedRegistration
from hive_ha.model.endpoint import Endpoint
from hive_ha.model.layouts import Service
from hive_ha.model.registration import parse_registration

Parsed = Union[Endpoint, MalformedRegistration]
Watch = Optional[Callable[[Any], None]]


def _once(func: Callable, *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


class Location(NamedTuple):
    """Where a service's registrations are: its ``root`` and the ``path`` of their znodes, with the path's stat."""

    root: str
    path: str
    stat: Any


def locate(client, service: Service, *, watch: Watch = None, retry: Callable = _once) -> Optional[Location]:
    """The first candidate root whose children path exists, or None. Every root tried (all of them when none exists)
    keeps the existence ``watch``, so a namespace created later wakes the caller."""
    layout = service.layout
    for root in layout.roots(service.namespace):
        path = layout.children_path(root)
        stat = retry(client.exists, path, watch=watch)
        if stat is not None:
            return Location(root, path, stat)
    return None


def candidate_paths(service: Service) -> Tuple[str, ...]:
    """Every children path ``locate`` tries, in order (the first is where a new namespace would be)."""
    return tuple(service.layout.children_path(root) for root in service.layout.roots(service.namespace))


def read_child(client, service: Service, path: str, name: str, *, watch: Watch = None,
               retry: Callable = _once) -> Optional[Tuple[Parsed, Any]]:
    """``(parsed, stat)`` of the child ``name`` of ``path``, or None when it vanished between list and read (a server
    that just stopped). ``parsed`` is an ``Endpoint``, or the ``MalformedRegistration`` saying why it is skipped."""
    try:
        data, stat = retry(client.get, f"{path}/{name}", watch=watch)
    except NoNodeError:
        return None
    try:
        parsed: Parsed = parse_registration(service.layout.record, path, name, data)
    except MalformedRegistration as exc:
        parsed = exc
    return parsed, stat


@dataclasses.dataclass(frozen=True)
class Reading:
    """One pass over a located path: the endpoints (oldest first), the malformed znodes skipped, and the znodes
    this session may not read (``NoAuthError``), by path."""

    endpoints: Tuple[Endpoint, ...]
    malformed: Tuple[MalformedRegistration, ...]
    unreadable: Tuple[str, ...]


def read_all(client, service: Service, path: str, *, retry: Callable = _once) -> Reading:
    """Every child of ``path``, read once (sorted by name), without watches."""
    endpoints: List[Endpoint] = []
    malformed: List[MalformedRegistration] = []
    unreadable: List[str] = []
    for name in sorted(retry(client.get_children, path)):
        try:
            read = read_child(client, service, path, name, retry=retry)
        except NoAuthError:
            unreadable.append(f"{path}/{name}")
            continue
        if read is None:
            continue
        parsed = read[0]
        if isinstance(parsed, MalformedRegistration):
            malformed.append(parsed)
        else:
            endpoints.append(parsed)
    endpoints.sort(key=lambda e: e.age_key)
    return Reading(tuple(endpoints), tuple(malformed), tuple(unreadable))
