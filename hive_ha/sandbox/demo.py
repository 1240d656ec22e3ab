"""``make demo``: a sandbox with HS2 and HSI-HA layouts, discovery, DB-API queries, a hard kill with the failover
timed, an HSI leader flip, an HAProxy config validated by haproxy, and teardown, narrated.

Every process it starts is stopped at the end (and on Ctrl-C).
"""
from __future__ import annotations

import logging
import socket
import sys
import tempfile
import time
from typing import Dict, List

from hive_ha.clients import dbapi
from hive_ha.core.discovery import Discovery
from hive_ha.errors import AllServersFailed, NoEndpointAvailable
from hive_ha.io.zookeeper import POOL, ZkSettings
from hive_ha.lb import ProfileOptions, RuntimePaths, build, check, render
from hive_ha.lb.render import binary_available
from hive_ha.model.layouts import Service
from hive_ha.sandbox.cluster import Sandbox, SandboxOptions, SandboxServer
from hive_ha.sandbox.zookeeper import free_port
from hive_ha.testing.waiting import wait_until

USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
SESSION_TIMEOUT = 4.0  # the servers' ZooKeeper session: how long a crashed server's znode lingers
WAIT = 60.0  # generous bound for anything awaited (a loaded 2-core CI machine)


def say(text: str = "") -> None:
    print(text, flush=True)


def step(title: str) -> None:
    say()
    say(f"== {title}")


def query(hosts: str, user: str, layout: str = "hs2", namespace: str = "/hiveserver2") -> str:
    """One DB-API connection found through ZooKeeper (hive_ha.connect), one query: which server answered."""
    conn = dbapi.connect(zookeeper=hosts, layout=layout, namespace=namespace, username=user, policy="per_user")
    try:
        cursor = conn.cursor()
        cursor.execute("select current_server()")
        return cursor.fetchall()[0][0]
    finally:
        conn.close()


def show_assignment(hosts: str) -> Dict[str, str]:
    placed = {user: query(hosts, user) for user in USERS}
    for server in sorted(set(placed.values())):
        say(f"   {server}: {', '.join(u for u in USERS if placed[u] == server)}")
    return placed


def port_closed(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except OSError:
        return True
    return False


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="   [log] %(message)s", stream=sys.stdout)
    for noisy in ("hive_ha", "kazoo", "thrift", "pyhive"):  # connection chatter; the narrated lines are what matter
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    started = time.perf_counter()
    sandbox = Sandbox(SandboxOptions(servers=3, layout="hs2", session_timeout=SESSION_TIMEOUT))
    with sandbox:
        step("1. Sandbox: a ZooKeeper, three HiveServer2s (layout hs2) and two HSI instances (layout hsi-ha)")
        say(f"   {sandbox.header_line()}")
        hsi = sandbox.add_servers(2, "hsi-ha")
        for server in sandbox.servers:
            say(f"   {Sandbox.server_line(server)}")
        hosts = sandbox.hosts
        hs2_service = Service.of("hs2", "/hiveserver2")
        hsi_service = Service.of("hsi-ha", hsi[0].namespace)

        step("2. Discovery: one long-lived watcher per service, every lookup answered from memory")
        discovery = Discovery(ZkSettings(hosts=hosts, connect_timeout=WAIT), policy="per_user")
        try:
            for service in (hs2_service, hsi_service):
                for e in discovery.snapshot(service).endpoints:
                    role = "" if e.active is None else (" ACTIVE" if e.active else " passive")
                    say(f"   {service.layout.name:<6} {e.address:<18} transport={e.transport_mode} "
                        f"auth={e.authentication}{role}")
            t0 = time.perf_counter()
            for _ in range(10000):
                discovery.endpoint(hs2_service, "alice")
            say(f"   10,000 warm lookups: {(time.perf_counter() - t0) * 1e6 / 10000:.1f} us each, no ZooKeeper request")
            return _story(sandbox, discovery, hosts, hs2_service, hsi_service, hsi, started)
        finally:
            discovery.close()
            dbapi.close_discoveries()
            POOL.close_all()


