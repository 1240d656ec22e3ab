"""Kerberos end to end with a real Spark Thrift Server: a KDC, ZooKeeper requiring SASL GSSAPI, a Kerberized Spark
Thrift Server and a Kerberized Python test server registered with Hive's secure ACL; hive_ha.connect finds them,
fails over after a kill -9, and a client without a ticket is refused with a clear message."""
import os

import pytest

import hive_ha
from tests.rig.spark import SparkThriftServer
from hive_ha.io.zookeeper import ZkSettings

pytestmark = [pytest.mark.slow, pytest.mark.spark]  # starts its own Spark Thrift Server
kerberos = pytest.importorskip("kerberos", reason="pip install 'hive-ha[kerberos]'")


def kerberized_spark(rig, registrar, namespace):
    """Spark Thrift Server accepting only GSSAPI as hive/localhost (flags: docs/kerberos.md)."""
    return SparkThriftServer(
        "spark-krb", auth="KERBEROS", registrar=registrar, namespace=namespace, advertised_host="localhost",
        conf={"spark.hadoop.hadoop.security.authentication": "kerberos"},
        hiveconf={"hive.server2.authentication.kerberos.principal": rig.hive_principal,
                  "hive.server2.authentication.kerberos.keytab": rig.hive_keytab,
                  "hive.server2.enable.doAs": "false"},
        java_options=rig.jvm_flags(), env=rig.env, probe=_probe_as_localhost)


def _probe_as_localhost(server):
    """The ready check: a GSSAPI OpenSession with this process's ticket, dialling the principal's host (a client
    dialling 127.0.0.1 would ask the KDC for hive/127.0.0.1)."""
    from pyhive import hive

    hive.connect("localhost", server.port, auth="KERBEROS", kerberos_service_name="hive").close()


def query(hosts, namespace, principal, sql):
    settings = ZkSettings(hosts=hosts, auth_scheme="sasl", sasl_mechanism="GSSAPI", sasl_principal=principal,
                          connect_timeout=20.0, session_timeout=10.0)
    conn = hive_ha.connect(zookeeper=settings, namespace=namespace, auth="KERBEROS", kerberos_service_name="hive",
                           policy="oldest")
    try:
        cursor = conn.cursor()
        cursor.execute(sql)
        return cursor.fetchall()
    finally:
        conn.close()


def test_kerberized_spark_and_python_server_fail_over(krb_rig, krb_zk_hosts, krb_registrar, krb_hs2_factory,
                                                      zk_namespace):
    from pyhive import hive

    spark = kerberized_spark(krb_rig, krb_registrar, zk_namespace).launch()  # boots while the rest is set up
    try:
        python_server = krb_hs2_factory("py-krb", process=True)
        spark.wait_ready()  # its ready probe is a PyHive GSSAPI OpenSession with this process's ticket
        # Registered after Spark: Spark is the oldest registration, so policy "oldest" picks it first.
        krb_registrar.register("localhost", python_server.port, namespace=zk_namespace.strip("/"),
                               authentication="KERBEROS", principal="hive/_HOST@" + krb_rig.realm)
        hue = krb_rig.principal("hue")

        assert query(krb_zk_hosts, zk_namespace, hue, "set spark.app.name") == [("spark.app.name", "spark-krb")]

        # No ticket and no keytab: Spark refuses, through hive_ha.connect and straight through PyHive.
        saved = {key: os.environ.pop(key) for key in ("KRB5CCNAME", "KRB5_CLIENT_KTNAME")}
        os.environ["KRB5CCNAME"] = "MEMORY:empty"
        try:
            with pytest.raises(kerberos.GSSError, match="No Kerberos credentials available"):
                query(krb_zk_hosts, zk_namespace, hue, "set spark.app.name")
            with pytest.raises(kerberos.GSSError, match="No Kerberos credentials available"):
                hive.connect("localhost", spark.port, auth="KERBEROS", kerberos_service_name="hive")
        finally:
            os.environ.update(saved)
        with pytest.raises(Exception, match="Unsupported mechanism type PLAIN"):  # a user name is not enough
            hive.connect("localhost", spark.port, auth="NONE", username="mallory")

        spark.kill()  # SIGKILL of the JVM; its znode lingers until the session expires
        ((server, user),) = query(krb_zk_hosts, zk_namespace, hue, "select current_server(), current_user()")
        assert server == "py-krb" and user.endswith("@" + krb_rig.realm)  # a Kerberos identity, not a user name
    finally:
        spark.kill()

