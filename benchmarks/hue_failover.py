"""Recovery after ``kill -9`` of the serving HiveServer2, inside the real Hue backend with hive-ha, through Hue's
notebook API (the same calls as the editor), for 2 and for 50 users with open editor sessions.

    $(cat .hue/python) benchmarks/hue_failover.py [--quick] [--json FILE]
    $(cat .hue/python) benchmarks/hue_failover.py --kerberos [--users 2] [--rounds N]

``--kerberos``: the same in a Kerberized cluster (tests/hue/kerberized.py): an MIT KDC, ZooKeeper requiring SASL
GSSAPI, HiveServer2 processes accepting only GSSAPI on two host names of this machine, Hue's keytab with 12 s
tickets and ``hue kt_renewer`` in its own process, impersonation on. Each user's recovery is the time from the first
call after the kill to their answer from the survivor, minus the median statement time before it; the last line is
``kerberized_recovery_p50_ms=<ms> auth_errors=<n>`` (the median over every user and round, and the answers that
were a Kerberos/GSSAPI/SASL error).

All users run ``select current_server()`` at the same time before the kill (the baseline: the statement's own run,
under the same load), then again right after it. Recovery is the time from the first call after the kill to the last
user's answer, minus the baseline. Also printed: new HiveServer2 sessions per user after the kill and calls that
answered nothing or an error. The last line is ``recovery_ms_50_users=<ms>``.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional

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
    parser.add_argument("--kerberos", action="store_true", help="in a Kerberized cluster (default: 2 users)")
    args = parser.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 3)
    if args.kerberos:
        return kerberized(rounds, [int(n) for n in (args.users if args.users != "2,50" else "2").split(",")],
                          args.json)
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


AUTH_ERROR = re.compile(r"GSS|Kerberos|SASL|credential|ticket", re.I)


def kerberized(rounds: int, user_counts: List[int], json_file: Optional[str]) -> int:
    """The --kerberos run: ``rounds`` kill -9s per user count, each on fresh servers; see the module docstring."""
    from tests.hue.kerberized import KerberizedCluster, KtRenewer, configure_hue, kt_renewer_ini

    with tempfile.TemporaryDirectory(prefix="hive-ha-bench-krb-") as home:
        cluster = KerberizedCluster().start()
        ccache = os.path.join(home, "hue_krb5_ccache")
        renewer = None
        try:
            os.environ.update(cluster.env)  # this Hue host's krb5.conf
            # Hue's start-up exports ccache_path as KRB5CCNAME; hue kt_renewer fills it.
            start_hue(home, f"[[kerberos]]\nccache_path={ccache}\n")
            from django.core.management import call_command
            from django.db import connection

            connection.settings_dict["ATOMIC_REQUESTS"] = False  # as in the run without Kerberos (sqlite)
            connection.settings_dict["OPTIONS"]["timeout"] = 120
            call_command("migrate", verbosity=0, interactive=False)
            from desktop.lib.django_test_util import make_logged_in_client
            from desktop.lib.test_utils import grant_access
            from django.core.cache import cache

            from hue_integration import install
            from tests.hue.editor import DjangoTransport, Editor

            renewer_conf = os.path.join(home, "kt_renewer")  # its own hue.ini: Hue's [desktop] [[kerberos]] keys
            os.makedirs(renewer_conf)
            with open(os.path.join(renewer_conf, "hue.ini"), "w") as f:
                f.write(f"[desktop]\nsecret_key=benchmark-not-a-secret-0123456789\n[[database]]\nengine=sqlite3\n"
                        f"name={home}/desktop.db\n{kt_renewer_ini(cluster, ccache)}")
            env = dict(os.environ, HUE_CONF_DIR=renewer_conf, DESKTOP_LOG_DIR=renewer_conf)
            env.pop("DJANGO_SETTINGS_MODULE")  # the hue command sets its own
            renewer = KtRenewer(env, renewer_conf, ccache).start()
            print(f"{'users':>6}{'round':>7}{'recovery p50 ms':>17}{'max ms':>9}{'statement ms':>14}"
                  f"{'auth errors':>13}{'other errors':>14}")
            recoveries: List[float] = []
            auth_errors = 0
            results: Dict[str, Dict[str, float]] = {}
            for users in user_counts:
                for round_ in range(rounds):
                    namespace = f"/bench_krb_{users}_{round_}"
                    a = cluster.hs2("hs2-a", cluster.hosts[0], namespace)
                    b = cluster.hs2("hs2-b", cluster.hosts[1], namespace)
                    try:
                        configure_hue(cluster, namespace, os.path.join(home, "hive-conf"),
                                      lambda config, value: config.set_for_testing(value))
                        names = [f"k{users}_{round_}_{i}" for i in range(users)]
                        editors = []
                        for name in names:
                            client = make_logged_in_client(username=name, password="pw", is_superuser=False,
                                                           groupname="default")
                            for app in ("beeswax", "hive", "notebook"):
                                grant_access(name, "default", app)
                            editors.append(Editor(DjangoTransport(client)))
                        cache.delete("perms")
                        for name, editor in zip(names, editors):  # one at a time (sqlite: see above)
                            editor.create_session()
                            assert editor.run(WHO_KRB) == [["hs2-a", name, cluster.hue_principal]]

                        def one(editor, start):
                            try:
                                return editor.run(WHO_KRB, timeout=120), time.monotonic() - start
                            except AssertionError as exc:
                                return str(exc), time.monotonic() - start
                            finally:
                                connection.close()

                        def everyone():
                            start = time.monotonic()
                            with ThreadPoolExecutor(max_workers=min(users, 16)) as pool:
                                return list(pool.map(lambda e: one(e, start), editors))

                        before = everyone()
                        assert [answer for answer, _ in before] == \
                            [[["hs2-a", name, cluster.hue_principal]] for name in names], before
                        statement = statistics.median(took for _, took in before)
                        a.kill()
                        after = everyone()
                        expected = [[["hs2-b", name, cluster.hue_principal]] for name in names]
                        bad = [answer for (answer, _), want in zip(after, expected) if answer != want]
                        auth = sum(1 for answer in bad if AUTH_ERROR.search(str(answer)))
                        per_user = [max(0.0, took - statement) for _, took in after]
                        recoveries += per_user
                        auth_errors += auth
                        print(f"{users:>6}{round_ + 1:>7}{statistics.median(per_user) * 1000:>17.0f}"
                              f"{max(per_user) * 1000:>9.0f}{statement * 1000:>14.1f}{auth:>13}{len(bad) - auth:>14}")
                        results[f"{users}/{round_}"] = {
                            "recovery_p50_ms": statistics.median(per_user) * 1000,
                            "recovery_max_ms": max(per_user) * 1000, "statement_ms": statement * 1000,
                            "auth_errors": auth, "other_errors": len(bad) - auth}
                        install.uninstall()
                    finally:
                        a.kill()
                        b.kill()
        finally:
            if renewer is not None:
                renewer.stop()
            cluster.stop()
    if json_file:
        with open(json_file, "w") as fh:
            json.dump(results, fh, indent=2)
    print(f"kerberized_recovery_p50_ms={statistics.median(recoveries) * 1000:.0f} auth_errors={auth_errors}")
    return 0


#: Which server answered, the session's (impersonated) user and who authenticated: Hue's principal.
WHO_KRB = "select current_server(), current_user(), logged_in_user()"


if __name__ == "__main__":
    sys.exit(main())
