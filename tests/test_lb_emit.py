"""Load-balancer emitters: every profile x load balancer x TLS mode is accepted by the real binary; bad input is
refused with the value named and nothing written."""
import os
import shutil
import subprocess
import sys

import pytest

from hive_ha.errors import ConfigError, LoadBalancerConfigRejected
from hive_ha.lb import ProfileOptions, RuntimePaths, Server, Tls, build, check, render, write_atomically
from hive_ha.lb.model import Listener, extra_from_pairs
from tests.rig.lbrig import TlsFiles, lb_workdir

SERVERS = (("127.0.0.1", 18001), ("127.0.0.1", 18002))


@pytest.fixture(scope="module")
def workdir():
    path = lb_workdir("hive-ha-lb-emit-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def tls_files(workdir):
    return TlsFiles(workdir)


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "hive_ha.cli", "emit", *args], capture_output=True, text=True,
                          timeout=60, env=env)


def options(workdir, tls_files, kind, tls_mode, **kw):
    tls = Tls(tls_mode, cert=(tls_files.combined if kind == "haproxy" else tls_files.cert), key=tls_files.key,
              ca=tls_files.ca, backend_name="localhost")
    kw.setdefault("servers", SERVERS)
    kw.setdefault("shell_servers", (("127.0.0.1", 18021), ("127.0.0.1", 18022)))
    return ProfileOptions(tls=tls, bind_host="127.0.0.1", paths=RuntimePaths.under(workdir), **kw)


MATRIX = [(kind, profile, tls) for kind in ("haproxy", "nginx", "httpd")
          for profile in (("hue",) if kind == "httpd" else ("hue", "impala", "hiveserver2"))
          for tls in (("none", "bridge", "offload") if kind == "httpd" else ("none", "passthrough", "bridge", "offload"))]


@pytest.mark.lb
@pytest.mark.parametrize("kind,profile,tls_mode", MATRIX)
def test_every_combination_is_accepted_by_the_binary(workdir, tls_files, kind, profile, tls_mode):
    extra = {"http_servers": (("127.0.0.1", 18011),)} if profile == "hiveserver2" else {}
    model = build(kind, profile, options(workdir, tls_files, kind, tls_mode, **extra))
    text = render(kind, model)
    check(kind, text)  # raises with the binary's output when refused
    if tls_mode in ("bridge", "offload"):
        assert tls_files.key in text or tls_files.combined in text
    if tls_mode == "bridge":
        assert tls_files.ca in text


@pytest.mark.lb
def test_the_binary_check_reports_a_refusal(workdir, tls_files):
    model = build("haproxy", "impala", options(workdir, tls_files, "haproxy", "none"))
    text = render("haproxy", model).replace("balance leastconn", "balance no-such-algorithm", 1)
    with pytest.raises(LoadBalancerConfigRejected) as err:
        check("haproxy", text)
    assert "balance only supports" in str(err.value) and err.value.binary == "haproxy"


def test_haproxy_hue_cookie_stickiness_done_right(workdir, tls_files):
    text = render("haproxy", build("haproxy", "hue", options(workdir, tls_files, "haproxy", "none")))
    assert "cookie SERVERID insert indirect nocache httponly" in text  # the backend directive Hue's template forgot
    assert "server s_127.0.0.1_18001 127.0.0.1:18001 check inter 2s fall 3 rise 2 cookie s_127.0.0.1_18001" in text
    assert "http-check send meth GET uri /desktop/debug/is_alive" in text and "http-check expect status 200" in text
    assert "option forwardfor" in text and "X-Forwarded-Proto" in text
    assert "option redispatch" in text and "retries 3" in text


