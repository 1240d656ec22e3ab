"""Load-balancer monitor: how fast a ZooKeeper change reaches traffic, and whether reloads drop connections.

Everything is real and runs in this process's control: a ZooKeeper server, haproxy (master-worker) or nginx on
loopback, small HTTP backends, and the monitor (discovery watcher -> decide -> render -> binary check -> atomic write
-> graceful reload).

    python benchmarks/lb.py [--quick] [--lb haproxy|nginx] [--json FILE]

1. Change latency: each round registers a new backend and removes the previous one in one ZooKeeper transaction, then
   times until a client connecting through the load balancer is answered by the new backend (p50/p99; target p99
   under 500 ms). The monitor runs with its default debounce and --min-reload-interval 0 (the rounds are spaced).
2. Reload safety: client threads open connections through the load balancer in a loop while it is reloaded N times
   in a row (haproxy: each reload waits for the new worker; nginx: paced 0.3 s apart); every connection that fails
   or gets no answer is counted. Target 0. The LAST line is ``failed_connections_during_reloads=<N>``.
"""
from __future__ import annotations

import argparse
import dataclasses
import http.client
import json
import os
import shutil
import statistics
import sys
import threading
import time
from typing import List, Optional

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from kazoo.client import KazooClient  # noqa: E402

from hive_ha.core.discovery import Discovery  # noqa: E402
from hive_ha.model.layouts import Service  # noqa: E402
from hive_ha.lb import ProfileOptions, RuntimePaths, build  # noqa: E402
from hive_ha.lb.haproxy import admin_socket  # noqa: E402
from hive_ha.lb.monitor import Monitor, ZooKeeperSource  # noqa: E402
from hive_ha.lb.reload import Reloader  # noqa: E402
from hive_ha.lb.runtime_api import RuntimeApi  # noqa: E402
from tests.rig.lbrig import HueBackend, LoadBalancerProcess, lb_workdir  # noqa: E402
from hive_ha.sandbox.zookeeper import ZooKeeperServer, free_port  # noqa: E402
from hive_ha.io.zookeeper import ClientPool, ZkSettings  # noqa: E402

NAMESPACE = "/hiveserver2-lb-bench"


def znode_data(port: int) -> bytes:
    return (f"hive.server2.thrift.bind.host=127.0.0.1;hive.server2.thrift.port={port};"
            "hive.server2.transport.mode=binary;hive.server2.authentication=NONE").encode()


def fetch(port: int, timeout: float = 5.0) -> Optional[str]:
    """One new connection through the LB and one request: the answering backend's name, None on any failure."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        body = response.read().decode()
        return body if response.status == 200 else None
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def percentile(values: List[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def change_latency(zk: KazooClient, lb_port: int, backends: List[HueBackend], monitor: Monitor) -> List[float]:
    latencies = []
    previous = None
    for backend in backends:
        transaction = zk.transaction()
        transaction.create(f"{NAMESPACE}/serverUri=127.0.0.1:{backend.port};version=3.1.3;sequence=",
                           znode_data(backend.port), ephemeral=True, sequence=True)
        if previous:
            transaction.delete(previous)
        applied = monitor.applied
        started = time.monotonic()
        results = transaction.commit()
        previous = results[0]
        deadline = started + 30
        while fetch(lb_port, timeout=2) != backend.name:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{backend.name} never got traffic")
            time.sleep(0.002)
        latencies.append((time.monotonic() - started) * 1000)
        # Let the monitor finish this change and the old worker go, so each round measures one change alone.
        while monitor.applied < applied + 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)
    return latencies


def reloads_under_load(reloader: Reloader, kind: str, lb_port: int, count: int, threads: int = 2) -> dict:
    stop = threading.Event()
    counts = {"ok": 0, "failed": 0}
    lock = threading.Lock()

    def client_loop():
        while not stop.is_set():
            ok = fetch(lb_port) is not None
            with lock:
                counts["ok" if ok else "failed"] += 1

    workers = [threading.Thread(target=client_loop, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    started = time.monotonic()
    for _ in range(count):
        reloader.reload()
        if kind != "haproxy":
            time.sleep(0.3)  # nginx's reload is asynchronous: pace the signals
    elapsed = time.monotonic() - started
    time.sleep(0.2)
    stop.set()
    for worker in workers:
        worker.join(10)
    return {"reloads": count, "seconds": elapsed, "connections": counts["ok"] + counts["failed"],
            "failed": counts["failed"]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (well under a minute)")
    parser.add_argument("--lb", choices=("haproxy", "nginx"), default="haproxy", help="load balancer (default haproxy)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    rounds, reloads = (5, 10) if args.quick else (40, 50)
    kind = args.lb

    workdir = lb_workdir("hive-ha-lb-bench-")
    backends = [HueBackend(f"b{i}") for i in range(rounds + 1)]
    binds = tuple((name, ("127.0.0.1", free_port())) for name in ("impala_shell", "impala_jdbc", "impala_hue"))
    opts = ProfileOptions(bind_host="127.0.0.1", binds=binds, check_interval=0.5, paths=RuntimePaths.under(workdir))
    lb = monitor = discovery = zk = None
    pool = ClientPool()
    try:
        with ZooKeeperServer() as server:
            try:
                zk = KazooClient(hosts=server.hosts)
                zk.start()
                zk.ensure_path(NAMESPACE)
                lb = LoadBalancerProcess(kind, build(kind, "impala", dataclasses.replace(
                    opts, servers=(backends[0].address,))), own_dir=False).start()
                port = lb.port("impala_jdbc")
                discovery = Discovery(ZkSettings(hosts=server.hosts, connect_timeout=15), pool=pool)
                reloader = Reloader.for_paths(kind, opts.paths)

                def make_model(binary, http):
                    return build(kind, "impala", dataclasses.replace(opts, servers=binary, http_servers=http))

                monitor = Monitor(kind, make_model, lb.config_file, ZooKeeperSource(discovery, Service.of("hs2", NAMESPACE)),
                                  reloader, runtime=RuntimeApi(admin_socket(opts.paths)), min_reload_interval=0).start()
                latencies = change_latency(zk, port, backends[1:], monitor)
                p50, p99 = statistics.median(latencies), percentile(latencies, 0.99)
                print(f"{kind}: ZooKeeper change -> traffic on the new backend over {len(latencies)} changes: "
                      f"p50={p50:.1f} ms p99={p99:.1f} ms (max {max(latencies):.1f} ms; target p99 < 500 ms)")
                monitor.stop()
                result = reloads_under_load(reloader, kind, port, reloads)
                print(f"{kind}: {result['reloads']} consecutive reloads in {result['seconds']:.1f} s under a client loop: "
                      f"{result['connections']} connections, {result['failed']} failed (target 0)")
                if args.json:
                    with open(args.json, "w", encoding="utf-8") as handle:
                        json.dump({"lb": kind, "change_latency_ms": {"p50": p50, "p99": p99, "samples": latencies},
                                   "reloads": result}, handle, indent=2)
                print(f"failed_connections_during_reloads={result['failed']}")
            finally:  # ZooKeeper clients go before the server does
                if monitor is not None:
                    monitor.stop()
                if discovery is not None:
                    discovery.close()
                pool.close_all()
                if zk is not None:
                    zk.stop()
                    zk.close()
    finally:
        if lb is not None:
            lb.stop()
        for backend in backends:
            backend.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
