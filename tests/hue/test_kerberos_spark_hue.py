"""A Kerberized Spark Thrift Server and a Kerberized test server behind a Kerberized cluster's Hue (through Hue's
notebook API): Spark serves first, is killed with ``kill -9``, and every user goes on on the other server, on the
other host name, as themselves (tests/hue/kerberized.py has the cluster; the Spark flags are docs/kerberos.md's)."""
import os
import subprocess

import pytest

from hive_ha.sandbox.lifecycle import rig_python
from hive_ha.sandbox.registrar import Registrar, hive_secure_acl
from tests.hue.kerberized import HIVE_PRINCIPAL, HUE_USER, REGISTRATION_SESSION
from tests.rig.spark import SparkThriftServer

pytestmark = [pytest.mark.kerberos, pytest.mark.spark, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

_PROBE = ("import sys; from pyhive import hive; hive.connect(host=sys.argv[1], port=int(sys.argv[2]), "
          "auth='KERBEROS', kerberos_service_name='hive').close()")


def probe_by_name(host):
    """Spark's ready check: a GSSAPI OpenSession dialling the host of its principal, with Hue's ticket, from the rig's
    interpreter (PyHive is not in Hue's virtualenv)."""
    def probe(server):
        done = subprocess.run([rig_python(), "-c", _PROBE, host, str(server.port)], capture_output=True, text=True,
                              timeout=60)
        if done.returncode != 0:
            raise OSError(f"probe of {server.address} failed: {done.stderr.strip()[-500:]}")
    return probe


@pytest.fixture
def hive_registrar(kerberized_cluster, tmp_path):
    """Registrations made as hive/<host> (Hive's secure ACL) with a ticket cache of their own: this process's
    default cache is Hue's."""
    cluster = kerberized_cluster
    host = cluster.hosts[0]
    ccache = f"FILE:{tmp_path}/hive.ccache"
    cluster.rig.kdc.kinit(cluster.rig.hive_principal_for(host), cluster.rig.hive_keytab_for(host), ccache)
    sasl = {"mechanism": "GSSAPI", "service": "zookeeper", "principal": cluster.rig.hive_principal_for(host)}
    registrar = Registrar(cluster.zk_hosts, sasl_options=sasl, acl=hive_secure_acl(),
                          session_timeout=REGISTRATION_SESSION, ticket_cache=ccache)
    yield registrar
    registrar.close()


def test_kill_9_of_a_kerberized_spark_thrift_server_behind_kerberized_hue(
        kerberized_hue, kerberized_hs2, editors, kerberized_cluster, hive_registrar, zk_namespace):
    cluster = kerberized_cluster
    host = cluster.hosts[0]
    rig = cluster.rig
    spark = SparkThriftServer(
        "spark-krb", host=cluster.address_of(host), auth="KERBEROS", registrar=hive_registrar,
        namespace=zk_namespace, advertised_host=host, register_kwargs={"principal": HIVE_PRINCIPAL},
        conf={"spark.hadoop.hadoop.security.authentication": "kerberos",
              # Hue may impersonate (Hive's HiveAuthFactory.verifyProxyAccess reads hadoop.proxyuser.*)
              f"spark.hadoop.hadoop.proxyuser.{HUE_USER}.hosts": "*",
              f"spark.hadoop.hadoop.proxyuser.{HUE_USER}.groups": "*"},
        hiveconf={"hive.server2.authentication.kerberos.principal": rig.hive_principal_for(host),
                  "hive.server2.authentication.kerberos.keytab": rig.hive_keytab_for(host),
                  "hive.server2.enable.doAs": "false"},
        java_options=rig.jvm_flags(), env=cluster.env, probe=probe_by_name(host)).launch()
    try:
        integration = kerberized_hue()
        spark.wait_ready()  # registered before the test server: the oldest, so chosen first
        kerberized_hs2("hs2-b", 1)
        users = dict(zip(("alice", "bob"), editors("alice", "bob")))
        for name, editor in users.items():
            editor.create_session()
            snippet = editor.execute("select current_user()")
            editor.wait(snippet)
            assert editor.fetch_result_data(snippet)["data"] == [[name]]  # Spark's session user: the editor's
            assert snippet["result"]["handle"]["hive_ha_server"] == f"{host}:{spark.port}"
        spark.kill()  # SIGKILL of the JVM; its znode stays until its ZooKeeper session expires
        for name, editor in users.items():
            assert editor.run("select current_server(), current_user(), logged_in_user()") == \
                [["hs2-b", name, cluster.hue_principal]]
        assert integration.discovery.cache.failover_counts() == {str(integration.config.hive_service): 1}
        from desktop.conf import KERBEROS

        assert os.environ["KRB5CCNAME"] == KERBEROS.CCACHE_PATH.get()  # the registrar's ticket stayed its own
    finally:
        spark.kill()
