"""Gray failures inside the real Hue backend with hive-ha: a paused server, a slow compile, a server that hangs for
good, a restart whose old registration lingers; several editor users with running queries, through Hue's notebook
API (the same calls as the editor), Hue's ``[beeswax] server_conn_timeout`` at 2 s.

    $(cat .hue/python) benchmarks/gray.py [--quick] [--users N] [--json FILE]

One line per fault: the polls made while it lasted, the longest a poll blocked, "results lost" messages (and how
many of them were wrong: the server was not dead), servers declared dead wrongly, new Hue sessions, errors. The
baseline, in the same process: Hue's own client polling the same paused server (hive-ha switched off), which blocks
3 x server_conn_timeout before its error. The last line is
``false_deaths=N lost_results_reported_wrongly=N max_poll_block_ms=N`` over the faults where no server died.

Users take turns (one request at a time): Hue's sqlite database, with Hue's ``ATOMIC_REQUESTS`` on as Hue sets it,
fails concurrent writing requests at once ("database is locked").
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

from hue_lookup import start_hue  # noqa: E402

TIMEOUT = 2  # [beeswax] server_conn_timeout, seconds
KEYS = {"probe_interval": "0.2", "probe_timeout": "1"}  # quick probes: the figures are about hive-ha's rules


class Poller:
    """Every user's running query, polled in turn; what each poll answered and how long it blocked."""

    def __init__(self, editors, snippets) -> None:
        self.editors, self.snippets = editors, snippets
        self.blocks: List[float] = []
        self.lost: List[str] = []
        self.errors: List[str] = []
        self.done = [False] * len(editors)

    def round(self) -> None:
        from tests.hue.editor import EXPIRED, EditorError

        for i, (editor, snippet) in enumerate(zip(self.editors, self.snippets)):
            if self.done[i]:
                continue
            started = time.monotonic()
            try:
                status = editor.check_status(snippet)["status"]
                if status == "available":
                    editor.fetch_result_data(snippet)
                    self.done[i] = True
            except EditorError as exc:
                (self.lost if exc.status == EXPIRED else self.errors).append(exc.message)
                self.done[i] = True
            self.blocks.append(time.monotonic() - started)

    def until(self, deadline: float) -> None:
        while time.monotonic() < deadline and not all(self.done):
            self.round()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 users instead of 6")
    parser.add_argument("--users", type=int, help="editor users with a running query (default 6; --quick: 3)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    users = args.users or (3 if args.quick else 6)

    with tempfile.TemporaryDirectory(prefix="hive-ha-bench-gray-") as home:
        start_hue(home)
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
        from beeswax import conf as beeswax_conf
        from beeswax.models import Session
        from desktop.lib.django_test_util import make_logged_in_client
        from desktop.lib.test_utils import grant_access
        from django.core.cache import cache
        from libzookeeper import conf as zk_conf

        from hive_ha.core.health import State
        from hive_ha.sandbox.hs2server import HS2Server
        from hive_ha.sandbox.registrar import Registrar
        from hive_ha.sandbox.zookeeper import ZooKeeperServer
        from hive_ha.testing.waiting import wait_until
        from hue_integration import conf as our_conf
        from hue_integration import install
        from tests.hue.editor import DjangoTransport, Editor

        beeswax_conf.SERVER_CONN_TIMEOUT.set_for_testing(TIMEOUT)
        editors_made = [0]

        def editors(n: int) -> List[Editor]:
            made = []
            for _ in range(n):
                name = f"gray{editors_made[0]}"
                editors_made[0] += 1
                client = make_logged_in_client(username=name, password="pw", is_superuser=False, groupname="default")
                for app in ("beeswax", "hive", "notebook"):
                    grant_access(name, "default", app)
                made.append(Editor(DjangoTransport(client)))
            cache.delete("perms")
            return made

        results: Dict[str, Dict[str, float]] = {}

        with ZooKeeperServer() as zk:
            zk_conf.ENSEMBLE.set_for_testing(zk.hosts)
            beeswax_conf.HIVE_DISCOVERY_HS2.set_for_testing("true")

            def fault(name: str, run: Callable[..., Dict[str, float]], **keys: str) -> None:
                namespace = f"/bench_gray_{name}"
                beeswax_conf.HIVE_DISCOVERY_HIVESERVER2_ZNODE.set_for_testing(namespace)
                undo = [getattr(our_conf, k.upper()).set_for_testing(v) for k, v in dict(KEYS, **keys).items()]
                a = HS2Server("hs2-a", host="127.0.0.1").start()
                b = HS2Server("hs2-b", host="127.0.0.2").start()
                try:
                    with Registrar(zk.hosts) as registrar:
                        reg_a = registrar.register(a.host, a.port, namespace=namespace)
                        registrar.register(b.host, b.port, namespace=namespace)
                        integration = install.install_if_enabled()
                        figures = run(integration, a, b, reg_a, registrar, namespace)
                        install.uninstall()
                finally:
                    a.unhang()
                    a.stop()
                    b.stop()
                    for restore in undo:
                        restore()
                results[name] = figures
                print(f"fault={name} " + " ".join(f"{k}={v:.0f}" if isinstance(v, float) else f"{k}={v}"
                                                  for k, v in figures.items()), flush=True)

            def with_running_queries(a, n):
                people = editors(n)
                for editor in people:
                    editor.create_session()
                a.running_polls = 3
                snippets = [editor.execute("select 'still running'") for editor in people]
                return people, snippets

            def deaths(integration) -> int:
                counts = integration.discovery.cache.transition_counts()
                return sum(v for (_, _, to), v in counts.items() if to == State.DEAD.value)

            def sessions_now() -> int:
                return Session.objects.count()

            def pause(integration, a, b, reg_a, registrar, namespace):
                people, snippets = with_running_queries(a, users)
                poller = Poller(people, snippets)
                before = sessions_now()
                a.hang()
                poller.until(time.monotonic() + 2.5 * TIMEOUT)
                a.unhang()
                poller.until(time.monotonic() + 60)
                return {"polls": len(poller.blocks), "max_poll_block_ms": max(poller.blocks) * 1000,
                        "lost_reported": len(poller.lost), "lost_wrongly": len(poller.lost),
                        "false_deaths": deaths(integration), "new_sessions": sessions_now() - before,
                        "errors": len(poller.errors)}

            def slow_compile(integration, a, b, reg_a, registrar, namespace):
                people, snippets = with_running_queries(a, users)
                writer = editors(1)[0]
                writer.create_session()
                a.slow_statement("insert into", 3 * TIMEOUT)
                started = time.monotonic()
                try:
                    writer.execute("insert into t values (1)")
                    answer = "ran"
                except AssertionError as exc:
                    answer = "error" if "may still be running" in str(exc) else f"wrong: {exc}"
                write_ms = (time.monotonic() - started) * 1000
                poller = Poller(people, snippets)
                poller.until(time.monotonic() + 60)
                rerun = sum(1 for s in b.statements if "insert" in s.lower())
                return {"write_answered_ms": write_ms, "write": answer, "write_rerun_elsewhere": rerun,
                        "max_poll_block_ms": max(poller.blocks) * 1000, "lost_reported": len(poller.lost),
                        "lost_wrongly": len(poller.lost), "false_deaths": deaths(integration),
                        "errors": len(poller.errors)}

            def hang_for_good(integration, a, b, reg_a, registrar, namespace):
                people, snippets = with_running_queries(a, users)
                a.running_polls = 10 ** 6
                poller = Poller(people, snippets)
                hung = time.monotonic()
                a.hang()
                poller.until(hung + 60)
                told = time.monotonic() - hung
                return {"dead_after_s": float(integration.config.dead_after), "all_told_after_ms": told * 1000,
                        "max_poll_block_ms": max(poller.blocks) * 1000, "lost_reported": len(poller.lost),
                        "lost_wrongly": 0, "deaths": deaths(integration), "errors": len(poller.errors)}

            def restart(integration, a, b, reg_a, registrar, namespace):
                people, snippets = with_running_queries(a, users)
                service = integration.config.hive_service
                a.kill()
                a.resume()  # the same address, a new process: it registers anew; its old znode lingers
                registrar.register(a.host, a.port, namespace=namespace)
                wait_until(lambda: len(integration.discovery.cache.snapshot(service).endpoints) == 3, 15)
                new = max((e for e in integration.discovery.cache.snapshot(service).endpoints
                           if e.address == a.address), key=lambda e: e.age_key)
                poller = Poller(people, snippets)
                poller.until(time.monotonic() + 30)
                punished = integration.discovery.health(service, new).state is not State.UP
                return {"lost_reported": len(poller.lost), "lost_wrongly": 0, "new_registration_punished": punished,
                        "max_poll_block_ms": max(poller.blocks) * 1000, "errors": len(poller.errors)}

            fault("pause", pause)
            fault("slow_compile", slow_compile)
            fault("hang_for_good", hang_for_good, dead_after="4")
            fault("restart", restart)

        hue_alone = hue_alone_poll(editors)
        results["hue_alone"] = {"poll_block_ms": hue_alone}
        print(f"baseline=hue_alone poll_block_ms={hue_alone:.0f} (server_conn_timeout={TIMEOUT} s)")
    late = ("pause", "slow_compile")
    worst = max(results[f]["max_poll_block_ms"] for f in late)
    print(f"hive_ha_poll_block_over_hue_alone={worst / hue_alone:.2f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)
    print(f"false_deaths={sum(results[f]['false_deaths'] for f in late)} "
          f"lost_results_reported_wrongly={sum(results[f]['lost_wrongly'] for f in late)} "
          f"max_poll_block_ms={worst:.0f}")
    return 0


def hue_alone_poll(editors) -> float:
    """Hue's own client (hive-ha off, the server named in hue.ini) polling a running query on a paused server: how
    long the poll blocks before Hue's error."""
    from beeswax import conf as beeswax_conf

    from hive_ha.sandbox.hs2server import HS2Server
    from tests.hue.editor import EditorError

    beeswax_conf.HIVE_DISCOVERY_HS2.set_for_testing("false")
    server = HS2Server("hs2-alone", host="127.0.0.1").start()
    undo = [beeswax_conf.HIVE_SERVER_HOST.set_for_testing(server.host),
            beeswax_conf.HIVE_SERVER_PORT.set_for_testing(server.port)]
    try:
        (editor,) = editors(1)
        editor.create_session()
        server.running_polls = 10 ** 6
        snippet = editor.execute("select 'still running'")
        server.hang()
        started = time.monotonic()
        try:
            editor.check_status(snippet)
        except EditorError:
            pass
        return (time.monotonic() - started) * 1000
    finally:
        server.unhang()
        server.stop()
        for restore in undo:
            restore()


if __name__ == "__main__":
    sys.exit(main())
