"""``hive-ha watch``: a live view of a service's endpoints, one timestamped line per change.

``changes(previous, snapshot)`` is the pure part: it turns two readings of the registry into ``Change``
records (the first reading gives one ``present`` line per endpoint). ``watch`` feeds it from the
registry watcher (the same code Discovery uses) and prints until Ctrl-C, ``count`` changes or ``duration``.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import queue
import sys
import time
from typing import Callable, Dict, List, Optional, TextIO

from hive_ha.cli.common import (EXIT_OK, REGISTRY_EXIT_CODES, add_registry_flags, positive_float, positive_int,
                                zk_settings)
from hive_ha.errors import RegistryUnavailable
from hive_ha.io.watcher import RegistryWatcher
from hive_ha.io.zookeeper import ClientPool, ZkSettings
from hive_ha.model.endpoint import Endpoint
from hive_ha.model.layouts import Service
from hive_ha.model.snapshot import Snapshot

#: Kinds of change, in the order they are reported within one reading.
KINDS = ("present", "missing", "removed", "added", "changed", "leader", "no-leader", "malformed", "stale", "live")


@dataclasses.dataclass(frozen=True)
class Change:
    kind: str
    endpoint: Optional[Endpoint] = None
    detail: str = ""


def changes(previous: Optional[Snapshot], snapshot: Snapshot) -> List[Change]:
    """What is new in ``snapshot`` compared with ``previous`` (None: the first reading)."""
    out: List[Change] = []
    if not snapshot.exists:
        if previous is None or previous.exists:
            out.append(Change("missing", detail=f"{snapshot.path} does not exist"))
    before: Dict[str, Endpoint] = {e.znode: e for e in previous.endpoints} if previous else {}
    after = {e.znode: e for e in snapshot.endpoints}
    if previous is None:
        out.extend(Change("present", e) for e in snapshot.endpoints)
    else:
        out.extend(Change("removed", e) for z, e in before.items() if z not in after)
        out.extend(Change("added", e) for z, e in after.items() if z not in before)
        out.extend(Change("changed", e, _what_changed(before[z], e)) for z, e in after.items()
                   if z in before and dataclasses.replace(before[z], active=e.active) != e)
    if snapshot.service.layout.ha:
        leaders_before = {e.address for e in previous.candidates} if previous else set()
        leaders_after = {e.address for e in snapshot.candidates}
        if leaders_after != leaders_before or previous is None:
            if snapshot.candidates:
                out.extend(Change("leader", e) for e in snapshot.candidates)
            elif snapshot.endpoints or previous is not None:
                out.append(Change("no-leader", detail="no instance publishes an activeEndpoint"))
    known = set(previous.malformed) if previous else set()
    out.extend(Change("malformed", detail=f"{znode}: {reason}") for znode, reason in snapshot.malformed
               if (znode, reason) not in known)
    return out


def _what_changed(old: Endpoint, new: Endpoint) -> str:
    fields = [f.name for f in dataclasses.fields(Endpoint) if f.name != "active" and getattr(old, f.name) != getattr(new, f.name)]
    return ", ".join(f"{name} {getattr(old, name)!r} -> {getattr(new, name)!r}" for name in fields)


def timestamp(now: Optional[float] = None) -> str:
    """ISO-8601 local time with milliseconds and the UTC offset."""
    moment = datetime.datetime.fromtimestamp(time.time() if now is None else now).astimezone()
    return moment.isoformat(timespec="milliseconds")


def format_text(change: Change, when: str) -> str:
    e = change.endpoint
    if e is None:
        return f"{when} {change.kind:<9} {change.detail}"
    role = "" if e.active is None else (" ACTIVE" if e.active else " passive")
    extra = f"  ({change.detail})" if change.detail else ""
    return (f"{when} {change.kind:<9} {e.address:<22} {e.transport_mode:<6} auth={e.authentication}{role}  "
            f"{e.znode}{extra}")


def format_json(change: Change, when: str) -> str:
    return json.dumps({"time": when, "event": change.kind,
                       "endpoint": change.endpoint.as_dict() if change.endpoint else None, "detail": change.detail})


def watch(settings: ZkSettings, service: Service, out: TextIO, *, as_json: bool = False, timeout: float = 10.0,
          count: Optional[int] = None, duration: Optional[float] = None, pool: Optional[ClientPool] = None,
          clock: Callable[[], float] = time.monotonic) -> int:
    """Print the initial endpoints, then each change; returns the number of change lines printed.

    Raises RegistryUnavailable when no first reading arrives within ``timeout``. Stops after ``count``
    change lines or ``duration`` seconds (None: until interrupted)."""
    pool = pool or ClientPool()
    events: "queue.Queue" = queue.Queue()
    watcher = RegistryWatcher(pool.get(settings), service, settings.hosts,
                              publish=lambda snap: events.put(("snapshot", snap)),
                              on_stale=lambda stale: events.put(("stale", stale)), debounce=0.05)
    fmt = format_json if as_json else format_text
    deadline = None if duration is None else clock() + duration
    printed = 0
    watcher.start()
    try:
        previous = _first_reading(events, timeout, settings, service, watcher)
        for change in changes(None, previous):
            print(fmt(change, timestamp()), file=out, flush=True)
        stale = False
        while count is None or printed < count:
            wait = None if deadline is None else deadline - clock()
            if wait is not None and wait <= 0:
                break
            try:
                kind, value = events.get(timeout=wait)
            except queue.Empty:
                break
            if kind == "stale":
                if value == stale:
                    continue
                stale = value
                found = [Change("stale", detail="ZooKeeper connection lost; showing the last known endpoints")
                         if value else Change("live", detail="ZooKeeper connection back; watching again")]
            else:
                found, previous = changes(previous, value), value
            for change in found[:None if count is None else count - printed]:
                print(fmt(change, timestamp()), file=out, flush=True)
                printed += 1
    finally:
        watcher.stop()
        pool.close_all()
    return printed


def _first_reading(events: "queue.Queue", timeout: float, settings: ZkSettings, service: Service,
                   watcher: RegistryWatcher) -> Snapshot:
    end = time.monotonic() + timeout
    while True:
        try:
            kind, value = events.get(timeout=max(0.0, end - time.monotonic()))
        except queue.Empty:
            detail = watcher.last_error or f"ZooKeeper unreachable: not connected within {timeout:g} s"
            raise RegistryUnavailable(settings.hosts, service.namespace, detail) from None
        if kind == "snapshot":
            return value


def register(subparsers, common: argparse.ArgumentParser) -> None:
    w = subparsers.add_parser(
        "watch", parents=[common], help="live view: one timestamped line per endpoint change",
        description="Print the endpoints registered in ZooKeeper, then one ISO-8601 timestamped line per change "
                    "(added, removed, changed, leader, no-leader, malformed, stale, live) until Ctrl-C.",
        epilog=REGISTRY_EXIT_CODES + " (before the first reading). Ctrl-C ends with 0.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_registry_flags(w)
    w.add_argument("--json", action="store_true", help="one JSON object per line")
    w.add_argument("--count", type=positive_int, metavar="N", help="exit after N change lines (initial set excluded)")
    w.add_argument("--duration", type=positive_float, metavar="S", help="exit after S seconds")
    w.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    service = Service.of(args.layout, args.namespace)
    try:
        watch(zk_settings(args), service, sys.stdout, as_json=args.json, timeout=args.timeout, count=args.count,
              duration=args.duration)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a live view ends
    return EXIT_OK
