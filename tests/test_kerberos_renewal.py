"""A long-running watcher across ticket expiry: the keytab login renews the ticket before it ends, so the
re-authentication after a ZooKeeper reconnect succeeds. Uses the rig's 8-second ``renewer`` principal."""
import os
import time

import pytest

from hive_ha.io import kerberos
from hive_ha.core.discovery import Discovery
from hive_ha.model.layouts import Service
from hive_ha.sandbox.registrar import spawn_process
from hive_ha.testing.waiting import wait_until
from hive_ha.io.zookeeper import ClientPool, ZkSettings

pytest.importorskip("kerberos", reason="pip install 'hive-ha[kerberos]'")


@pytest.mark.process
def test_watcher_keeps_working_across_ticket_expiry(krb_rig, krb_zk, krb_zk_hosts, krb_identity, zk_namespace,
                                                    tmp_path):
    krb_identity("hive")  # the registration processes log in as hive/localhost from the env they inherit
    sasl = {"mechanism": "GSSAPI", "service": "zookeeper", "principal": krb_rig.hive_principal}
    namespace = zk_namespace.strip("/")
    first = spawn_process(krb_zk_hosts, "localhost", 10010, namespace=namespace, sasl_options=sasl,
                          authentication="KERBEROS", session_timeout=30.0)
    os.environ.pop("KRB5_CLIENT_KTNAME")  # from here on only hive-ha's renewer can get this process a ticket
    ccache = str(tmp_path / "renewer.ccache")
    settings = ZkSettings(hosts=krb_zk_hosts, auth_scheme="sasl", sasl_mechanism="GSSAPI",
                          sasl_principal=krb_rig.principal("renewer"), kerberos_keytab=krb_rig.keytab("renewer"),
                          kerberos_ccache=ccache, connect_timeout=20.0, session_timeout=10.0)
    pool = ClientPool()
    discovery = Discovery(settings, pool=pool)
    service = Service.of("hs2", zk_namespace)
    second = None
    try:
        assert discovery.endpoint(service).port == 10010
        first_end = kerberos.tgt_end_time(ccache)
        assert first_end is not None and first_end - time.time() < 10  # the short-lived ticket really is short
        # Past the first ticket's end: the renewer must have replaced it in the cache by then.
        wait_until(lambda: time.time() > first_end + 1 and kerberos.tgt_end_time(ccache) > time.time(),
                   timeout=30, interval=0.2, message="ticket not renewed before it expired")
        krb_zk.kill()  # a reconnect: the client must authenticate again, now with the renewed ticket
        krb_zk.start()
        client = pool.get(settings)
        wait_until(lambda: client.connected and client.exists_async("/").get(timeout=5) is not None, timeout=60,
                   interval=0.1, ignore=(Exception,), message="no authenticated round trip after the reconnect")
        with krb_rig.client_env("hive"):  # the new server's own identity, in its own process
            second = spawn_process(krb_zk_hosts, "localhost", 10011, namespace=namespace, sasl_options=sasl,
                                   authentication="KERBEROS", session_timeout=30.0)
        wait_until(lambda: {e.port for e in discovery.snapshot(service).endpoints} == {10010, 10011}, timeout=60,
                   interval=0.1, message="watcher did not see the new server after the reconnect")
        assert pool.get(settings).connected
    finally:
        discovery.close()
        pool.close_all()
        for proc in (first, second):
            if proc is not None:
                proc.stop()


def _follower(login, conn):
    """A forked worker: log in, then answer "report" with what this process did to the shared ticket cache."""
    renewer = kerberos.ensure_login(login)
    while conn.poll(120):
        if conn.recv() != "report":
            return
        end = kerberos.tgt_end_time(login.cache_name)
        conn.send((renewer.renewals, renewer.writer, end is not None and end > time.time(), os.environ["KRB5CCNAME"]))


def test_forked_workers_leave_the_ticket_cache_to_one_writer(krb_rig, tmp_path, monkeypatch):
    import multiprocessing

    monkeypatch.setenv("KRB5CCNAME", "MEMORY:parent")  # the process's cache, which the logins leave alone
    ccache = str(tmp_path / "shared.ccache")
    login = kerberos.KerberosLogin(krb_rig.principal("renewer"), krb_rig.keytab("renewer"), ccache)
    parent = kerberos.ensure_login(login)  # gunicorn's master logging in before forking its workers
    ctx = multiprocessing.get_context("fork")
    workers = []
    try:
        assert parent.writer and parent.renewals == 1
        for _ in range(2):
            ours, theirs = ctx.Pipe()
            proc = ctx.Process(target=_follower, args=(login, theirs), daemon=True)
            proc.start()
            workers.append((proc, ours))

        def reports():
            for _, conn in workers:
                conn.send("report")
            return [conn.recv() if conn.poll(30) else None for _, conn in workers]

        first_end = kerberos.tgt_end_time(ccache)
        wait_until(lambda: time.time() > first_end + 1 and kerberos.tgt_end_time(ccache) > time.time(), timeout=30,
                   interval=0.2, message="the ticket was not renewed")
        assert parent.renewals >= 2
        # followers: no kinit of their own; and nobody moved the process's KRB5CCNAME to the cache
        assert reports() == [(0, False, True, "MEMORY:parent")] * 2
        parent.stop()  # the writer goes away (its lease with it): one follower takes over
        end = kerberos.tgt_end_time(ccache)
        wait_until(lambda: time.time() > end + 1 and kerberos.tgt_end_time(ccache) > time.time(), timeout=30,
                   interval=0.2, message="no follower took over the renewal")
        after = sorted(reports())
        assert after[0] == (0, False, True, "MEMORY:parent")
        assert after[1][0] >= 1 and after[1][1:] == (True, True, "MEMORY:parent")
    finally:
        for proc, conn in workers:
            conn.send("exit")
            proc.join(10)
        kerberos.stop_logins()
