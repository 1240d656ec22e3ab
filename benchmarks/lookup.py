"""Lookup latency: hive-ha's cache vs a ZooKeeper client per lookup (what Hue 4.11 and the Hive JDBC driver do).

Both run in this process against the same real ZooKeeper holding three registered HiveServer2s.

    python benchmarks/lookup.py [--quick] [--json FILE]

Prints p50/p99 per thread count, ZooKeeper requests per 10,000 warm lookups, and as its LAST line
``speedup_vs_per_call_zk=<N>x`` (single-threaded p50 ratio).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from typing import Callable, Dict, List

from kazoo.client import KazooClient

from hive_ha import Discovery, Service, ZkSettings
from hive_ha.sandbox.zookeeper import ZooKeeperServer
from hive_ha.io.zookeeper import POOL

NAMESPACE = "/hiveserver2"


def register(hosts: str, count: int = 3) -> KazooClient:
    client = KazooClient(hosts=hosts)
    client.start()
    client.ensure_path(NAMESPACE)
    for i in range(count):
        port = 10000 + i
        client.create(f"{NAMESPACE}/serverUri=127.0.0.1:{port};version=3.1.3;sequence=",
                      f"hive.server2.thrift.bind.host=127.0.0.1;hive.server2.thrift.port={port};"
                      f"hive.server2.transport.mode=binary;hive.server2.authentication=NONE".encode(),
                      ephemeral=True, sequence=True)
    return client


def per_call_lookup(hosts: str) -> str:
    """Hue 4.11's way: a fresh client, list, read the oldest, stop."""
    client = KazooClient(hosts=hosts, timeout=10)
    client.start(timeout=10)
    try:
        children = sorted(client.get_children(NAMESPACE), key=lambda n: n.rsplit("=", 1)[-1])
        data, _ = client.get(f"{NAMESPACE}/{children[0]}")
        return data.decode()
    finally:
        client.stop()
        client.close()


def run_threads(fn: Callable[[], object], threads: int, per_thread: int) -> List[float]:
    """Each thread times ``per_thread`` calls; returns all latencies in microseconds."""
    samples: List[List[float]] = [[] for _ in range(threads)]
    barrier = threading.Barrier(threads)

    def worker(out: List[float]) -> None:
        clock = time.perf_counter_ns
        barrier.wait()
        for _ in range(per_thread):
            start = clock()
            fn()
            out.append((clock() - start) / 1000.0)

    pool = [threading.Thread(target=worker, args=(s,)) for s in samples]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return [x for s in samples for x in s]


def pct(values: List[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def zk_packets(zk: ZooKeeperServer) -> int:
    for line in zk.four_letter_word("mntr").splitlines():
        key, _, value = line.partition("\t")
        if key == "zk_packets_received":
            return int(value)
    raise RuntimeError("mntr gave no zk_packets_received")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (finishes in well under 30 s)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    cached_calls = 20000 if args.quick else 200000
    base_calls = {1: 60, 8: 10, 64: 2} if args.quick else {1: 400, 8: 60, 64: 8}
    results: Dict[str, Dict[str, float]] = {}

    with ZooKeeperServer() as zk:
        registrar = register(zk.hosts)
        discovery = Discovery(ZkSettings(hosts=zk.hosts, connect_timeout=10))
        service = Service.of("hs2", NAMESPACE)
        expected = discovery.endpoint(service)  # cold lookup: starts the watcher
        assert per_call_lookup(zk.hosts).find(f"thrift.port={expected.port}") >= 0
        lookup = lambda: discovery.endpoint(service, "alice")  # noqa: E731
        run_threads(lookup, 1, 1000)  # warm-up

        # mntr itself may count as a packet: measure that overhead and subtract it.
        before = zk_packets(zk)
        overhead = zk_packets(zk) - before
        before = zk_packets(zk)
        for _ in range(10000):
            lookup()
        zk_requests = zk_packets(zk) - before - overhead

        print(f"{'method':<22}{'threads':>8}{'calls':>9}{'p50 us':>12}{'p99 us':>12}")
        for threads in (1, 8, 64):
            for name, fn, calls in (("hive-ha cache", lookup, max(50, cached_calls // threads)),
                                    ("zk client per lookup", lambda: per_call_lookup(zk.hosts), base_calls[threads])):
                lat = run_threads(fn, threads, calls)
                row = {"p50_us": pct(lat, 0.50), "p99_us": pct(lat, 0.99), "mean_us": statistics.fmean(lat),
                       "calls": len(lat)}
                results[f"{name}/{threads}"] = row
                print(f"{name:<22}{threads:>8}{len(lat):>9}{row['p50_us']:>12.2f}{row['p99_us']:>12.2f}")
        discovery.close()
        POOL.close_all()
        registrar.stop()
        registrar.close()

    for threads in (1, 8, 64):
        ratio = results[f"zk client per lookup/{threads}"]["p50_us"] / results[f"hive-ha cache/{threads}"]["p50_us"]
        results[f"ratio/{threads}"] = {"p50": ratio}
        print(f"p50 ratio at {threads:>2} threads: {ratio:,.0f}x")
    print(f"zookeeper_requests_per_10000_warm_lookups={zk_requests}")
    speedup = results["ratio/1"]["p50"]
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"results": results, "zk_requests_per_10000": zk_requests}, fh, indent=2)
    print(f"speedup_vs_per_call_zk={speedup:.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