def test_impala_profile_ports_balance_and_timeouts(workdir, tls_files):
    model = build("haproxy", "impala", options(workdir, tls_files, "haproxy", "none", session_timeout=43200))
    assert [(l.name, l.bind.port, l.balance, l.stickiness, l.servers[0].port) for l in model.listeners] == [
        ("impala_shell", 21000, "leastconn", "none", 18021),
        ("impala_jdbc", 21050, "leastconn", "none", 18001),
        ("impala_hue", 21051, "leastconn", "source", 18001)]
    text = render("haproxy", model)
    assert text.count("timeout client 43200s") == 3 and text.count("timeout server 43200s") == 3
    assert "balance source\n    hash-type consistent" in text
    assert "hard-stop-after 3600s" in text
    assert all(" check " in line for line in text.splitlines() if line.strip().startswith("server "))
    nginx_text = render("nginx", build("nginx", "impala", options(workdir, tls_files, "nginx", "none")))
    assert "worker_shutdown_timeout 3600s;" in nginx_text and "proxy_timeout 21600s;" in nginx_text
    assert nginx_text.count("least_conn;") == 2 and "hash $remote_addr consistent;" in nginx_text


def test_nginx_sticky_only_where_the_version_has_it(workdir, tls_files):
    model = build("nginx", "hue", options(workdir, tls_files, "nginx", "none"))
    assert "hash $cookie_sessionid consistent;" in render("nginx", model, nginx_version=(1, 22, 1))
    newer = render("nginx", model, nginx_version=(1, 29, 6))
    assert "sticky cookie SERVERID" in newer and "$cookie_sessionid" not in newer


def test_httpd_routeid_and_hcheck(workdir, tls_files):
    text = render("httpd", build("httpd", "hue", options(workdir, tls_files, "httpd", "none")))
    assert "stickysession=ROUTEID" in text and "route=s_127.0.0.1_18001" in text
    assert 'Header add Set-Cookie "ROUTEID=.%{BALANCER_WORKER_ROUTE}e' in text
    assert "hcmethod=GET hcuri=/desktop/debug/is_alive" in text and "lbmethod=bybusyness" in text


@pytest.mark.lb
def test_httpd_tls_backends_keep_peer_name_checks_unless_asked(workdir, tls_files):
    text = render("httpd", build("httpd", "hue", options(workdir, tls_files, "httpd", "bridge")))
    assert "SSLProxyCheckPeerName on" in text and "SSLProxyCheckPeerCN on" in text and "STOP-GAP" not in text
    opts = options(workdir, tls_files, "httpd", "bridge")
    opts = ProfileOptions(**{**opts.__dict__, "tls": Tls("bridge", cert=tls_files.cert, key=tls_files.key,
                                                        ca=tls_files.ca, verify_backend_name=False)})
    off = render("httpd", build("httpd", "hue", opts))
    assert "SSLProxyCheckPeerName off" in off and "# STOP-GAP" in off
    assert off.index("# STOP-GAP") < off.index("SSLProxyCheckPeerName off")
    check("httpd", off)


def test_httpd_is_for_hue_only_and_cannot_pass_tls_through(workdir, tls_files):
    for profile in ("impala", "hiveserver2"):
        with pytest.raises(ConfigError, match="httpd serves Hue's web tier only"):
            build("httpd", profile, options(workdir, tls_files, "httpd", "none"))
    with pytest.raises(ConfigError, match="passthrough"):
        build("httpd", "hue", options(workdir, tls_files, "httpd", "passthrough"))


def test_round_robin_on_hue_facing_ports_needs_force(workdir, tls_files):
    for profile in ("hue", "impala", "hiveserver2"):
        with pytest.raises(ConfigError, match="round robin breaks Hue's sessions"):
            build("haproxy", profile, options(workdir, tls_files, "haproxy", "none", balance="roundrobin"))
    forced = build("haproxy", "impala", options(workdir, tls_files, "haproxy", "none", balance="roundrobin",
                                                force_round_robin=True))
    assert forced.listener("impala_hue").balance == "roundrobin" and forced.listener("impala_hue").stickiness == "none"
    # Round robin is fine where Hue does not depend on it (impala-shell, JDBC).
    assert forced.listener("impala_shell").balance == "roundrobin"


def test_with_servers_rerenders_a_new_pool(workdir, tls_files):
    model = build("haproxy", "impala", options(workdir, tls_files, "haproxy", "none"))
    changed = model.with_servers({"impala_hue": (Server("127.0.0.1", 18003),)})
    text = render("haproxy", changed)
    assert "server s_127.0.0.1_18003 127.0.0.1:18003" in text
    assert changed.listener("impala_jdbc") == model.listener("impala_jdbc")
    with pytest.raises(ConfigError, match="nope"):
        model.with_servers({"nope": ()})


