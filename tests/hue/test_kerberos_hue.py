"""A Kerberized cluster's Hue with hive-ha inside, through Hue's notebook API: Hue's keytab and ``hue kt_renewer``
(its own process) keep Hue's ticket cache fresh; Hue's SASL GSSAPI Thrift transport talks to HiveServer2s that accept
only their own principal, on two host names of this machine; hive-ha reads a ZooKeeper that requires SASL GSSAPI
with Hue's ticket; hive.server2.enable.doAs is on, so every session is opened for the editor's user
(tests/hue/kerberized.py has the cluster). Hue's tickets live 12 s: every test outlives the ticket it started with."""
import time

import pytest

from hive_ha.io import kerberos
from hive_ha.testing.waiting import wait_until
from tests.hue.editor import EditorError
from tests.hue.kerberized import REALM, TICKET_LIFETIME

pytestmark = [pytest.mark.kerberos, pytest.mark.django_db(transaction=True)]

#: Which server answered, the session's user (impersonated) and who authenticated (Hue's principal).
WHO = "select current_server(), current_user(), logged_in_user()"


def query_server():
    from beeswax.server import dbms

    return dbms.get_query_server_config()


def test_kill_9_every_user_continues_on_the_survivor_as_themselves(kerberized_hue, kerberized_hs2, editors,
                                                                    kerberized_cluster):
    cluster = kerberized_cluster
    a = kerberized_hs2("hs2-a", 0)
    kerberized_hs2("hs2-b", 1)
    integration = kerberized_hue()
    users = dict(zip(("alice", "bob"), editors("alice", "bob")))
    for name, editor in users.items():
        editor.create_session()
        assert editor.run(WHO) == [["hs2-a", name, cluster.hue_principal]]
    dialled = query_server()
    assert (dialled["server_host"], dialled["principal"]) == (cluster.hosts[0], f"hive/{cluster.hosts[0]}@{REALM}")
    a.kill()  # SIGKILL; its znode stays until its ZooKeeper session expires
    for _ in range(2):
        for name, editor in users.items():  # the session on the new server is opened for the same end user
            assert editor.run(WHO) == [["hs2-b", name, cluster.hue_principal]]
    # The principal Hue names is the one of the host it now dials (hs2-b accepts nothing else).
    dialled = query_server()
    assert (dialled["server_host"], dialled["principal"]) == (cluster.hosts[1], f"hive/{cluster.hosts[1]}@{REALM}")
    assert integration.discovery.cache.failover_counts() == {str(integration.config.hive_service): 1}


@pytest.mark.slow
def test_tickets_expire_and_are_renewed_while_users_work(kerberized_hue, kerberized_hs2, editors, kerberized_cluster,
                                                          hue_kt_renewer):
    """A rolling restart while Hue's tickets come and go: each round waits for Hue's renewer to replace the ticket,
    then the next server comes up and the previous one deregisters and stops, so every user's next query needs a
    new GSSAPI login, made with the renewed ticket. No error, no failover; and once the ticket the test started with
    has expired, a kill -9 moves everyone to a server nobody had a service ticket for."""
    cluster = kerberized_cluster
    hosts = len(cluster.hosts)
    servers = [kerberized_hs2("hs2-0", 0)]
    integration = kerberized_hue()
    service = integration.config.hive_service
    users = dict(zip(("alice", "bob"), editors("alice", "bob")))
    for name, editor in users.items():
        editor.create_session()
        assert editor.run(WHO) == [["hs2-0", name, cluster.hue_principal]]
    started_with = kerberos.read_cache(hue_kt_renewer.ccache)
    renewals = {started_with.starts}

    def registered():
        return {e.port for e in integration.discovery.cache.snapshot(service).endpoints}

    while time.time() <= started_with.ends or len(renewals) < 4:
        wait_until(lambda: kerberos.read_cache(hue_kt_renewer.ccache).starts not in renewals, TICKET_LIFETIME,
                   interval=0.1, message="hue kt_renewer did not renew the ticket")
        renewals.add(kerberos.read_cache(hue_kt_renewer.ccache).starts)
        previous, current = servers[-1], kerberized_hs2(f"hs2-{len(servers)}", len(servers) % hosts)
        servers.append(current)
        previous.stop()  # a clean stop deregisters first (HiveServer2 --deregister), so nothing has failed
        wait_until(lambda: registered() == {current.port}, 30, interval=0.05, message="discovery saw the restart")
        for name, editor in users.items():
            assert editor.run(WHO) == [[current.name, name, cluster.hue_principal]]
    assert time.time() > started_with.ends  # the ticket the users started with has expired meanwhile
    assert integration.discovery.cache.failover_counts() == {}  # and no expiry was taken for a dead server
    survivor = kerberized_hs2("hs2-survivor", len(servers) % hosts)
    wait_until(lambda: survivor.port in registered(), 30, interval=0.05, message="discovery saw hs2-survivor")
    servers[-1].kill()
    for name, editor in users.items():
        assert editor.run(WHO) == [["hs2-survivor", name, cluster.hue_principal]]
    assert integration.discovery.cache.failover_counts() == {str(service): 1}


