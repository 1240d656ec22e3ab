"""Recovery after ``kill -9`` of the serving HiveServer2 with hive-ha in the real Hue, through Hue's notebook API (the
same calls as the editor), for 2 and for 50 users with open editor sessions.

    $(cat .hue/python) benchmarks/hue_failover.py [--quick] [--db postgresql|mysql|sqlite] [--json FILE]
    $(cat .hue/python) benchmarks/hue_failover.py --kerberos [--users 2] [--rounds N]
    $(cat .hue/python) benchmarks/hue_failover.py --hue-instances 2 [--db postgresql|mysql] [--spark] [--users 50]

``--db``: the database Hue runs on (default ``postgresql``; a server started for the run, tests/rig/databases.py), with
Hue's settings as they are (each request one transaction). On ``sqlite`` (one writer for the whole database: a request
that read and then writes fails while another connection writes) the users' calls take turns, one at a time: the
figures are then Hue's on sqlite for one user at a time, not for users at once.

``--hue-instances N``: Hue as it runs in production (tests/hue/topology.py): N ``hue rungunicornserver`` instances
(``--workers`` forked workers each) sharing the ``--db`` database, behind HAProxy configured by ``hive-ha emit haproxy
--profile hue`` and ``hive-ha monitor``; the users sign in and work over HTTP with Hue's JWT REST API through the load
balancer only. The HiveServer2s are the sandbox's (child processes) or, with ``--spark``, Spark Thrift Servers, each
registered in ZooKeeper as it starts. Each round has three phases, all users at once in each, and times each user's
statement (execute, status polls, fetch) through the load balancer:

- *first* (the floor): the serving server leaves ZooKeeper and keeps running (a rolling restart's first step), and
  every user's next statement goes to a fresh server: a first session and query there, with no failure;
- *recovery*: ``kill -9`` of that server (its registration left to expire), and every user's next statement, which
  runs on another fresh server: a first session and query there after the failure;
- *reopen*: the same users close their session (not timed) and run again on that server, in a new session.

Sessions opened are counted from Hue's ``Session`` rows. Lock waits are sampled from a separate connection
throughout (PostgreSQL ``pg_locks`` every 5 ms; MariaDB ``INNODB_TRX`` every 0.11 s and InnoDB's row-lock counters),
deadlocks are the server's own count. The last line is
``recovery_over_floor_p95=R lock_waits_over_100ms=N deadlocks=N errors=N`` (R: p95 recovery over p95 first contact,
every user of every round; errors: answers that were an error or came from another server).

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
import contextlib
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, Iterator, List, Optional

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
    parser.add_argument("--db", choices=("postgresql", "mysql", "sqlite"), default="postgresql",
                        help="the database Hue runs on (default postgresql; mysql is MariaDB)")
    parser.add_argument("--hue-instances", type=int, metavar="N", help="N Hue servers behind HAProxy, users over "
                        "HTTP through the load balancer (default: Hue in this process, users through Django's client)")
    parser.add_argument("--workers", type=int, default=2, metavar="N", help="gunicorn workers per Hue instance (2)")
    parser.add_argument("--spark", action="store_true", help="--hue-instances: Spark Thrift Servers")
    args = parser.parse_args(argv)
    if args.hue_instances is not None:
        if args.hue_instances < 1 or args.kerberos:
            parser.error("--hue-instances takes N >= 1, without --kerberos")
        if args.db == "sqlite":
            parser.error("--hue-instances: several Hue servers share a database server, not a sqlite file")
        users = 50 if args.users == "2,50" else int(args.users)
        return through_load_balancer(args.db, args.hue_instances, args.workers, users,
                                     args.rounds or (1 if args.quick else 5), args.spark, args.json)
    rounds = args.rounds or (1 if args.quick else 3)
    if args.kerberos:
        return kerberized(rounds, [int(n) for n in (args.users if args.users != "2,50" else "2").split(",")],
                          args.json, args.db)
    user_counts = [int(n) for n in args.users.split(",")]

    with tempfile.TemporaryDirectory(prefix="hive-ha-bench-failover-") as home, database(args.db, home) as section:
        start_hue(home, database=section)
        from django.core.management import call_command
        from django.db import connection

        call_command("migrate", verbosity=0, interactive=False)
        from beeswax import conf as beeswax_conf
        from libzookeeper import conf as zk_conf

        from hive_ha.sandbox.hs2server import HS2Server
        from hive_ha.sandbox.registrar import Registrar
        from hive_ha.sandbox.zookeeper import ZooKeeperServer
        from hue_integration import install

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
                        editors = _signed_in([f"u{users}_{round_}_{i}" for i in range(users)])
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
                            with ThreadPoolExecutor(max_workers=concurrency(args.db, users)) as pool:
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


def _signed_in(names: List[str]) -> list:
    """An editor per user, signed in to the Hue of this process with access to the SQL editor."""
    from django.core.cache import cache
    from desktop.lib.django_test_util import make_logged_in_client
    from desktop.lib.test_utils import grant_access
    from tests.hue.editor import DjangoTransport, Editor

    editors = []
    for name in names:
        client = make_logged_in_client(username=name, password="pw", is_superuser=False, groupname="default")
        for app in ("beeswax", "hive", "notebook"):
            grant_access(name, "default", app)
        editors.append(Editor(DjangoTransport(client)))
    cache.delete("perms")  # Hue caches permissions: the grants above count at once
    return editors


@contextlib.contextmanager
def database(kind: str, home: str) -> Iterator[str]:
    """The ``[[database]]`` section of hue.ini for a new database of ``kind``: on a server started for the run
    (stopped after), or a sqlite file in ``home`` (one writer: ``concurrency`` lets users take turns)."""
    if kind == "sqlite":
        yield f'[[database]]\nengine=sqlite3\nname={home}/desktop.db\noptions={{"timeout": 120}}\n'
        return
    from tests.rig.databases import SERVERS

    server = SERVERS[kind](name=f"bench-hue-{kind}")
    try:
        yield server.start().create_database("hue").hue_ini()
    finally:
        server.stop()


def concurrency(db: str, users: int) -> int:
    """How many users' calls run at once: on sqlite one (a request that read cannot write while another connection
    writes, and Hue makes each request one transaction: users at once would get "database is locked" from Hue)."""
    return 1 if db == "sqlite" else min(users, 16)


AUTH_ERROR = re.compile(r"GSS|Kerberos|SASL|credential|ticket", re.I)


def kerberized(rounds: int, user_counts: List[int], json_file: Optional[str], db: str) -> int:
    """The --kerberos run: ``rounds`` kill -9s per user count, each on fresh servers; see the module docstring."""
    from tests.hue.kerberized import KerberizedCluster, KtRenewer, configure_hue, kt_renewer_ini

    with tempfile.TemporaryDirectory(prefix="hive-ha-bench-krb-") as home, database(db, home) as section:
        cluster = KerberizedCluster().start()
        ccache = os.path.join(home, "hue_krb5_ccache")
        renewer = None
        try:
            os.environ.update(cluster.env)  # this Hue host's krb5.conf
            # Hue's start-up exports ccache_path as KRB5CCNAME; hue kt_renewer fills it.
            start_hue(home, f"[[kerberos]]\nccache_path={ccache}\n", database=section)
            from django.core.management import call_command
            from django.db import connection

            call_command("migrate", verbosity=0, interactive=False)
            from hue_integration import install

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
                        editors = _signed_in(names)
                        for name, editor in zip(names, editors):  # one at a time: a first query also makes documents
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
                            with ThreadPoolExecutor(max_workers=concurrency(db, users)) as pool:
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


# -- Hue in production: several Hue servers, one database, HAProxy; users over HTTP -------------------------------
PASSWORD = "bench-password"
NAMESPACE = "/bench_topology"


class ServerChain:
    """The HiveServer2s of a run, started one after the other and registered in that order (the oldest up one is Hue's
    choice): sandbox servers in child processes, or Spark Thrift Servers. ``kill``: ``kill -9``, its registration
    left to expire as a killed server's is; ``deregister``: it leaves ZooKeeper and keeps running (a rolling restart's
    first step)."""

    def __init__(self, zk_hosts: str, spark: bool) -> None:
        from hive_ha.sandbox.registrar import Registrar

        self.spark = spark
        self.registrar = Registrar(zk_hosts, session_timeout=3.0)
        self.statement = "SELECT 1" if spark else WHO
        self.started: list = []
        self._registrations: dict = {}

    def add(self):
        """Start one more server and register it (the newest)."""
        name = f"server-{len(self.started) + 1}"
        if self.spark:
            from tests.rig.spark import SparkThriftServer

            server = SparkThriftServer(name, registrar=self.registrar, namespace=NAMESPACE)
            self.started.append(server)
            server.start()
            self._registrations[server] = server.registration
        else:
            from hive_ha.sandbox.hs2server import HS2ServerProcess

            server = HS2ServerProcess(name)
            self.started.append(server)
            server.start()
            self._registrations[server] = self.registrar.register(server.host, server.port, namespace=NAMESPACE)
        return server

    def kill(self, server) -> None:
        server.kill()
        self._registrations[server].crash()

    def deregister(self, server) -> None:
        self._registrations[server].deregister()

    def expected(self, server) -> list:
        """The rows the statement answers on ``server``."""
        return [[1]] if self.spark else [[server.name]]

    def close(self) -> None:
        for server in self.started:
            server.kill()
        self.registrar.close()


class Answer:
    """One statement as the editor runs it: its rows or the error, the server the execute reply names, the session
    row it ran in, and how long each call took (s): ``execute``, the status polls, ``fetch``, and ``total``."""

    def __init__(self, editor, statement: str) -> None:
        from tests.hue.editor import EditorError, HttpError

        self.server = self.session_id = None
        self.execute = self.polls = self.fetch = 0.0
        start = time.monotonic()
        try:
            snippet = editor.execute(statement)
            self.execute = time.monotonic() - start
            handle = snippet["result"]["handle"]
            self.server, self.session_id = handle.get("hive_ha_server"), handle.get("session_id")
            editor.wait(snippet, 120)
            self.polls = time.monotonic() - start - self.execute
            self.rows = [list(row) for row in editor.fetch_result_data(snippet)["data"]]
        except (EditorError, HttpError, OSError) as exc:
            self.rows = exc
        self.total = time.monotonic() - start
        self.fetch = self.total - self.execute - self.polls if self.server else 0.0

    def right(self, rows: list, address: str) -> bool:
        return self.rows == rows and self.server == address


def _all_at_once(editors, statement: str) -> List[Answer]:
    with ThreadPoolExecutor(max_workers=len(editors)) as pool:
        return list(pool.map(lambda editor: Answer(editor, statement), editors))


def _pct(values: List[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _sessions_on(db_server, name: str, address: str) -> int:
    """HiveServer2 sessions Hue opened on ``address`` (its ``Session`` rows, read as the database's superuser)."""
    out = db_server.sql(f"SELECT count(*) FROM beeswax_session WHERE properties LIKE '%\"{address}\"%'",
                        database=name)
    return int(out.split()[-1])


#: The phases of a round, in order: what each measures.
PHASES = {
    "first": "first contact: the serving server leaves ZooKeeper (still running), every user's next statement opens a "
             "first session on a fresh server, no failure (the floor)",
    "recovery": "kill -9 of that server: every user's next statement, on another fresh server",
    "reopen": "the same users close their session and run again on the server they use (a warm second session)",
}
#: Seconds for a registry change to reach every Hue worker's watcher (ZooKeeper's notification and hive-ha's 0.05 s
#: debounce take milliseconds): a statement that still went to the old server counts as an error.
SETTLE = 1.0


def through_load_balancer(db: str, instances: int, workers: int, users: int, rounds: int, spark: bool,
                          json_file: Optional[str]) -> int:
    """The --hue-instances run (see the module docstring)."""
    home = tempfile.mkdtemp(prefix="hive-ha-bench-topology-")
    start_hue(home)  # nothing of this process serves users; Hue's start-up puts its Thrift code on sys.path, which
    # the HiveServer2 test servers' module imports (their processes run the rig's Python: $HIVE_HA_RIG_PYTHON)
    from hive_ha.sandbox.zookeeper import ZooKeeperServer
    from tests.hue.conf_files import discovery_ini
    from tests.hue.db_locks import LockSampler
    from tests.hue.editor import Editor, HttpTransport
    from tests.hue.topology import Topology
    from tests.rig.databases import SERVERS

    names = [f"user{i}" for i in range(users)]
    seen: Dict[str, List[Answer]] = {phase: [] for phase in PHASES}
    errors = waits_over = deadlocks = 0
    results: Dict[str, Dict[str, float]] = {}
    with ZooKeeperServer() as zk:
        db_server = SERVERS[db](name=f"bench-topology-{db}")
        chain = ServerChain(zk.hosts, spark)
        topology = None
        try:
            db_server.start()
            serving = chain.add()
            topology = Topology(db_server, discovery_ini(zk.hosts, NAMESPACE), instances=instances,
                                workers=workers).start(names, PASSWORD)
            editors = [Editor(HttpTransport(topology.url, name, PASSWORD, timeout=120)) for name in names]
            for editor in editors:
                editor.create_session()
            bad = [a for a in _all_at_once(editors, chain.statement) if not a.right(chain.expected(serving),
                                                                                   serving.address)]
            assert not bad, f"before the first round: {[a.rows for a in bad[:3]]}"
            print(f"db={db} hue_instances={instances} workers={workers} users={users} rounds={rounds} "
                  f"servers={'spark' if spark else 'sandbox'}")
            for phase, what in PHASES.items():
                print(f"  {phase}: {what}")
            print(f"{'round':>5} {'phase':>9}{'p50':>7}{'p95':>7}{'max':>7}{'execute p50':>13}{'polls+fetch p50':>17}"
                  f"{'sessions/user':>15}{'errors':>8}  (ms)")
            for round_ in range(rounds):
                fresh = chain.add()
                row: Dict[str, float] = {}
                with LockSampler(db_server) as sampler:
                    chain.deregister(serving)
                    time.sleep(SETTLE)
                    answers = {"first": _measured(editors, chain, fresh, db_server, topology)}
                    serving.stop()
                    survivor = chain.add()
                    chain.kill(fresh)
                    answers["recovery"] = _measured(editors, chain, survivor, db_server, topology)
                    for editor, answer in zip(editors, answers["recovery"][0]):  # not timed
                        if answer.session_id:
                            editor.close_session(answer.session_id)
                    answers["reopen"] = _measured(editors, chain, survivor, db_server, topology)
                serving = survivor
                for phase, (phase_answers, opened) in answers.items():
                    wrong = [a for a in phase_answers if not a.right(chain.expected(
                        fresh if phase == "first" else survivor), (fresh if phase == "first" else survivor).address)]
                    errors += len(wrong)
                    seen[phase] += phase_answers
                    totals = [a.total for a in phase_answers]
                    figures = {"p50_ms": statistics.median(totals) * 1000, "p95_ms": _pct(totals, 0.95) * 1000,
                               "max_ms": max(totals) * 1000,
                               "execute_p50_ms": statistics.median(a.execute for a in phase_answers) * 1000,
                               "polls_fetch_p50_ms": statistics.median(a.polls + a.fetch for a in phase_answers) * 1000,
                               "new_sessions_per_user": opened / users, "errors": len(wrong)}
                    row.update({f"{phase}_{key}": value for key, value in figures.items()})
                    print(f"{round_ + 1:>5} {phase:>9}{figures['p50_ms']:>7.0f}{figures['p95_ms']:>7.0f}"
                          f"{figures['max_ms']:>7.0f}{figures['execute_p50_ms']:>13.0f}"
                          f"{figures['polls_fetch_p50_ms']:>17.0f}{figures['new_sessions_per_user']:>15.2f}"
                          f"{len(wrong):>8}")
                    for answer in wrong[:3]:
                        print(f"      error: {str(answer.rows)[:300]} (server {answer.server})")
                waits_over += sampler.over(0.1)
                deadlocks += sampler.deadlocks
                row.update({"lock_waits": sampler.waits, "lock_waits_over_100ms": sampler.over(0.1),
                            "longest_lock_wait_ms": sampler.longest * 1000, "deadlocks": sampler.deadlocks})
                print(f"{round_ + 1:>5} lock waits {sampler.waits} (over 100 ms: {sampler.over(0.1)}, longest "
                      f"{sampler.longest * 1000:.0f} ms), deadlocks {sampler.deadlocks}")
                results[str(round_ + 1)] = row
        finally:
            if topology is not None:
                topology.close()
            chain.close()
            db_server.stop()
            shutil.rmtree(home, ignore_errors=True)
    for phase in PHASES:
        totals = [a.total for a in seen[phase]]
        print(f"{phase}_ms p50={statistics.median(totals) * 1000:.0f} p95={_pct(totals, 0.95) * 1000:.0f} "
              f"max={max(totals) * 1000:.0f} ({len(totals)} users x rounds)")
    if json_file:
        with open(json_file, "w") as fh:
            json.dump(results, fh, indent=2)
    ratio = _pct([a.total for a in seen["recovery"]], 0.95) / _pct([a.total for a in seen["first"]], 0.95)
    print(f"recovery_over_floor_p95={ratio:.2f} lock_waits_over_100ms={waits_over} deadlocks={deadlocks} "
          f"errors={errors}")
    return 0


def _measured(editors, chain: ServerChain, server, db_server, topology):
    """Every user's statement at once: ``(answers, sessions opened on server meanwhile)``."""
    before = _sessions_on(db_server, topology.database_name, server.address)
    answers = _all_at_once(editors, chain.statement)
    return answers, _sessions_on(db_server, topology.database_name, server.address) - before


if __name__ == "__main__":
    sys.exit(main())
