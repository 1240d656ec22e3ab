"""The load-balancer monitor: keeps a running HAProxy, nginx or httpd in step with a backend source.

    monitor = Monitor("haproxy", make_model, "/etc/haproxy/haproxy.cfg", ZooKeeperSource(discovery, service),
                      Reloader.for_model("haproxy", model))
    monitor.run(stop_event)          # or start() / stop() for a thread

Each round: read the source; after ``debounce`` s without further change, turn the reading into a model, decide
(``decision.decide``), and apply: runtime-API state changes (HAProxy, servers it already knows), or render, check
with the binary, write atomically and reload gracefully (at most one reload per ``min_reload_interval`` s; changes in between
are coalesced). The file on disk is always the desired config; the running HAProxy may in addition hold servers the
monitor put in maintenance. Never an empty backend set; a stale source (ZooKeeper lost) changes nothing. With an
``election`` only the active monitor writes or reloads. One log line per applied change.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from typing import Callable, Dict, FrozenSet, Iterable, Optional, Tuple

from hive_ha.errors import ConfigError, HiveHAError, LoadBalancerCommandFailed
from hive_ha.lb import backends
from hive_ha.lb.model import LoadBalancer
from hive_ha.lb.decision import NOTHING, REFUSE_EMPTY, RELOAD, RUNTIME, Decision, decide, pools
from hive_ha.lb.reload import Reloader
from hive_ha.lb.render import check_model, render, write_atomically
from hive_ha.lb.runtime_api import RuntimeApi
from hive_ha.model.layouts import Service
from hive_ha.model.snapshot import Snapshot

log = logging.getLogger(__name__)

HostPort = Tuple[str, int]
#: ``(binary, http)`` backend addresses -> the full model (a profile with these pools).
ModelFactory = Callable[[Tuple[HostPort, ...], Tuple[HostPort, ...]], LoadBalancer]

POLL_INTERVAL = 0.02  # how often the source is looked at; a reading is a cheap in-memory check


@dataclasses.dataclass(frozen=True)
class Reading:
    """What a source holds now. ``token`` changes whenever the content may have; ``stale``: do not act on it."""

    binary: Tuple[HostPort, ...]
    http: Tuple[HostPort, ...]
    token: object
    stale: bool = False
    note: str = ""

    @property
    def empty(self) -> bool:
        return not self.binary and not self.http


class ZooKeeperSource:
    """Readings from the discovery core's cache (its watcher keeps it current; no ZooKeeper round trip here).

    A registration the load balancer cannot take (config syntax in a value, or a host this machine cannot resolve)
    is left out with one warning naming it, and the rest is served. A snapshot is turned into addresses once; while
    some host is left out as unresolvable, it is looked up again every ``resolve_retry`` s (a DNS hiccup must not
    keep a server out until the next registry change). ``resolver``: ``backends.unresolvable`` (tests inject one)."""

    def __init__(self, discovery, service: Service, *, resolve_retry: float = 30.0,
                 resolver: Callable[[Iterable[str]], Dict[str, str]] = backends.unresolvable,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.discovery = discovery
        self.service = service
        self.resolve_retry = resolve_retry
        self.clock = clock
        self._warned: set = set()
        self._unresolved: Dict[str, str] = {}
        self._resolver = resolver
        self._last: Tuple[object, Optional[Reading], float] = (None, None, float("inf"))
        discovery.watch(service)

    def read(self) -> Reading:
        snapshot: Optional[Snapshot] = self.discovery.cache.snapshot(self.service)
        if snapshot is None:
            return Reading((), (), None, stale=True, note="no reading of ZooKeeper yet")
        seen, reading, again_at = self._last
        if snapshot is seen and reading is not None and self.clock() < again_at:
            return reading
        self._unresolved = {}
        binary, http = backends.addresses(snapshot, on_bad=self._refused, resolve=True, resolver=self._resolve)
        note = "ZooKeeper unreachable; " if snapshot.stale else ""
        # The token changes with the addresses too: a host that resolves again is a change to act on.
        reading = Reading(binary, http, (snapshot, binary, http), stale=snapshot.stale,
                          note=note + (snapshot.empty_reason() or f"nothing registered under {snapshot.path}"))
        again_at = self.clock() + self.resolve_retry if self._unresolved else float("inf")
        self._last = (snapshot, reading, again_at)
        return reading

    def _resolve(self, hosts: Iterable[str]) -> Dict[str, str]:
        self._unresolved = self._resolver(hosts)
        return self._unresolved

    def _refused(self, exc: ConfigError) -> None:
        if str(exc) not in self._warned:  # once per bad value, not once per round
            self._warned.add(str(exc))
            log.warning("refused a registration: %s", exc)


class FileSource:
    """Readings from a file of ``HOST:PORT`` lines (re-read when its size, mtime or inode changes)."""

    def __init__(self, path: str, default_port: Optional[int] = None, http: bool = False) -> None:
        self.path = path
        self.default_port = default_port
        self.http = http
        self._cache: Tuple[object, Reading] = (None, Reading((), (), None, stale=True))

    def read(self) -> Reading:
        try:
            st = os.stat(self.path)
            token = (st.st_ino, st.st_size, st.st_mtime_ns)
        except OSError as exc:
            return Reading((), (), ("error", str(exc)), stale=True, note=f"cannot read {self.path}: {exc.strerror}")
        if token == self._cache[0]:
            return self._cache[1]
        try:
            found = backends.from_file(self.path, self.default_port)
            reading = Reading(() if self.http else found, found if self.http else (), token,
                              note=f"{self.path} lists no server")
        except ConfigError as exc:
            reading = Reading((), (), token, stale=True, note=str(exc))
        self._cache = (token, reading)
        return reading


class Monitor:
    """See the module docstring. ``check_config``: validate each candidate with the binary before it goes live.
    ``file_mode``: the config file's permissions (``render.write_atomically``: an existing file keeps its owner and
    group and is never given more access than it had)."""

    def __init__(self, kind: str, make_model: ModelFactory, config_path: str, source, reloader: Reloader, *,
                 runtime: Optional[RuntimeApi] = None, min_reload_interval: float = 2.0, debounce: float = 0.1,
                 election=None, check_config: bool = True, file_mode: int = 0o600,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if min_reload_interval < 0 or debounce < 0:
            raise ConfigError("--min-reload-interval/--debounce", min(min_reload_interval, debounce), "seconds >= 0")
        self.kind = kind
        self.make_model = make_model
        self.config_path = config_path
        self.source = source
        self.reloader = reloader
        self.runtime = runtime if kind == "haproxy" else None
        self.min_reload_interval = min_reload_interval
        self.debounce = debounce
        self.election = election
        self.check_config = check_config
        self.file_mode = file_mode
        self.clock = clock
        self.current: Optional[LoadBalancer] = None               # what the file on disk holds
        self.running: Optional[Dict[str, FrozenSet[str]]] = None  # servers the running process knows
        self.applied = 0                                          # changes applied (runtime or reload)
        self.reloads = 0
        self._last_reload = float("-inf")
        self._done_token: object = object()
        self._previous_text: Optional[str] = None  # the file as it was before the last write
        self._said: Optional[str] = None
        self._active: Optional[bool] = None  # None: not yet said either way
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    # -- lifecycle ------------------------------------------------------------------------------------------------
    def start(self) -> "Monitor":
        self._thread = threading.Thread(target=self.run, name=f"hive-ha-monitor {self.kind}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def run(self, stop: Optional[threading.Event] = None) -> None:
        stop = stop or self._stop
        while not stop.is_set() and not self._stop.is_set():
            if not self._leading():
                (self.election.wait_change if self.election else stop.wait)(0.2)
                continue
            reading = self.source.read()
            if reading.token is self._done_token or reading.token == self._done_token:
                stop.wait(POLL_INTERVAL)
                continue
            if self.debounce:
                stop.wait(self.debounce)
                settled = self.source.read()
                if settled.token != reading.token:
                    continue  # still moving: wait for it to settle
            wait = self.step(reading)
            if wait:
                stop.wait(wait)

    def _leading(self) -> bool:
        if self.election is None:
            return True
        leading = self.election.is_leader
        if leading != self._active:
            self._active = leading
            if leading:
                log.warning("%s monitor is now ACTIVE (%s): taking over the config", self.kind, self.election.path)
                self.current = self.running = None  # unknown until reconciled
                self._done_token = object()
            else:
                log.warning("%s monitor is STANDBY (%s): not changing the config", self.kind, self.election.path)
        return leading

    # -- one round ------------------------------------------------------------------------------------------------
    def step(self, reading: Reading) -> float:
        """Act on ``reading``; returns how long to wait before the next round (0: at once)."""
        if reading.stale:
            self._say(f"keeping the current config: {reading.note}", logging.WARNING)
            self._done_token = reading.token
            return 0.0
        desired = None
        if not reading.empty:
            try:
                desired = self.make_model(reading.binary, reading.http)
            except ConfigError as exc:
                self._say(f"keeping the current config: the new backend set is unusable: {exc}", logging.ERROR)
                self._done_token = reading.token
                return 0.0
        decision = decide(self.current, self.running, desired, runtime_api=self.runtime is not None)
        if decision.action == NOTHING:
            self._done_token = reading.token
            return 0.0
        if decision.action == REFUSE_EMPTY:
            self._say(f"refusing to publish an empty backend set ({reading.note}); keeping the last good one "
                      f"({_held(self.current)})", logging.WARNING)
            self._done_token = reading.token
            return 0.0
        started = self.clock()
        assert desired is not None
        if decision.action == RUNTIME:
            try:
                self._write(desired)
                for change in decision.changes:
                    self.runtime.set_server_state(change.backend, change.server, change.state)
            except LoadBalancerCommandFailed as exc:
                log.warning("%s runtime API failed (%s); falling back to a reload", self.kind, exc)
                decision = dataclasses.replace(decision, action=RELOAD)
                self.running = None
            except ConfigError as exc:
                return self._rejected(reading, exc)
            else:
                self.current = desired
                return self._applied(reading, decision, "runtime API", started)
        wait = self._last_reload + self.min_reload_interval - self.clock()
        if wait > 0:
            return wait  # coalesced: the next round re-reads the source and decides again
        return self._reload(reading, decision, desired, started)

    def _reload(self, reading: Reading, decision: Decision, desired: LoadBalancer, started: float) -> float:
        try:
            text = self._write(desired)
        except ConfigError as exc:
            return self._rejected(reading, exc)
        if self.current is None and self.running is None and self._was_current(text):
            self.current, self.running = desired, pools(desired)
            self._done_token = reading.token
            log.info("%s config already current (%s); no reload", self.kind, self.config_path)
            return 0.0
        self._last_reload = self.clock()
        self.current = desired
        try:
            self.reloader.reload()
        except LoadBalancerCommandFailed as exc:
            self.running = None
            self._say(f"wrote {self.config_path} but could not reload: {exc}; retrying", logging.ERROR)
            return max(self.min_reload_interval, 1.0)
        self.running = pools(desired)
        self.reloads += 1
        return self._applied(reading, decision, "reload", started)

    def _write(self, desired: LoadBalancer) -> str:
        text = render(self.kind, desired)
        self._previous_text = _read(self.config_path)
        if self.check_config:
            check_model(self.kind, desired)
        write_atomically(self.config_path, text, self.file_mode, key="--config")
        return text

    def _was_current(self, text: str) -> bool:
        return self._previous_text == text

    def _applied(self, reading: Reading, decision: Decision, how: str, started: float) -> float:
        self.applied += 1
        self._done_token = reading.token
        self._said = None
        log.info("%s: %s, applied by %s in %.0f ms", self.kind, decision.describe(), how,
                 (self.clock() - started) * 1000)
        return 0.0

    def _rejected(self, reading: Reading, exc: HiveHAError) -> float:
        self._say(f"keeping the last good config: the candidate was refused: {exc}", logging.ERROR)
        self._done_token = reading.token
        return 0.0

    def _say(self, message: str, level: int) -> None:
        """Log a condition once until something is applied again (not once per round)."""
        if message != self._said:
            self._said = message
            log.log(level, "%s monitor: %s", self.kind, message)


def _held(model: Optional[LoadBalancer]) -> str:
    """What the config on disk serves, per listener (servers the running HAProxy keeps in maintenance excluded)."""
    if model is None:
        return "none written by this monitor yet"
    return "; ".join(f"{l.name}: {len(l.servers)} server{'' if len(l.servers) == 1 else 's'}" for l in model.listeners)


def _read(path: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError):
        return None