@pytest.mark.process
@pytest.mark.parametrize("value", [
    "host\nglobal:1", "ho st:1", "host{:1", "host}:1", "'host':1", '"host":1', "host;reboot:1", "host:0",
    "host:65536", "host:80;", "host", "-host:1",
])
def test_hostile_server_values_are_refused(tmp_path, value):
    out = tmp_path / "lb.cfg"
    result = run_cli("haproxy", "--profile", "hue", f"--server={value}", "-o", str(out))
    assert result.returncode == 2, result.stderr
    assert repr(value) in result.stderr  # the message names the value
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.process
@pytest.mark.parametrize("flag,value", [
    ("--tls-cert", "/etc/x.pem;"), ("--tls-cert", "relative.pem"), ("--stats-user", "ad min"),
    ("--extra", "global=x\ny"), ("--bind", "hue=0.0.0.0:1 ssl"), ("--lb-host", "lb}"),
    ("--kerberos-realm", "EX AMPLE"), ("--runtime-dir", "/tmp/x y"),
])
def test_hostile_option_values_are_refused(tmp_path, flag, value):
    out = tmp_path / "lb.cfg"
    result = run_cli("haproxy", "--profile", "hue", "--server", "127.0.0.1:8888", "--tls", "offload",
                     "--tls-cert", "/etc/ssl/hue.pem", flag, value, "-o", str(out))
    assert result.returncode == 2, result.stderr
    assert repr(value) in result.stderr or repr(value.partition("=")[2]) in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.process
def test_servers_file_with_a_bad_line_names_it(tmp_path):
    servers = tmp_path / "servers.txt"
    servers.write_text("# hue servers\n127.0.0.1:8888\n\n127.0.0.1:8889 backup\n")
    result = run_cli("haproxy", "--profile", "hue", "--servers-file", str(servers), "-o", str(tmp_path / "o"))
    assert result.returncode == 2 and "line 4" in result.stderr and "'127.0.0.1:8889 backup'" in result.stderr
    assert not (tmp_path / "o").exists()


def test_extra_lines_land_in_their_section():
    extra = extra_from_pairs(("hue=http-request deny if { path_beg /admin }", "global=tune.bufsize 32768"))
    assert extra == (("hue", ("http-request deny if { path_beg /admin }",)), ("global", ("tune.bufsize 32768",)))
    model = build("haproxy", "hue", ProfileOptions(servers=SERVERS, extra=extra))
    text = render("haproxy", model)
    assert text.index("tune.bufsize 32768") < text.index("defaults")
    assert text.index("backend hue") < text.index("http-request deny if { path_beg /admin }")


def test_listener_model_refuses_cookies_on_tcp():
    with pytest.raises(ConfigError, match="cookie"):
        Listener("x", "tcp", build("haproxy", "hue", ProfileOptions(servers=SERVERS)).listeners[0].bind,
                 (Server("127.0.0.1", 1),), stickiness="cookie")


