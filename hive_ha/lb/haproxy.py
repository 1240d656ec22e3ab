"""HAProxy (2.6+) emitter: ``render(lb) -> str``. Extra-line sections: ``global``, ``defaults``, and each listener's
name (its backend) or ``<name>_frontend``; ``stats``."""
from __future__ import annotations

from string import Template
from typing import Iterable, List, Tuple

from hive_ha.lb.model import Listener, LoadBalancer, RuntimePaths, Server
from hive_ha.lb.text import block, duration_ms, header_comment

SECTIONS = ("global", "defaults", "stats")


def sections(listeners: Iterable[str]) -> Tuple[str, ...]:
    """Every ``--extra`` section: ``SECTIONS``, each listener's backend (its name) and frontend (``<name>_frontend``)."""
    return SECTIONS + tuple(f"{name}{suffix}" for name in listeners for suffix in ("", "_frontend"))

MAIN = Template("""\
$header
global
$global_lines

defaults
$defaults_lines
$body""")


def stats_socket(lb: LoadBalancer) -> str:
    """The admin socket a monitor uses for ``set server ... state`` without a reload."""
    return admin_socket(lb.paths)


def admin_socket(paths: RuntimePaths) -> str:
    return f"{paths.runtime_dir}/admin.sock"


def render(lb: LoadBalancer, *, snippet: bool = False) -> str:
    body = "".join(_listener(lb, listener) for listener in lb.listeners) + _stats(lb)
    if snippet:
        return header_comment(lb.header) + body
    global_lines = [
        "log stderr format raw daemon warning",
        "maxconn 4096",  # needs ~2 fds per connection; larger values need a raised ulimit -n
        f"pidfile {lb.paths.runtime_dir}/haproxy.pid",
        f"stats socket {stats_socket(lb)} mode 600 level admin expose-fd listeners",
        # Old processes keep serving their connections after a reload; with hours-long timeouts they must be bounded.
        f"hard-stop-after {duration_ms(lb.hard_stop_after)}",
    ]
    if lb.tls.terminates or lb.tls.to_backends:
        global_lines += ["ssl-default-bind-options ssl-min-ver TLSv1.2", "ssl-default-server-options ssl-min-ver TLSv1.2"]
    defaults_lines = ["log global", "option dontlognull", "timeout connect 5s", "timeout client 5m",
                      "timeout server 5m", "timeout check 5s"]
    return MAIN.substitute(
        header=header_comment(lb.header),
        global_lines=block(global_lines + list(lb.extra_for("global"))),
        defaults_lines=block(defaults_lines + list(lb.extra_for("defaults"))),
        body=body,
    )


def _listener(lb: LoadBalancer, listener: Listener) -> str:
    tls = lb.tls
    bind = f"bind {listener.bind}"
    if tls.terminates:
        bind += f" ssl crt {tls.cert}"
    t = listener.timeouts
    front = [f"mode {listener.mode}", bind, f"timeout client {duration_ms(t.client)}"]
    if listener.mode == "http":
        front += ["option forwardfor",
                  "http-request set-header X-Forwarded-Proto https if { ssl_fc }",
                  "http-request set-header X-Forwarded-Proto http if !{ ssl_fc }"]
    else:
        front.append("option tcplog")
    front.append(f"default_backend {listener.name}")
    front += lb.extra_for(f"{listener.name}_frontend")

    back = [f"mode {listener.mode}"]
    if listener.stickiness == "source":
        # Consistent hashing keeps most clients on their server when the pool changes (and allows runtime adds).
        back += ["balance source", "hash-type consistent"]
    else:
        back.append(f"balance {listener.balance}")
    if listener.stickiness == "cookie":
        secure = " secure" if tls.terminates else ""
        back.append(f"cookie {listener.cookie_name} insert indirect nocache httponly{secure}")
    check = listener.check
    if check.http_path:
        back += ["option httpchk", f"http-check send meth GET uri {check.http_path} ver HTTP/1.1 hdr Host localhost",
                 f"http-check expect status {check.expect_status}"]
    back += [f"timeout connect {duration_ms(t.connect)}", f"timeout server {duration_ms(t.server)}",
             f"timeout check {duration_ms(t.check)}", f"retries {listener.retries}"]
    if listener.redispatch:
        back.append("option redispatch")
    back += [_server_line(lb, listener, server) for server in listener.servers]
    back += lb.extra_for(listener.name)
    comment = f"# {listener.description}\n" if listener.description else ""
    return (f"\n{comment}frontend {listener.name}_frontend\n{block(front)}\n"
            f"\nbackend {listener.name}\n{block(back)}\n")


def _server_line(lb: LoadBalancer, listener: Listener, server: Server) -> str:
    check = listener.check
    parts = [f"server {server.name} {server.address}",
             f"check inter {duration_ms(check.interval_s)} fall {check.fall} rise {check.rise}"]
    if listener.stickiness == "cookie":
        parts.append(f"cookie {server.name}")
    tls = lb.tls
    if tls.to_backends:
        parts.append(f"ssl verify required ca-file {tls.ca} sni str({server.host})")
    elif tls.mode == "passthrough" and check.http_path:
        # The HTTP check has to speak TLS itself when the traffic is passed through untouched.
        parts.append(f"check-ssl verify required ca-file {tls.ca} check-sni {server.host}" if tls.ca
                     else "check-ssl verify none")
    return " ".join(parts)


def _stats(lb: LoadBalancer) -> str:
    stats = lb.stats
    if stats is None:
        return ""
    lines: List[str] = ["mode http", f"bind {stats.bind}", "stats enable", f"stats uri {stats.uri}",
                        "stats refresh 10s", f"stats auth {stats.user}:{stats.password}", "stats hide-version",
                        "timeout client 30s"]
    lines += lb.extra_for("stats")
    return f"\nlisten stats\n{block(lines)}\n"
