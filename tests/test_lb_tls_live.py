"""Real haproxy doing TLS on loopback: passthrough and bridge in front of a TLS backend, offload in front of a plain one,
and a bridge refusing a backend whose certificate comes from another CA. Certificates are made per test module in a
temp dir (``cryptography``)."""
import http.client
import shutil
import ssl

import pytest

from hive_ha.lb import ProfileOptions, RuntimePaths, Tls, build
from tests.rig.lbrig import HueBackend, LoadBalancerProcess, TlsFiles, lb_workdir
from hive_ha.testing.waiting import wait_until
from hive_ha.sandbox.zookeeper import free_port

pytestmark = pytest.mark.lb


@pytest.fixture(scope="module")
def certs():
    trusted_dir, other_dir = lb_workdir("hive-ha-tls-"), lb_workdir("hive-ha-tls-other-")
    yield TlsFiles(trusted_dir), TlsFiles(other_dir)  # two CAs: the LB trusts only the first
    shutil.rmtree(trusted_dir, ignore_errors=True)
    shutil.rmtree(other_dir, ignore_errors=True)


def https_get(port, ca):
    """GET / over TLS, verifying the server's certificate against ``ca`` and the name ``localhost``."""
    context = ssl.create_default_context(cafile=ca)
    conn = http.client.HTTPSConnection("localhost", port, timeout=10, context=context)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        return response.status, response.read().decode(), conn.sock.getpeercert()
    finally:
        conn.close()


def start(mode, backend, tls_files):
    workdir = lb_workdir()
    tls = Tls(mode, cert=tls_files.combined, ca=tls_files.ca)
    opts = ProfileOptions(servers=(("localhost", backend.port),), bind_host="127.0.0.1",
                          binds=(("hue", ("127.0.0.1", free_port())),), check_interval=0.2, tls=tls,
                          paths=RuntimePaths.under(workdir))
    return LoadBalancerProcess("haproxy", build("haproxy", "hue", opts)).start()


@pytest.mark.parametrize("mode", ["passthrough", "bridge"])
def test_tls_to_a_tls_backend(certs, mode):
    trusted, _ = certs
    with HueBackend("tls-backend", tls=trusted) as backend:
        lb = start(mode, backend, trusted)
        try:
            wait_until(lambda: backend.checks > 0, 20, message=lambda: f"no TLS health check: {lb.log_tail()}")
            status, body, peer = https_get(lb.port("hue"), trusted.ca)
            assert (status, body) == (200, "tls-backend")
            assert dict(x[0] for x in peer["subject"])["commonName"] == "localhost"
            if mode == "bridge":  # the LB decrypted and re-encrypted: it could add the forwarded headers
                assert backend.seen_headers[-1].get("x-forwarded-proto") == "https"
            else:  # passthrough: the bytes went through untouched, no header could be added
                assert "x-forwarded-proto" not in backend.seen_headers[-1]
        finally:
            lb.stop()


def test_offload_in_front_of_a_plain_backend(certs):
    trusted, _ = certs
    with HueBackend("plain-backend") as backend:
        lb = start("offload", backend, trusted)
        try:
            status, body, _ = https_get(lb.port("hue"), trusted.ca)
            assert (status, body) == (200, "plain-backend")
            assert backend.seen_headers[-1].get("x-forwarded-proto") == "https"
            with pytest.raises(ssl.SSLError):  # clients that do not trust the LB's CA are refused
                https_get(lb.port("hue"), certs[1].ca)
        finally:
            lb.stop()


def test_bridge_refuses_a_backend_certificate_from_an_untrusted_ca(certs):
    trusted, other = certs
    with HueBackend("impostor", tls=other) as impostor:
        lb = start("bridge", impostor, trusted)
        try:
            status, body, _ = https_get(lb.port("hue"), trusted.ca)
            assert status == 503 and body != "impostor"
            assert impostor.hits == 0
        finally:
            lb.stop()
