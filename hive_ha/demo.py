"""``make demo``: a local ZooKeeper, three HiveServer2-protocol servers, discovery and failover, narrated.

Every process it starts is stopped at the end (and on Ctrl-C).
"""
from __future__ import annotations

import logging
import sys
import time
from contextlib import ExitStack
from typing import Dict, List

from pyhive import hive

from .discovery import Discovery
from .errors import NoEndpointAvailable
from .failover import FailoverPolicy, with_failover
from .layouts import Service
from .testing.hs2server import HS2ServerProcess
from .testing.registrar import Registrar
from .testing.waiting import wait_until
from .testing.zookeeper import ZooKeeperServer
from .zkclient import ZkSettings

USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
SESSION_TIMEOUT = 4.0  # the servers' ZooKeeper session: how long a crashed server's znode lingers


def say(text: str = "") -> None:
    print(text, flush=True)


def step(title: str) -> None:
    say()
    say(f"== {title}")


def run_query(discovery: Discovery, service: Service, user: str) -> str:
    """Open a session where discovery says (failing over on connection errors) and ask who answered."""
    def open_session(endpoint):
        return hive.connect(endpoint.host, endpoint.port, auth="NOSASL", username=user)

    conn = with_failover(discovery, service, open_session, user=user, policy=FailoverPolicy(connect=3))
    try:
        cursor = conn.cursor()
        cursor.execute("select current_server()")
        return cursor.fetchall()[0][0]
    finally:
        conn.close()


def show_assignment(discovery: Discovery, service: Service) -> Dict[str, str]:
    placed = {user: run_query(discovery, service, user) for user in USERS}
    for server in sorted(set(placed.values())):
        say(f"   {server}: {', '.join(u for u in USERS if placed[u] == server)}")
    return placed


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="   [log] %(message)s", stream=sys.stdout)
    for noisy in ("hive_ha.kazoo", "kazoo", "thrift"):  # connection chatter; the failover line is what matters
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    with ExitStack() as stack:
        step("1. Start a ZooKeeper and three HiveServer2-protocol servers, registered as Hive does")
        zk = stack.enter_context(ZooKeeperServer(name="demo-zk"))
        say(f"   zookeeper={zk.hosts} namespace=/hiveserver2")
        registrar = stack.enter_context(Registrar(zk.hosts, session_timeout=SESSION_TIMEOUT))
        servers: List[HS2ServerProcess] = []
        registrations = []
        for name in ("hs2-a", "hs2-b", "hs2-c"):
            proc = stack.enter_context(HS2ServerProcess(name, auth="NOSASL"))
            servers.append(proc)
            registrations.append(registrar.register(proc.host, proc.port, namespace="/hiveserver2",
                                                    authentication="NOSASL"))
            say(f"   {name} pid={proc.pid} at {proc.address}  znode {registrations[-1].znode}")

        step("2. Discovery: one long-lived watcher, every lookup answered from the cache")
        discovery = Discovery(ZkSettings(hosts=zk.hosts, connect_timeout=10), policy="per_user")
        stack.callback(discovery.close)
        service = Service.of("hs2", "/hiveserver2")
        for e in discovery.endpoints(service).endpoints:
            say(f"   found {e.address:<18} sequence={e.sequence} transport={e.transport_mode} auth={e.authentication}")
        t0 = time.perf_counter()
        for _ in range(10000):
            discovery.endpoint(service, "alice")
        say(f"   10,000 warm lookups: {(time.perf_counter() - t0) * 1e6 / 10000:.1f} us each, no ZooKeeper request")
        say("   per_user policy: users spread over the servers (rendezvous hashing); a query per user:")
        before = show_assignment(discovery, service)

        victim = servers[[s.name for s in servers].index(before["alice"])]
        step(f"3. kill -9 {victim.name} (the server of alice); its znode lingers until its ZooKeeper session expires")
        victim.kill()
        registrations[servers.index(victim)].crash()
        t0 = time.perf_counter()
        run_query(discovery, service, "alice")
        say(f"   alice's next query: connection refused -> failure reported -> new server, "
            f"answered in {(time.perf_counter() - t0) * 1000:.0f} ms")
        after = show_assignment(discovery, service)
        moved = [u for u in USERS if before[u] != after[u]]
        say(f"   moved: {', '.join(moved)} (only {victim.name}'s users); "
            f"reselections: {discovery.cache.generation(service)}")
        t0 = time.perf_counter()
        wait_until(lambda: len(discovery.endpoints(service).endpoints) == 2, timeout=SESSION_TIMEOUT * 5)
        say(f"   the watch saw {victim.name}'s znode expire {time.perf_counter() - t0:.1f} s later "
            f"(server session timeout {SESSION_TIMEOUT:g} s)")

        step("4. Kill the remaining servers: the error says what was found and what is excluded")
        for proc, reg in zip(servers, registrations):
            if proc is not victim:
                proc.kill()
                reg.crash()
        try:
            for _ in USERS:
                run_query(discovery, service, "alice")
        except NoEndpointAvailable as exc:
            say(f"   NoEndpointAvailable: {exc}")
        else:  # pragma: no cover - the demo's point
            say("   unexpected: a query succeeded with every server dead")
            return 1

        step("5. Clean up")
    say("   all servers stopped, ZooKeeper stopped, temp dirs removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
