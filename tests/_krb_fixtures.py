"""Pytest fixtures for Kerberos (loaded by tests/conftest.py): one MIT KDC and one GSSAPI ZooKeeper per session.

  krb_rig          KerberosRig (session): realm EXAMPLE.TEST, principals zookeeper/localhost, hive/localhost, hue,
                   alice, renewer (8 s tickets); this process gets KRB5_CONFIG for it while the session runs.
  krb_zk           ZooKeeper requiring SASL GSSAPI (session); dial it as ``krb_zk_hosts`` ("localhost:<port>").
  krb_identity     function: ``krb_identity(user)`` makes ``user`` (or several: ``krb_identity("hue", "hive")``)
                   this process's Kerberos identities from their keytabs for the test; the environment, the
                   ticket caches, hive-ha's shared ZooKeeper clients and renewers are reset afterwards.
  krb_registrar    Registrar logged in as hive/localhost with Hive's secure ACL (world-read, hive-only write).
  krb_hs2_factory  ``make(name, process=False)``: HS2Server / HS2ServerProcess accepting SASL GSSAPI as hive/localhost.
"""
import os

import pytest

from hive_ha.io import kerberos, zookeeper
from hive_ha.clients.dbapi import close_discoveries
from hive_ha.sandbox.hs2server import HS2Server, HS2ServerProcess
from hive_ha.sandbox.kdc import KerberosRig
from hive_ha.sandbox.registrar import Registrar, hive_secure_acl
from hive_ha.sandbox.zookeeper import ZooKeeperServer

_KRB_VARS = ("KRB5_CONFIG", "KRB5_KDC_PROFILE", "KRB5RCACHEDIR", "KRB5CCNAME", "KRB5_CLIENT_KTNAME")


def _restore(saved):
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def krb_rig():
    saved = {key: os.environ.get(key) for key in _KRB_VARS}
    with KerberosRig() as rig:
        os.environ.update(rig.env)
        os.environ["KRB5CCNAME"] = "MEMORY:hive-ha-no-identity"  # until a test picks one
        os.environ.pop("KRB5_CLIENT_KTNAME", None)
        try:
            yield rig
        finally:
            _restore(saved)


@pytest.fixture(scope="session")
def krb_zk(krb_rig):
    with ZooKeeperServer(**krb_rig.zookeeper_kwargs()) as server:
        yield server


@pytest.fixture(scope="session")
def krb_zk_hosts(krb_rig, krb_zk):
    return krb_rig.zookeeper_hosts(krb_zk)


@pytest.fixture
def krb_identity(krb_rig, tmp_path):
    """Make users this process's identities: a DIR ticket-cache collection fed from a merged client keytab, so
    several principals (a server's and a client's) can log in side by side in one process."""
    saved = {key: os.environ.get(key) for key in _KRB_VARS}
    pool = zookeeper.POOL

    def use(*users):
        ccdir = tmp_path / ("ccache-" + "-".join(users))
        ccdir.mkdir()
        merged = str(tmp_path / ("client-" + "-".join(users) + ".keytab"))
        for user in users:
            krb_rig.kdc.export(krb_rig.hive_principal if user == "hive" else krb_rig.principal(user), merged)
        os.environ["KRB5_CLIENT_KTNAME"] = merged
        os.environ["KRB5CCNAME"] = "DIR:%s" % ccdir
        return os.environ["KRB5CCNAME"]

    yield use
    close_discoveries()
    pool.close_all()
    kerberos.stop_logins()
    _restore(saved)


@pytest.fixture
def krb_registrar(krb_rig, krb_zk_hosts, krb_identity):
    krb_identity("hive", "hue", "alice")
    sasl = {"mechanism": "GSSAPI", "service": "zookeeper", "principal": krb_rig.hive_principal}
    registrar = Registrar(krb_zk_hosts, sasl_options=sasl, acl=hive_secure_acl(), session_timeout=3.0)
    yield registrar
    registrar.close()


@pytest.fixture
def krb_hs2_factory(krb_rig):
    started = []

    def make(name, process=False):
        if process:
            server = HS2ServerProcess(name, auth="KERBEROS", kerberos=krb_rig.hs2_acceptor(), env=krb_rig.env)
        else:
            server = HS2Server(name, auth="KERBEROS", kerberos=krb_rig.hs2_acceptor())
        started.append(server.start())
        return server

    yield make
    for server in reversed(started):
        server.stop()