def _story(sandbox: Sandbox, discovery: Discovery, hosts: str, hs2_service: Service, hsi_service: Service,
           hsi: List[SandboxServer], started: float) -> int:
    step("3. Queries through the DB-API connection: hive_ha.connect(zookeeper=..., username=..., policy='per_user')")
    say("   users spread over the servers (rendezvous hashing); one query per user:")
    before = show_assignment(hosts)

    hs2 = [s for s in sandbox.servers if s.layout == "hs2"]
    victim = next(s for s in hs2 if s.name == before["alice"])
    step(f"4. kill -9 {victim.name} (alice's server, pid {victim.pid}); its znode lingers until its session expires")
    sandbox.kill(victim)
    t0 = time.perf_counter()
    answered = query(hosts, "alice")
    say(f"   alice's next connect: refused by {victim.address} -> failure reported -> {answered}: "
        f"connected and answered in {(time.perf_counter() - t0) * 1000:.0f} ms")
    after = show_assignment(hosts)
    moved = [u for u in USERS if before[u] != after[u]]
    only_victims = all(before[u] == victim.name for u in moved)
    say(f"   moved: {', '.join(moved)} ("
        + (f"only {victim.name}'s users; the others kept their server)" if only_victims else "unexpected: others too)"))
    t0 = time.perf_counter()
    wait_until(lambda: len(discovery.snapshot(hs2_service).endpoints) == 2, timeout=WAIT,
               message=f"{victim.name}'s znode did not expire")
    say(f"   the watch saw {victim.name}'s znode expire {time.perf_counter() - t0:.1f} s later "
        f"(server session timeout {SESSION_TIMEOUT:g} s)")

    step("5. HSI Active/Passive: the leader flips")
    say(f"   a query on layout hsi-ha is answered by {query(hosts, 'alice', 'hsi-ha', hsi_service.namespace)} "
        "(the active instance)")
    t0 = time.perf_counter()
    sandbox.make_active(hsi[1])
    wait_until(lambda: [e.address for e in discovery.snapshot(hsi_service).candidates] == [hsi[1].address],
               timeout=WAIT, message="discovery did not see the new leader")
    seen = (time.perf_counter() - t0) * 1000
    say(f"   {hsi[1].name} made active: discovery saw the new leader {seen:.0f} ms after the registry changed")
    wait_until(lambda: query(hosts, "alice", "hsi-ha", hsi_service.namespace) == hsi[1].name, timeout=WAIT,
               message="queries did not reach the new leader")
    say(f"   the next query is answered by {hsi[1].name} "
        f"({(time.perf_counter() - t0) * 1000:.0f} ms after the flip)")

    step("6. An HAProxy config for the live HiveServer2s, validated by haproxy -c")
    live = [e for e in discovery.snapshot(hs2_service).endpoints]
    with tempfile.TemporaryDirectory(prefix="hive-ha-demo-lb-") as workdir:
        options = ProfileOptions(servers=tuple((e.host, e.port) for e in live), bind_host="127.0.0.1",
                                 binds=(("hs2_binary", ("127.0.0.1", free_port())),),
                                 paths=RuntimePaths.under(workdir))
        text = render("haproxy", build("haproxy", "hiveserver2", options))
        for line in text.splitlines():
            if line.strip().startswith(("frontend", "backend", "bind", "balance", "server ")):
                say(f"   | {line.strip()}")
        if binary_available("haproxy"):
            check("haproxy", text)
            say(f"   haproxy -c: configuration valid ({len(text.splitlines())} lines)")
        else:  # pragma: no cover - `make demo` installs haproxy
            say("   haproxy is not installed: config not validated (run `make system`)")

    step("7. Kill the remaining HiveServer2s: the error names every server tried")
    for server in hs2:
        if server is not victim:
            sandbox.kill(server)
    try:
        query(hosts, "alice")
    except (AllServersFailed, NoEndpointAvailable) as exc:
        say(f"   {type(exc).__name__}: {exc}")
    else:  # pragma: no cover - the demo's point
        say("   unexpected: a query succeeded with every server dead")
        return 1

    step("8. Teardown")
    addresses = [hosts] + [s.address for s in sandbox.servers]
    zk_dir = sandbox.zookeeper.dir
    sandbox.stop()
    closed = all(port_closed(a) for a in addresses)
    say(f"   {len(sandbox.servers)} servers and ZooKeeper stopped; ports {'closed' if closed else 'STILL OPEN'}; "
        f"{zk_dir} removed")
    say(f"   demo finished in {time.perf_counter() - started:.1f} s")
    return 0 if closed else 1


if __name__ == "__main__":
    sys.exit(main())