@pytest.mark.lb
@pytest.mark.process
def test_cli_writes_config_and_client_settings_and_prints_password_once(tmp_path):
    out = tmp_path / "haproxy.cfg"
    result = run_cli("haproxy", "--profile", "impala", "--server", "127.0.0.1:21050", "--server", "127.0.0.2",
                     "--lb-host", "lb.example.com", "--kerberos-realm", "EXAMPLE.COM", "--runtime-dir", str(tmp_path),
                     "--check", "-o", str(out))
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    password = next(line.split("password ")[1].split()[0] for line in result.stderr.splitlines() if "stats page" in line)
    assert result.stderr.count(password) == 1 and f"stats auth admin:{password}" in text
    assert oct(out.stat().st_mode & 0o777) == "0o600"  # it holds the stats password
    assert "server s_127.0.0.2_21050 127.0.0.2:21050" in text and "server s_127.0.0.2_21000 127.0.0.2:21000" in text
    for needle in ("--principal=impala/lb.example.com@EXAMPLE.COM", "--be_principal=impala/<this-host-fqdn>@EXAMPLE.COM",
                   "impala_principal=impala/lb.example.com", "-b lb.example.com"):
        assert needle in text
    clients = (tmp_path / "haproxy.cfg.clients.txt").read_text()
    for needle in ("server_host=lb.example.com", "server_port=21051", "server_conn_timeout=21600",
                   "impala_principal=impala/lb.example.com", "impala-shell -i lb.example.com:21000 -k -b lb.example.com",
                   "KrbHostFQDN=lb.example.com", "principal=impala/_HOST@EXAMPLE.COM"):
        assert needle in clients
    again = run_cli("haproxy", "--profile", "impala", "--server", "127.0.0.1", "--stats-password-env", "PW",
                    env={**os.environ, "PW": "s3cret-pw"})
    assert "stats auth admin:s3cret-pw" in again.stdout and "s3cret-pw" not in again.stderr


def other_gid():
    """A group this process may give a file, other than its own (root: any)."""
    if os.geteuid() == 0:
        return 65534 if os.getegid() != 65534 else 1
    others = [gid for gid in os.getgroups() if gid != os.getegid()]
    if not others:
        pytest.skip("needs root or a supplementary group to give a file another group")
    return others[0]


def mode_of(path):
    return oct(os.stat(path).st_mode & 0o777)


def test_written_files_are_private_and_a_rewrite_keeps_owner_group_and_never_widens(tmp_path):
    new = tmp_path / "new.cfg"
    write_atomically(str(new), "stats auth admin:secret\n")
    assert mode_of(new) == "0o600"
    shared = tmp_path / "shared.cfg"  # as an operator prepares it for a load balancer reading it as its group
    shared.write_text("old\n")
    os.chmod(shared, 0o644)
    os.chown(shared, -1, other_gid())
    before = os.stat(shared)
    write_atomically(str(shared), "stats auth admin:secret\n")
    after = os.stat(shared)
    assert (after.st_uid, after.st_gid, oct(after.st_mode & 0o777)) == (before.st_uid, before.st_gid, "0o600")
    os.chmod(shared, 0o640)
    write_atomically(str(shared), "new\n", 0o640)
    assert (mode_of(shared), os.stat(shared).st_gid) == ("0o640", before.st_gid)
    os.chmod(shared, 0o600)
    write_atomically(str(shared), "newer\n", 0o640)  # asking for more than the file gives: never widened
    assert mode_of(shared) == "0o600" and shared.read_text() == "newer\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.cfg", "shared.cfg"]  # no temporary file left


@pytest.mark.process
@pytest.mark.parametrize("kind", ["haproxy", "nginx", "httpd"])
def test_cli_mode_flag(tmp_path, kind):
    args = (kind, "--profile", "hue", "--server", "127.0.0.1:8888", "--runtime-dir", str(tmp_path))
    out = tmp_path / "lb.cfg"
    assert run_cli(*args, "-o", str(out)).returncode == 0
    assert mode_of(out) == "0o600" and mode_of(f"{out}.clients.txt") == "0o644"  # no secret in the client settings
    os.chmod(out, 0o640)
    os.chown(out, -1, other_gid())
    gid = os.stat(out).st_gid
    assert run_cli(*args, "-o", str(out), "--mode", "0640").returncode == 0
    assert (mode_of(out), os.stat(out).st_gid) == ("0o640", gid)
    for refused in ("0644", "0666", "u+r", "0040"):
        result = run_cli(*args, "-o", str(tmp_path / "other.cfg"), "--mode", refused)
        assert result.returncode == 2 and "--mode" in result.stderr and refused in result.stderr
    assert not (tmp_path / "other.cfg").exists()


