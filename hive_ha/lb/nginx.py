"""nginx (1.22+) emitter: ``render(lb, version=...) -> str``. HTTP listeners go in ``http {}``, TCP ones in ``stream {}``
(module ``ngx_stream_module``). Open-source nginx has passive checks only (``max_fails``/``fail_timeout``); ``sticky``
is used only from 1.29.6, older versions hash Hue's ``sessionid`` cookie. Extra-line sections: ``main``, ``http``,
``stream`` and each listener's name (its ``server {}``)."""
from __future__ import annotations

from string import Template
from typing import Iterable, List, Tuple

from hive_ha.lb.model import Listener, LoadBalancer
from hive_ha.lb.text import block, duration_ms, header_comment

SECTIONS = ("main", "http", "stream")


def sections(listeners: Iterable[str]) -> Tuple[str, ...]:
    """Every ``--extra`` section: ``SECTIONS`` and each listener's ``server {}`` (its name)."""
    return SECTIONS + tuple(listeners)
STICKY_SINCE = (1, 29, 6)
DEFAULT_VERSION = (1, 22, 1)

MAIN = Template("""\
$header$modules
worker_processes auto;
pid $runtime/nginx.pid;
error_log $logs/error.log warn;
# Old workers keep long TCP sessions after a reload; bound how long they may linger.
worker_shutdown_timeout $shutdown;
$main_extra
events {
    worker_connections 4096;
}
$body""")


def render(lb: LoadBalancer, *, snippet: bool = False, version: Tuple[int, ...] = DEFAULT_VERSION) -> str:
    http = [listener for listener in lb.listeners if listener.mode == "http"]
    tcp = [listener for listener in lb.listeners if listener.mode == "tcp"]
    body = ""
    if http or lb.stats:
        inner = [] if snippet else [f"access_log {lb.paths.log_dir}/access.log;"]
        temp = lb.paths.nginx_temp_dir
        if temp and not snippet:
            inner += [f"{kind}_temp_path {temp}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")]
        body += "http {\n" + _join([block(inner)] + [_http(lb, l, version) for l in http] + [_stats(lb)] +
                                    [block(lb.extra_for("http"))]) + "}\n"
    if tcp:
        body += "stream {\n" + _join([_stream(lb, l) for l in tcp] + [block(lb.extra_for("stream"))]) + "}\n"
    if snippet:
        return header_comment(lb.header) + body
    modules = f"\nload_module {lb.paths.nginx_modules}/ngx_stream_module.so;" if tcp else ""
    return MAIN.substitute(header=header_comment(lb.header), modules=modules, runtime=lb.paths.runtime_dir,
                           logs=lb.paths.log_dir, shutdown=duration_ms(lb.hard_stop_after),
                           main_extra=block(lb.extra_for("main"), ""), body=body)


def _join(parts: List[str]) -> str:
    return "".join(part + "\n" for part in parts if part.strip())


def _upstream(lb: LoadBalancer, listener: Listener, hash_key: str, sticky: str = "") -> str:
    # Shared memory: without a zone every worker keeps its own connection counts and failure marks.
    lines = [f"zone {listener.name} 64k;"]
    if sticky:
        lines.append(sticky)
    elif hash_key:
        lines.append(f"hash {hash_key} consistent;")
    elif listener.balance == "leastconn":
        lines.append("least_conn;")
    fail_timeout = duration_ms(max(listener.check.interval_s * listener.check.rise, 1))
    lines += [f"server {s.address} max_fails={listener.check.fall} fail_timeout={fail_timeout};"
              for s in listener.servers]
    comment = f"    # {listener.description}\n" if listener.description else ""
    return f"{comment}    upstream {listener.name} {{\n{block(lines, ' ' * 8)}\n    }}"


def _tls_server_lines(lb: LoadBalancer) -> List[str]:
    if not lb.tls.terminates:
        return []
    return [f"ssl_certificate {lb.tls.cert};", f"ssl_certificate_key {lb.tls.key};", "ssl_protocols TLSv1.2 TLSv1.3;"]