@pytest.mark.slow
def test_zookeeper_session_expires_and_logs_in_again_with_the_renewed_ticket(kerberized_hue, kerberized_hs2, editors,
                                                                            kerberized_cluster, hue_kt_renewer):
    from hive_ha.io.zookeeper import POOL
    from hive_ha.sandbox.zookeeper import expire_session

    cluster = kerberized_cluster
    a = kerberized_hs2("hs2-a", 0)
    integration = kerberized_hue()
    (alice,) = editors("alice")
    alice.create_session()
    assert alice.run(WHO) == [["hs2-a", "alice", cluster.hue_principal]]
    client = POOL.peek(integration.discovery.settings)
    logged_in_with = kerberos.read_cache(hue_kt_renewer.ccache)  # the ticket of the session's SASL login
    wait_until(lambda: time.time() > logged_in_with.ends + 1, TICKET_LIFETIME + 5, interval=0.2,
               message="the first ticket did not expire")
    expired = expire_session(client)
    wait_until(lambda: client.connected and client.client_id[0] != expired, 30, interval=0.1,
               message="hive-ha's ZooKeeper client did not open a new session")
    b = kerberized_hs2("hs2-b", 1)  # registered after the new session's login: only a working watch sees it
    service = integration.config.hive_service
    wait_until(lambda: b.port in {e.port for e in integration.discovery.cache.snapshot(service).endpoints}, 30,
               interval=0.1, message="discovery did not see hs2-b after the session expired")
    a.kill()
    assert alice.run(WHO) == [["hs2-b", "alice", cluster.hue_principal]]


def test_status_view_reports_the_ticket_and_no_secret(kerberized_hue, kerberized_hs2, editors, login,
                                                       kerberized_cluster, hue_kt_renewer):
    import json

    cluster = kerberized_cluster
    kerberized_hs2("hs2-a", 0)
    kerberized_hue()
    (alice,) = editors("alice")
    alice.create_session()
    assert alice.run(WHO) == [["hs2-a", "alice", cluster.hue_principal]]
    _, admin = login("admin", superuser=True)
    response = admin.get("/hive_ha/status")
    assert response.status_code == 200, response.content[:300]
    body = json.loads(response.content)
    ticket = body["zookeeper"]["kerberos"]
    now = time.time()
    assert (ticket["source"], ticket["principal"], ticket["problem"]) == ("hue", cluster.hue_principal, None)
    assert ticket["renewed_by"].startswith("Hue's kt_renewer")
    assert 0 < ticket["expires_in_seconds"] <= TICKET_LIFETIME
    last = kerberos.read_cache(hue_kt_renewer.ccache).starts
    assert abs(_epoch(ticket["last_renewal"]) - last) < 1 and now - last < TICKET_LIFETIME
    text = response.content.decode()
    for secret in (cluster.hue_keytab, hue_kt_renewer.ccache, open(cluster.hue_keytab, "rb").read().hex()[:16]):
        assert secret not in text


def _epoch(iso):
    import datetime

    return datetime.datetime.fromisoformat(iso).timestamp()


@pytest.fixture
def renewer_paused(hue_kt_renewer):
    """``hue kt_renewer`` stopped for the test (Hue's ticket then runs out), started again afterwards."""
    hue_kt_renewer.stop()
    yield hue_kt_renewer
    hue_kt_renewer.start()