@pytest.mark.process
def test_cli_hiveserver2_and_tls_pem_steps(tmp_path):
    result = run_cli("haproxy", "--profile", "hiveserver2", "--server", "127.0.0.1:10000",
                     "--http-server", "127.0.0.1:10001", "--tls", "offload", "--tls-cert", "/etc/haproxy/hs2.pem",
                     "--lb-host", "lb.example.com", "--no-stats")
    assert result.returncode == 0, result.stderr
    assert "backend hs2_binary" in result.stdout and "backend hs2_http" in result.stdout
    assert "listen stats" not in result.stdout
    for needle in ("hive_server_host=lb.example.com", "hive_server_port=10000",
                   "transportMode=http;httpPath=cliservice", "cm-auto-host_cert_chain.pem",
                   "chown haproxy:haproxy /etc/haproxy/hs2.pem", "chmod 600 /etc/haproxy/hs2.pem"):
        assert needle in result.stderr


@pytest.mark.lb
@pytest.mark.process
def test_cli_snippet_and_refusals(tmp_path):
    snippet = run_cli("nginx", "--profile", "hue", "--server", "127.0.0.1:8888", "--snippet")
    assert snippet.returncode == 0 and snippet.stdout.lstrip("# \n").find("events") == -1 and "upstream hue" in snippet.stdout
    assert run_cli("httpd", "--profile", "impala", "--server", "h:21050").returncode == 2
    bad_check = run_cli("haproxy", "--profile", "hue", "--server", "127.0.0.1:8888", "--tls", "offload",
                        "--tls-cert", str(tmp_path) + "/missing.pem", "--check", "-o", str(tmp_path / "x.cfg"))
    assert bad_check.returncode == 2 and "haproxy rejected the generated config" in bad_check.stderr
    assert not (tmp_path / "x.cfg").exists()


@pytest.mark.lb
@pytest.mark.process
def test_cli_from_zookeeper(zk_server, zk_namespace, registrar, tmp_path):
    registrar.register("127.0.0.1", 10000, namespace=zk_namespace)
    registrar.register("127.0.0.2", 10000, namespace=zk_namespace, transport_mode="http", http_port=10001)
    result = run_cli("haproxy", "--profile", "hiveserver2", "--from-zookeeper", zk_server.hosts,
                     "--namespace", zk_namespace, "--runtime-dir", str(tmp_path), "--no-stats", "--check")
    assert result.returncode == 0, result.stderr
    binary = result.stdout.split("\nbackend hs2_binary\n")[1].split("frontend hs2_http")[0]
    assert "127.0.0.1:10000" in binary and "127.0.0.2" not in binary
    assert "server s_127.0.0.2_10001 127.0.0.2:10001" in result.stdout.split("\nbackend hs2_http\n")[1]


@pytest.mark.lb
@pytest.mark.process
@pytest.mark.parametrize("kind", ["nginx", "httpd"])
def test_nginx_and_httpd_status_pages_are_loopback_only(workdir, tls_files, kind):
    from hive_ha.lb import Address, Stats

    model = build(kind, "hue", options(workdir, tls_files, kind, "none", stats=Stats(Address("127.0.0.1", 18999))))
    text = render(kind, model)
    check(kind, text)
    assert "127.0.0.1:18999" in text
    assert ("stub_status;" in text and "deny all;" in text) if kind == "nginx" else \
        ("SetHandler server-status" in text and "SetHandler balancer-manager" in text and "Require ip 127.0.0.0/8 ::1" in text)
    for bad in (Stats(Address("0.0.0.0", 18999)), Stats(Address("127.0.0.1", 18999), "admin", "pw-123")):
        with pytest.raises(ConfigError) as err:
            build(kind, "hue", options(workdir, tls_files, kind, "none", stats=bad))
        assert err.value.key == "--stats-bind"
    with pytest.raises(ConfigError):  # HAProxy's page is never without credentials
        build("haproxy", "hue", options(workdir, tls_files, "haproxy", "none", stats=Stats(Address("127.0.0.1", 18999))))
    result = run_cli(kind, "--profile", "hue", "--server", "127.0.0.1:18001", "--stats-bind", "10.1.2.3:1936")
    assert result.returncode == 2 and "10.1.2.3:1936" in result.stderr and not result.stdout


