"""Hue's query-server lookup inside the real Hue backend: Hue 4.11 alone vs Hue with hive-ha, side by side in one run.

Runs with the Python of Hue's virtualenv (`make bench` uses the one scripts/hue-venv.sh built):

    $(cat .hue/python) benchmarks/hue_lookup.py [--quick] [--json FILE]

Both configurations use the same real ZooKeeper holding two registered HiveServer2s, and both forms Hue calls:
the plain ``get_query_server_config()`` and the editor's ``get_query_server_config(name='beeswax',
connector=<interpreter>)``. ZooKeeper requests are counted on the server (``mntr``). The last two lines are
``hue_editor_lookup_speedup=<N>x`` (p50, Hue alone / hive-ha) and ``zookeeper_requests_per_1000_editor_lookups=<n>``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from typing import Callable, Dict, List

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from lookup import pct, zk_packets  # noqa: E402  (the lookup benchmark's helpers)


def start_hue(home: str, desktop: str = "", database: str = "") -> None:
    """Hue's start-up from a hue.ini with discovery off (each side switches it on with Hue's set_for_testing);
    ``desktop``: more ``[desktop]`` subsections (``[[kerberos]]``); ``database``: its ``[[database]]`` section
    (default: a sqlite file in ``home``)."""
    conf = os.path.join(home, "conf")
    os.makedirs(conf)
    database = database or f"[[database]]\nengine=sqlite3\nname={home}/desktop.db\n"
    with open(os.path.join(conf, "hue.ini"), "w") as f:
        f.write(f"[desktop]\nsecret_key=benchmark-not-a-secret-0123456789\n{database}{desktop}")
    os.environ.update(HUE_CONF_DIR=conf, DESKTOP_LOG_DIR=os.path.join(home, "logs"),
                      DJANGO_SETTINGS_MODULE="desktop.settings", DESKTOP_LOGLEVEL="WARNING")
    import django

    django.setup()


def timed(fn: Callable[[], object], calls: int) -> List[float]:
    clock = time.perf_counter_ns
    out = []
    for _ in range(calls):
        start = clock()
        fn()
        out.append((clock() - start) / 1000.0)
    return out


def packets_per_1000(zk, fn) -> int:
    """Packets the ZooKeeper server received during 1,000 calls of ``fn``. The best of three such windows is what the
    lookups cost: the sessions' pings (every ~10 s each, the registrar's too) land in one window now and then."""
    before = zk_packets(zk)
    overhead = zk_packets(zk) - before  # mntr may count itself
    before = zk_packets(zk)
    timed(fn, 1000)
    return zk_packets(zk) - before - overhead


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (well under a minute)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    hue_calls, ours_calls = (100, 20000) if args.quick else (500, 200000)

    with tempfile.TemporaryDirectory(prefix="hive-ha-bench-hue-") as home:
        start_hue(home)
        from beeswax import conf as beeswax_conf
        from beeswax.server import dbms
        from libzookeeper import conf as zk_conf
        from notebook.conf import get_ordered_interpreters

        from hive_ha.sandbox.registrar import Registrar
        from hive_ha.sandbox.zookeeper import ZooKeeperServer
        from hue_integration import install

        results: Dict[str, Dict[str, float]] = {}
        with ZooKeeperServer() as zk, Registrar(zk.hosts) as registrar:
            for port in (10000, 10001):
                registrar.register("127.0.0.1", port, namespace="/hiveserver2")
            for config, value in ((beeswax_conf.HIVE_DISCOVERY_HS2, "true"), (zk_conf.ENSEMBLE, zk.hosts),
                                  (beeswax_conf.HIVE_DISCOVERY_HIVESERVER2_ZNODE, "/hiveserver2")):
                config.set_for_testing(value)
            interpreter = next(i for i in get_ordered_interpreters() if i["type"] == "hive")
            forms = {
                "plain": lambda: dbms.get_query_server_config(),
                "editor": lambda: dbms.get_query_server_config(name="beeswax", connector=interpreter),
            }
            sides = (("hue alone", hue_calls), ("hue + hive-ha", ours_calls))
            requests = {}
            print(f"{'configuration':<16}{'form':<8}{'calls':>9}{'p50 us':>12}{'p99 us':>12}{'zk req/1000':>13}")
            for side, calls in sides:
                if side == "hue + hive-ha":
                    install.install_if_enabled()
                for form, fn in forms.items():
                    assert fn()["server_port"] == 10000  # both pick the oldest server
                    timed(fn, min(calls, 1000) // 10)  # warm-up
                    per_1000 = min(packets_per_1000(zk, fn) for _ in range(3))
                    lat = timed(fn, calls)
                    results[f"{side}/{form}"] = {"p50_us": pct(lat, 0.5), "p99_us": pct(lat, 0.99), "calls": calls,
                                                 "zk_requests_per_1000": per_1000}
                    requests[(side, form)] = per_1000
                    print(f"{side:<16}{form:<8}{calls:>9}{pct(lat, 0.5):>12.2f}{pct(lat, 0.99):>12.2f}"
                          f"{per_1000:>13}")
            install.uninstall()

    for form in ("plain", "editor"):
        ratio = results[f"hue alone/{form}"]["p50_us"] / results[f"hue + hive-ha/{form}"]["p50_us"]
        results[f"ratio/{form}"] = {"p50": ratio}
        print(f"p50 ratio, {form} form: {ratio:,.0f}x")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)
    print(f"hue_editor_lookup_speedup={results['ratio/editor']['p50']:.0f}x")
    print(f"zookeeper_requests_per_1000_editor_lookups={requests[('hue + hive-ha', 'editor')]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
