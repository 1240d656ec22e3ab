"""Recovery after ``kill -9`` of the serving HiveServer2, inside the real Hue backend with hive-ha, through Hue's
notebook API (the same calls as the editor), for 2 and for 50 users with open editor sessions.

    $(cat .hue/python) benchmarks/hue_failover.py [--quick] [--json FILE]

All users run ``select current_server()`` at the same time before the kill (the baseline: the statement's own run,
under the same load), then again right after it. Recovery is the time from the first call after the kill to the last
user's answer, minus the baseline. Also printed: new HiveServer2 sessions per user after the kill and calls that
answered nothing or an error. The last line is ``recovery_ms_50_users=<ms>``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Dict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from hue_lookup import start_hue  # noqa: E402

WHO = "select current_server()"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one round per user count instead of three")
    parser.add_argument("--rounds", type=int, metavar="N", help="rounds per user count (default 3; --quick: 1): the "
                        "50-user figure varies from round to round, so compare medians of several")
    parser.add_argument("--users", default="2,50", metavar="N,N", help="user counts to run (default 2,50)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 3)
    user_counts = [int(n) for n in args.users.split(",")]

    with tempfile.TemporaryDirectory(prefix="hive-ha-bench-failover-") as home:
        start_hue(home)
        from django.core.management import call_command
        from django.db import connection

        # Each statement commits on its own, as on the server databases multi-user Hue runs on (sqlite fails a
        # request-long transaction that reads then writes while another writes: see tests/hue/conftest.py).
        connection.settings_dict["ATOMIC_REQUESTS"] = False
        connection.settings_dict["OPTIONS"]["timeout"] = 120
        call_command("migrate", verbosity=0, interactive=False)
        from beeswax import conf as beeswax_conf
        from desktop.lib.django_test_util import make_logged_in_client
        from desktop.lib.test_utils import grant_access
        from libzookeeper import conf as zk_conf

        from hive_ha.sandbox.hs2server import HS2Server
        from hive_ha.sandbox.registrar import Registrar
        from hive_ha.sandbox.zookeeper import ZooKeeperServer
        from hue_integration import install
        from tests.hue.editor import DjangoTransport, Editor

        results: Dict[str, Dict[str, float]] = {}
        with ZooKeeperServer() as zk:
            zk_conf.ENSEMBLE.set_for_testing(zk.hosts)
            beeswax_conf.HIVE_DISCOVERY_HS2.set_for_testing("true")
            print(f"{'users':>6}{'round':>7}{'recovery ms':>13}{'statement ms':>14}{'new sessions/user':>19}"
                  f"{'empty answers':>15}")
            for users in user_counts:
                recoveries = []
                for round_ in range(rounds):
                    namespace = f"/bench_{users}_{round_}"
                    beeswax_conf.HIVE_DISCOVERY_HIVESERVER2_ZNODE.set_for_testing(namespace)
                    a = HS2Server("hs2-a", host="127.0.0.1").start()
                    b = HS2Server("hs2-b", host="127.0.0.2").start()
                    with Registrar(zk.hosts) as registrar:
                        reg_a = registrar.register(a.host, a.port, namespace=namespace)
                        registrar.register(b.host, b.port, namespace=namespace)
                        install.install_if_enabled()
                        editors = []
                        for i in range(users):
                            name = f"u{users}_{round_}_{i}"
                            client = make_logged_in_client(username=name, password="pw", is_superuser=False,
                                                           groupname="default")
                            for app in ("beeswax", "hive", "notebook"):
                                grant_access(name, "default", app)
                            editors.append(Editor(DjangoTransport(client)))
                        from django.core.cache import cache
                        cache.delete("perms")
                        for editor in editors:  # one at a time: a user's first query also creates their home
                            editor.create_session()  # documents, which sqlite cannot do for many users at once
                            assert editor.run(WHO) == [["hs2-a"]]

                        def one(editor):
                            try:
                                return editor.run(WHO, timeout=120)
                            except AssertionError as exc:
                                return str(exc)
                            finally:
                                connection.close()

                        def everyone():
                            start = time.monotonic()
                            with ThreadPoolExecutor(max_workers=min(users, 16)) as pool:
                                answers = list(pool.map(one, editors))
                            return answers, time.monotonic() - start

                        answers, statement = everyone()
                        assert answers == [[["hs2-a"]]] * users, answers
                        a.kill()
                        reg_a.crash()
                        answers, elapsed = everyone()
                        recovery = max(0.0, elapsed - statement)
                        empty = sum(1 for answer in answers if answer != [["hs2-b"]])
                        per_user = len(b.sessions) / users
                        recoveries.append(recovery)
                        print(f"{users:>6}{round_ + 1:>7}{recovery * 1000:>13.0f}{statement * 1000:>14.1f}"
                              f"{per_user:>19.2f}{empty:>15}")
                        results[f"{users}/{round_}"] = {
                            "recovery_ms": recovery * 1000, "statement_ms": statement * 1000,
                            "new_sessions_per_user": per_user, "empty_answers": empty}
                        install.uninstall()
                    a.stop()
                    b.stop()
                results[f"{users}/median"] = {"recovery_ms": statistics.median(recoveries) * 1000}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)
    for users in user_counts:
        print(f"recovery_ms_{users}_users={results[f'{users}/median']['recovery_ms']:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