# ------------------------------------------------------------------------------------------- what users hit at the edges
@pytest.mark.lb
@pytest.mark.process
@pytest.mark.parametrize("kind", ["haproxy", "nginx", "httpd"])
def test_check_judges_the_config_not_whether_the_load_balancer_ran_here(tmp_path, kind):
    """An apache2 never started has no /run/apache2: the check must not fail on the runtime dirs."""
    never = tmp_path / "never-created"
    out = tmp_path / f"{kind}.conf"
    result = run_cli(kind, "--profile", "hue", "--server", "127.0.0.1:8888", "--no-stats", "--check",
                     "--runtime-dir", f"{never}/run", "--log-dir", f"{never}/log", "-o", str(out))
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert f"{never}/run" in text and (kind == "haproxy" or f"{never}/log" in text)  # written as asked (haproxy logs
    assert not never.exists()                                                           # to stderr)
    # What the config reads is still checked where it says: a certificate that is not there.
    refused = run_cli(kind, "--profile", "hue", "--server", "127.0.0.1:8888", "--no-stats", "--check",
                      "--runtime-dir", f"{never}/run", "--tls", "offload", "--tls-cert", f"{never}/lb.pem",
                      "--tls-key", f"{never}/lb.key", "-o", str(out) + "2")
    assert refused.returncode == 2 and "rejected the generated config" in refused.stderr, refused.stderr
    assert not os.path.exists(str(out) + "2")


LONG_HOSTS = ("hs2-node-0001.analytics-prod.eu-west-1.compute.internal.example.com",
              "hs2-node-0001.analytics-prod.eu-west-1.compute.internal.example.org")


@pytest.mark.lb
def test_server_names_fit_any_valid_host(workdir, tls_files):
    from hive_ha.lb.model import MAX_SERVER_NAME, server_name

    assert len(f"s_{LONG_HOSTS[0]}_8888") > MAX_SERVER_NAME and server_name("h1.example.com", 8888) == "s_h1.example.com_8888"
    longest = "a" * 63 + "." + "b" * 63 + "." + "c" * 63 + "." + "d" * 61  # 253 characters, the DNS maximum
    names = {server_name(host, port) for host in LONG_HOSTS + (longest, "fe80::1") for port in (1, 65535)}
    assert len(names) == 8 and all(len(name) <= MAX_SERVER_NAME for name in names)
    assert server_name(LONG_HOSTS[0], 10000).startswith("s_hs2-node-0001.analytics-prod.")
    assert server_name(LONG_HOSTS[0], 10000) == server_name(LONG_HOSTS[0], 10000)  # stable: cookies stay valid
    # Each binary accepts the derived names (as server names, cookie values, httpd routes); the hosts here are
    # loopback addresses so that haproxy and nginx need no DNS for the check.
    for kind in ("haproxy", "nginx", "httpd"):
        model = build(kind, "hue", options(workdir, tls_files, kind, "none"))
        servers = tuple(Server("127.0.0.1", 18001 + i, server_name(host, 8888)) for i, host in enumerate(LONG_HOSTS))
        check(kind, render(kind, model.with_servers({"hue": servers})))


@pytest.mark.process
@pytest.mark.parametrize("kind", ["haproxy", "nginx", "httpd"])
def test_emit_takes_a_long_fqdn(kind):
    args = [f"--server={host}:8888" for host in LONG_HOSTS]
    result = run_cli(kind, "--profile", "hue", "--no-stats", *args)
    assert result.returncode == 0, result.stderr
    assert all(host in result.stdout for host in LONG_HOSTS)


def test_a_bad_server_name_error_names_the_address():
    with pytest.raises(ConfigError) as err:
        Server("127.0.0.1", 8888, "s" * 64)
    assert "127.0.0.1:8888" in str(err.value)
    with pytest.raises(ConfigError, match="127.0.0.1:18001"):
        build("haproxy", "hue", ProfileOptions(servers=(SERVERS[0], SERVERS[0])))


