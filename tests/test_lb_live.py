"""Real haproxy, nginx and apache2 on loopback in front of real backends: small Hue imitations over HTTP, the
HiveServer2-protocol test server over TCP."""
import contextlib
import http.client

import pytest
from pyhive import hive

from hive_ha.lb import ProfileOptions, RuntimePaths, build
from tests.rig.lbrig import HueBackend, LoadBalancerProcess, lb_workdir
from hive_ha.testing.waiting import wait_until
from hive_ha.sandbox.zookeeper import free_port

pytestmark = pytest.mark.lb

LISTENERS = {"hue": ("hue",), "impala": ("impala_shell", "impala_jdbc", "impala_hue")}


def start_lb(kind, profile, servers, **kw):
    binds = tuple((name, ("127.0.0.1", free_port())) for name in LISTENERS[profile])
    opts = ProfileOptions(servers=servers, bind_host="127.0.0.1", binds=binds, check_interval=0.2,
                          paths=RuntimePaths.under(lb_workdir()), **kw)
    return LoadBalancerProcess(kind, build(kind, profile, opts)).start()


class Browser:
    """Keeps cookies like a browser; one connection per request."""

    def __init__(self, port):
        self.port = port
        self.cookies = {}

    def get(self, path="/"):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            body = response.read().decode()
            for value in response.headers.get_all("Set-Cookie") or ():
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";")[0]
            return response.status, body
        finally:
            conn.close()


@pytest.fixture
def hue_pair():
    with HueBackend("hue-a") as a, HueBackend("hue-b") as b:
        yield a, b


@pytest.mark.parametrize("kind", ["haproxy", "nginx", "httpd"])
def test_hue_stickiness_holds_and_a_killed_backend_stops_getting_traffic(kind, hue_pair):
    a, b = hue_pair
    backends = {"hue-a": a, "hue-b": b}
    lb = start_lb(kind, "hue", (a.address, b.address))
    try:
        browser = Browser(lb.port("hue"))
        status, _ = browser.get()
        assert status == 200 and "sessionid" in browser.cookies
        served = {browser.get()[1] for _ in range(10)}
        assert len(served) == 1, served  # every request after the session started went to one Hue
        sticky = served.pop()
        other = "hue-b" if sticky == "hue-a" else "hue-a"
        assert all(h.get("x-forwarded-for") == "127.0.0.1" for h in backends[sticky].seen_headers)
        assert all(h.get("x-forwarded-proto") == "http" for h in backends[sticky].seen_headers)
        # Other sessions land on both servers over time (new browsers, no cookies).
        wait_until(lambda: {Browser(lb.port("hue")).get()[1], Browser(lb.port("hue")).get()[1]} == {"hue-a", "hue-b"}
                   or (a.hits and b.hits), 10, message="new sessions never reached both servers")

        backends[sticky].stop()
        hits_before = backends[sticky].hits
        wait_until(lambda: browser.get() == (200, other), 15, message=lambda: f"no fail-over: {lb.log_tail()}")
        assert all(browser.get() == (200, other) for _ in range(5))
        assert backends[sticky].hits == hits_before
    finally:
        lb.stop()


@pytest.mark.parametrize("kind", ["haproxy", "httpd"])  # open-source nginx has passive checks only
def test_is_alive_check_marks_a_backend_down(kind, hue_pair):
    a, b = hue_pair
    lb = start_lb(kind, "hue", (a.address, b.address))
    try:
        wait_until(lambda: a.checks and b.checks, 15, message="no health checks seen")
        browser = Browser(lb.port("hue"))
        browser.get()
        sticky = browser.get()[1]
        down, up = (a, b) if sticky == "hue-a" else (b, a)
        down.set_alive(False)  # still serves pages: only the check can move the session away
        wait_until(lambda: browser.get() == (200, up.name), 20,
                   message=lambda: f"{down.name} never marked down: {lb.log_tail()}")
        down.set_alive(True)
        fresh = Browser(lb.port("hue"))
        wait_until(lambda: fresh.get()[1] == down.name or not fresh.cookies.clear(), 20,
                   message=f"{down.name} never came back")
    finally:
        lb.stop()


def current_server(port):
    conn = hive.connect("127.0.0.1", port, auth="NONE", username="bob")
    cursor = conn.cursor()
    cursor.execute("select current_server()")
    return conn, cursor.fetchall()[0][0]


@contextlib.contextmanager
def open_connections(port, count):
    conns = []
    try:
        names = []
        for _ in range(count):
            conn, name = current_server(port)
            conns.append(conn)
            names.append(name)
        yield names
    finally:
        for conn in conns:
            conn.close()


@pytest.mark.parametrize("kind", ["haproxy", "nginx"])
def test_impala_leastconn_spreads_source_hash_sticks_and_dead_backend_is_avoided(kind, hs2_server_factory):
    one, two = hs2_server_factory("coord-1"), hs2_server_factory("coord-2")
    servers = ((one.host, one.port), (two.host, two.port))
    lb = start_lb(kind, "impala", servers, shell_servers=servers)
    try:
        with open_connections(lb.port("impala_jdbc"), 4) as names:
            assert sorted(names) == ["coord-1", "coord-1", "coord-2", "coord-2"]  # least connections: 2 and 2
        with open_connections(lb.port("impala_hue"), 4) as names:
            assert len(set(names)) == 1  # one client address -> one coordinator for all of Hue's connections
            hue_coordinator = names[0]
        dead, alive = (one, two) if hue_coordinator == "coord-1" else (two, one)
        dead.stop()

        def reaches_alive():
            conn, name = current_server(lb.port("impala_hue"))
            conn.close()
            return name == alive.name
        wait_until(reaches_alive, 15, message=lambda: f"Hue's port still sends to the dead coordinator: {lb.log_tail()}")
        with open_connections(lb.port("impala_jdbc"), 3) as names:
            assert names == [alive.name] * 3
    finally:
        lb.stop()


@pytest.mark.parametrize("kind", ["haproxy", "nginx", "httpd"])
def test_stats_page_is_protected(kind, hue_pair):
    """HAProxy: basic auth (401 without it); nginx stub_status and httpd server-status/balancer-manager: loopback only,
    no credentials."""
    from hive_ha.lb import Address, Stats

    a, b = hue_pair
    port = free_port()
    stats = Stats(Address("127.0.0.1", port), "admin", "s3cret-pw") if kind == "haproxy" else Stats(Address("127.0.0.1", port))
    lb = start_lb(kind, "hue", (a.address, b.address), stats=stats)
    try:
        def get(path, headers=None):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                conn.request("GET", path, headers=headers or {})
                response = conn.getresponse()
                return response.status, response.read().decode(errors="replace")
            finally:
                conn.close()
        if kind == "haproxy":
            assert get("/stats")[0] == 401
            import base64
            auth = {"Authorization": "Basic " + base64.b64encode(b"admin:s3cret-pw").decode()}
            status, body = get("/stats", auth)
            assert status == 200 and "hue" in body
        elif kind == "nginx":
            status, body = get("/stats")
            assert status == 200 and "Active connections" in body
        else:
            status, body = get("/stats?auto")
            assert status == 200 and "Total Accesses" in body
            status, body = get("/balancer-manager")
            assert status == 200 and "balancer://hue" in body and f"127.0.0.1:{a.port}" in body
    finally:
        lb.stop()