def _http(lb: LoadBalancer, listener: Listener, version: Tuple[int, ...]) -> str:
    sticky = hash_key = ""
    if listener.stickiness == "cookie":
        if tuple(version) >= STICKY_SINCE:
            sticky = f"sticky cookie {listener.cookie_name} path=/ httponly;"
        else:
            # Hue's Django session cookie: the same session always hashes to the same Hue.
            hash_key = f"$cookie_{listener.session_cookie}"
    elif listener.stickiness == "source":
        hash_key = "$remote_addr"
    t = listener.timeouts
    scheme = "https" if lb.tls.to_backends else "http"
    listen = f"listen {listener.bind}{' ssl' if lb.tls.terminates else ''};"
    location = [
        f"proxy_pass {scheme}://{listener.name};",
        "proxy_http_version 1.1;",
        "proxy_set_header Host $host;",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        "proxy_set_header X-Forwarded-Host $host;",
        # Retry another server while a dead one is not yet marked failed (non-idempotent requests are not retried).
        "proxy_next_upstream error timeout http_502 http_503 http_504;",
        f"proxy_next_upstream_tries {listener.retries};",
        f"proxy_connect_timeout {duration_ms(t.connect)};",
        f"proxy_read_timeout {duration_ms(t.server)};",
        f"proxy_send_timeout {duration_ms(t.server)};",
    ]
    if lb.tls.to_backends:
        location += _proxy_ssl(lb)
    server = [listen] + _tls_server_lines(lb) + [f"client_header_timeout {duration_ms(t.client)};",
                                                 "location / {", block(location), "}"] + list(lb.extra_for(listener.name))
    return _upstream(lb, listener, hash_key, sticky) + "\n    server {\n" + block(server, " " * 8) + "\n    }"


def _stream(lb: LoadBalancer, listener: Listener) -> str:
    hash_key = "$remote_addr" if listener.stickiness == "source" else ""
    t = listener.timeouts
    listen = f"listen {listener.bind}{' ssl' if lb.tls.terminates else ''};"
    server = [listen] + _tls_server_lines(lb) + [
        f"proxy_pass {listener.name};",
        f"proxy_connect_timeout {duration_ms(t.connect)};",
        # One idle timeout for both directions: the longer of client and server.
        f"proxy_timeout {duration_ms(max(t.client, t.server))};",
        "proxy_next_upstream on;",
        f"proxy_next_upstream_tries {listener.retries};",
    ]
    if lb.tls.to_backends:
        server += ["proxy_ssl on;"] + _proxy_ssl(lb)
    server += lb.extra_for(listener.name)
    return _upstream(lb, listener, hash_key) + "\n    server {\n" + block(server, " " * 8) + "\n    }"


def _proxy_ssl(lb: LoadBalancer) -> List[str]:
    # nginx checks every backend of a pool against one name: the backends' certificates must all carry it.
    return ["proxy_ssl_verify on;", f"proxy_ssl_trusted_certificate {lb.tls.ca};", "proxy_ssl_verify_depth 3;",
            f"proxy_ssl_name {lb.tls.backend_name};", "proxy_ssl_server_name on;", "proxy_ssl_protocols TLSv1.2 TLSv1.3;"]


def _stats(lb: LoadBalancer) -> str:
    """``stub_status`` on a loopback address, answering loopback clients only (no credentials to leak or default)."""
    stats = lb.stats
    if stats is None:
        return ""
    lines = [f"listen {stats.bind};", "access_log off;", f"location = {stats.uri} {{",
             "    stub_status;", "    allow 127.0.0.0/8;", "    allow ::1;", "    deny all;", "}",
             "location / {", "    return 404;", "}"]
    return "    # Status page: loopback only\n    server {\n" + block(lines, " " * 8) + "\n    }"