@pytest.mark.lb
@pytest.mark.process
def test_from_zookeeper_check_leaves_out_an_unresolvable_registration(zk_server, zk_namespace, registrar, tmp_path):
    registrar.register("127.0.0.1", 10000, namespace=zk_namespace)
    bad = registrar.register("hs2-gone.invalid", 10000, namespace=zk_namespace)  # .invalid never resolves
    out = tmp_path / "haproxy.cfg"
    result = run_cli("haproxy", "--profile", "hiveserver2", "--from-zookeeper", zk_server.hosts,
                     "--namespace", zk_namespace, "--runtime-dir", str(tmp_path), "--no-stats", "--check", "-o", str(out))
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert "127.0.0.1:10000" in text and "hs2-gone" not in text
    warning = [line for line in result.stderr.splitlines() if "left out a registration" in line]
    assert len(warning) == 1 and bad.znode in warning[0] and "'hs2-gone.invalid'" in warning[0], result.stderr


@pytest.mark.process
@pytest.mark.parametrize("kind,profile,section", [("haproxy", "hue", "hue_backend"), ("nginx", "impala", "https"),
                                                  ("httpd", "hue", "VirtualHost")])
def test_an_unknown_extra_section_is_refused_naming_the_known_ones(tmp_path, kind, profile, section):
    out = tmp_path / "lb.conf"
    result = run_cli(kind, "--profile", profile, "--server", "127.0.0.1:21050", "--no-stats",
                     "--extra", f"{section}=# lost", "-o", str(out))
    assert result.returncode == 2 and not out.exists()
    from hive_ha.lb.profiles import extra_sections

    known = extra_sections(kind, profile)
    assert repr(section) in result.stderr and ", ".join(known) in result.stderr, result.stderr
    assert {"haproxy": "hue_frontend", "nginx": "impala_hue", "httpd": "main"}[kind] in known


@pytest.mark.lb
@pytest.mark.process
@pytest.mark.parametrize("kind,line", [
    ("haproxy", "hue=http-request deny if { path_beg /admin }"),
    ("nginx", "hue=location = /ping { return 204; }"),
    ("httpd", 'hue=Header always set X-Served-By "hive-ha; {lb}"'),
])
def test_extra_lines_are_the_escape_hatch_braces_and_semicolons_pass(tmp_path, kind, line):
    """The documented contract: an extra line is written as given (any directive), one line, no control characters."""
    result = run_cli(kind, "--profile", "hue", "--server", "127.0.0.1:8888", "--no-stats", "--check",
                     "--runtime-dir", str(tmp_path), "--extra", line)
    assert result.returncode == 0, result.stderr
    assert line.partition("=")[2] in result.stdout
    docs = open(os.path.join(os.path.dirname(os.path.dirname(__file__)), "docs", "load-balancers.md")).read()
    assert "braces and semicolons included" in docs


@pytest.mark.process
@pytest.mark.parametrize("target", ["missing-dir/lb.cfg", "a-dir", "a-file/lb.cfg", "/proc/lb.cfg"])
def test_an_unwritable_output_is_one_line_and_exit_2(tmp_path, target):
    (tmp_path / "a-dir").mkdir()
    (tmp_path / "a-file").write_text("")
    path = target if target.startswith("/") else str(tmp_path / target)
    result = run_cli("haproxy", "--profile", "hue", "--server", "127.0.0.1:8888", "--no-stats", "-o", path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and repr(path) in result.stderr and "-o/--output" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-dir", "a-file"] and not list((tmp_path / "a-dir").iterdir())


@pytest.mark.parametrize("host, shown", [("lb.example.com", "lb.example.com:"), ("2001:db8::7", "[2001:db8::7]:")])
def test_client_settings_write_ipv6_load_balancers_in_brackets(host, shown):
    from hive_ha.lb.client_settings import client_settings

    opts = ProfileOptions(servers=(("127.0.0.1", 21050),), bind_host="127.0.0.1", lb_host=host,
                          paths=RuntimePaths.under("/tmp"))
    text = client_settings("haproxy", build("haproxy", "impala", opts), opts)
    assert f"impala-shell -i {shown}" in text and f"jdbc:impala://{shown}" in text
    assert f"server_host={host}\n" in text  # hue.ini takes the bare host
