"""Pytest fixtures for HiveServer2-protocol test servers (hive_ha.sandbox.hs2server).

    def test_x(hs2_server):                       # binary, SASL PLAIN (Hive auth NONE), any password
        hive.connect(hs2_server.host, hs2_server.port, auth="NONE", username="bob")

    def test_y(hs2_server_factory):               # several servers, any options
        a = hs2_server_factory(name="hs2-a")
        b = hs2_server_factory(name="hs2-b", auth="NOSASL")

    def test_z(hs2_process_factory):              # child processes, for SIGKILL
        proc = hs2_process_factory(name="hs2-c"); proc.kill()

    def test_t(hs2_server_factory, hs2_tls):      # TLS (binary or http), a certificate from a test CA
        server = hs2_server_factory(tls=hs2_tls.server)   # clients trust hs2_tls.ca

Every fixture stops what it started, in reverse order.
"""
import pytest

from hive_ha.sandbox.hs2server import HS2Server, HS2ServerProcess


@pytest.fixture
def hs2_server_factory():
    """``make(name=None, **opts) -> started HS2Server``; opts as HS2Server's (auth, transport, users, ...)."""
    started = []

    def make(name=None, **opts):
        server = HS2Server(name, **opts).start()
        started.append(server)
        return server

    yield make
    for server in reversed(started):
        server.stop()


@pytest.fixture
def hs2_server(hs2_server_factory):
    """One binary server with Hue's usual setting: SASL PLAIN (hive.server2.authentication=NONE), named hs2-a."""
    return hs2_server_factory("hs2-a", auth="NONE")


@pytest.fixture
def hs2_process_factory():
    """``make(name=None, **opts) -> started HS2ServerProcess`` (a child process that can be SIGKILLed)."""
    started = []

    def make(name=None, **opts):
        proc = HS2ServerProcess(name, **opts)
        started.append(proc)
        return proc.start()

    yield make
    for proc in reversed(started):
        proc.stop()


@pytest.fixture(scope="session")
def hs2_tls(tmp_path_factory):
    """Certificates for TLS test servers (``HS2Server(tls=hs2_tls.server)``), made for the run by a throw-away CA:
    ``ca`` (its PEM file), ``server`` (certificate, key) naming localhost and 127.0.0.1, ``elsewhere`` from the same CA
    naming only elsewhere.invalid, ``client`` (a client certificate and key) and ``stranger_ca``, a CA that signed
    none of them."""
    import types

    from hive_ha.sandbox.certs import TestCA

    ca = TestCA(str(tmp_path_factory.mktemp("hs2-tls")))
    stranger = TestCA(str(tmp_path_factory.mktemp("hs2-tls-stranger")), common_name="a stranger CA")
    return types.SimpleNamespace(ca=ca.ca_file, server=ca.issue("server", ["localhost", "127.0.0.1"]),
                                 elsewhere=ca.issue("elsewhere", ["elsewhere.invalid"]),
                                 client=ca.issue("client", client=True), stranger_ca=stranger.ca_file)