def test_an_expired_ticket_is_an_error_for_the_user_not_a_failover(kerberized_hue, kerberized_hs2, editors,
                                                                    kerberized_cluster, renewer_paused):
    """Hue's renewer is down and its ticket has expired: the open connection to hs2-a still works; after hs2-a dies
    the new server cannot be logged in to, and the user is told why (GSSAPI's words), while hs2-b stays in use; once
    the renewer is back the next query runs there."""
    cluster = kerberized_cluster
    a = kerberized_hs2("hs2-a", 0)
    b = kerberized_hs2("hs2-b", 1)
    integration = kerberized_hue()
    (alice,) = editors("alice")
    alice.create_session()
    assert alice.run(WHO) == [["hs2-a", "alice", cluster.hue_principal]]
    ends = kerberos.read_cache(renewer_paused.ccache).ends
    wait_until(lambda: time.time() > ends + 1, TICKET_LIFETIME + 5, interval=0.2, message="the ticket did not expire")
    assert alice.run(WHO) == [["hs2-a", "alice", cluster.hue_principal]]  # logged in before: still fine
    a.kill()
    with pytest.raises(EditorError) as failed:
        alice.run(WHO)
    assert "expired" in failed.value.message.lower()
    service = integration.config.hive_service
    assert integration.discovery.cache.failover_counts() == {str(service): 1}  # hs2-a's death only
    assert integration.discovery.endpoint(service).port == b.port  # hs2-b is not blamed for the ticket
    renewer_paused.start()
    assert alice.run(WHO) == [["hs2-b", "alice", cluster.hue_principal]]


def test_no_ticket_yet_is_one_clear_error_until_the_renewer_writes_one(kerberized_hue, kerberized_hs2, editors,
                                                                       kerberized_cluster, renewer_paused):
    import os

    cluster = kerberized_cluster
    kerberized_hs2("hs2-a", 0)
    os.unlink(renewer_paused.ccache)  # Hue started before its renewer wrote the cache
    integration = kerberized_hue()
    (alice,) = editors("alice")
    with pytest.raises(EditorError) as failed:
        alice.create_session()
        alice.run(WHO)
    text = failed.value.message
    assert f"SASL GSSAPI login to ZooKeeper at {cluster.zk_hosts} failed for client principal " \
           f"{cluster.hue_principal}" in text
    assert "No credentials cache found" in text and "hue kt_renewer" in text
    assert integration.discovery.cache.failover_counts() == {}
    renewer_paused.start()
    wait_until(lambda: _answers(alice) == [["hs2-a", "alice", cluster.hue_principal]], 60, interval=0.5,
               message="hive-ha did not log in to ZooKeeper once the ticket was there")


def _answers(editor):
    try:
        editor.create_session()
        return editor.run(WHO)
    except EditorError:
        return None


def test_impersonation_refused_by_the_new_server_is_the_servers_words_not_a_failover(
        kerberized_hue, kerberized_hs2, editors, kerberized_cluster):
    cluster = kerberized_cluster
    a = kerberized_hs2("hs2-a", 0)
    kerberized_hs2("hs2-b", 1, proxy_users=())  # nobody may impersonate there (no hadoop.proxyuser.hue.*)
    integration = kerberized_hue()
    (alice,) = editors("alice")
    alice.create_session()
    assert alice.run(WHO) == [["hs2-a", "alice", cluster.hue_principal]]
    a.kill()
    with pytest.raises(EditorError) as refused:
        alice.run(WHO)
    assert "Failed to validate proxy privilege of hue for alice" in refused.value.message
    assert integration.discovery.cache.failover_counts() == {str(integration.config.hive_service): 1}  # a's death


def test_a_server_registered_by_address_is_the_kdcs_words_not_a_failover(kerberized_hue, kerberized_hs2, editors,
                                                                         kerberized_cluster):
    cluster = kerberized_cluster
    address = cluster.address_of(cluster.hosts[0])
    kerberized_hs2("hs2-ip", 0, published_host=address)  # principal hive/<host>, registered as <address>:<port>
    integration = kerberized_hue()
    (alice,) = editors("alice")
    with pytest.raises(EditorError) as failed:
        alice.create_session()
        alice.run(WHO)
    assert f"Server hive/{address}@{REALM} not found in Kerberos database" in failed.value.message
    assert integration.discovery.cache.failover_counts() == {}
