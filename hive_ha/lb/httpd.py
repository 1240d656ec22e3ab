"""Apache httpd 2.4 emitter (Hue's web tier only): ``mod_proxy_balancer`` with a ROUTEID cookie, active checks by
``mod_proxy_hcheck``. Extra-line sections: ``main`` and the listener's name (its ``<VirtualHost>``)."""
from __future__ import annotations

from string import Template
from typing import Iterable, List, Tuple

from hive_ha.errors import ConfigError
from hive_ha.lb.model import Listener, LoadBalancer
from hive_ha.lb.text import block, header_comment, whole_seconds

SECTIONS = ("main",)


def sections(listeners: Iterable[str]) -> Tuple[str, ...]:
    """Every ``--extra`` section: ``main`` and the listener's ``<VirtualHost>`` (its name)."""
    return SECTIONS + tuple(listeners)
MODULES = (
    ("mpm_event_module", "mod_mpm_event.so"), ("authz_core_module", "mod_authz_core.so"),
    ("headers_module", "mod_headers.so"), ("proxy_module", "mod_proxy.so"), ("proxy_http_module", "mod_proxy_http.so"),
    ("slotmem_shm_module", "mod_slotmem_shm.so"), ("proxy_balancer_module", "mod_proxy_balancer.so"),
    ("lbmethod_bybusyness_module", "mod_lbmethod_bybusyness.so"),
    ("lbmethod_byrequests_module", "mod_lbmethod_byrequests.so"), ("proxy_hcheck_module", "mod_proxy_hcheck.so"),
)
STATUS_MODULES = (("status_module", "mod_status.so"), ("authz_host_module", "mod_authz_host.so"))
SSL_MODULES = (("socache_shmcb_module", "mod_socache_shmcb.so"), ("ssl_module", "mod_ssl.so"))

MAIN = Template("""\
$header
ServerRoot $server_root
DefaultRuntimeDir $runtime
PidFile $runtime/apache2.pid
Mutex file:$runtime default
ErrorLog $logs/error.log
LogLevel warn
ServerName localhost
# Children drop to Debian's web user when started as root.
User www-data
Group www-data
$modules
$main_extra
$body""")

STOPGAP = """\
# STOP-GAP: the backends' certificate names are NOT checked (SSLProxyCheckPeerName/CN off, asked for explicitly).
# Anyone who can answer on a backend's address with a certificate from the trusted CA can impersonate it. The fix is a
# backend certificate whose SAN carries the name used in BalancerMember (e.g. Auto-TLS host certificates); then drop
# --tls-no-verify-backend-name."""


def render(lb: LoadBalancer, *, snippet: bool = False) -> str:
    if len(lb.listeners) != 1 or lb.listeners[0].mode != "http":
        raise ConfigError("--profile", lb.profile, "hue (httpd serves Hue's web tier only)")
    body = _vhost(lb, lb.listeners[0]) + _status(lb)
    if snippet:
        return header_comment(lb.header) + body
    modules = (MODULES + (SSL_MODULES if lb.tls.terminates or lb.tls.to_backends else ())
               + (STATUS_MODULES if lb.stats else ()))
    return MAIN.substitute(
        header=header_comment(lb.header), server_root=lb.paths.httpd_server_root, runtime=lb.paths.runtime_dir,
        logs=lb.paths.log_dir,
        modules="\n".join(f"LoadModule {name} {lb.paths.httpd_modules}/{so}" for name, so in modules),
        main_extra="\n".join(lb.extra_for("main")), body=body)


def _vhost(lb: LoadBalancer, listener: Listener) -> str:
    tls, check, t = lb.tls, listener.check, listener.timeouts
    scheme = "https" if tls.to_backends else "http"
    lbmethod = "bybusyness" if listener.balance == "leastconn" else "byrequests"
    hc = (f" hcmethod=GET hcuri={check.http_path} hcexpr=hue_ok hcinterval={whole_seconds(check.interval_s)}"
          f" hcfails={check.fall} hcpasses={check.rise}") if check.http_path else ""
    members = [f"BalancerMember {scheme}://{s.address} route={s.name} retry={whole_seconds(check.interval_s)}"
               f" connectiontimeout={whole_seconds(t.connect)}{hc}" for s in listener.servers]
    proxy_set = f"ProxySet lbmethod={lbmethod} timeout={whole_seconds(t.server)}"
    if listener.stickiness == "cookie":
        proxy_set += " stickysession=ROUTEID"
    lines: List[str] = []
    if tls.terminates:
        lines += ["SSLEngine on", f"SSLCertificateFile {tls.cert}", f"SSLCertificateKeyFile {tls.key}",
                  "SSLProtocol -all +TLSv1.2 +TLSv1.3"]
    proxy_tls: List[str] = []
    if tls.to_backends:
        proxy_tls += ["SSLProxyEngine on", "SSLProxyVerify require", "SSLProxyVerifyDepth 3",
                      f"SSLProxyCACertificateFile {tls.ca}", "SSLProxyProtocol -all +TLSv1.2 +TLSv1.3"]
        if tls.verify_backend_name:
            proxy_tls += ["SSLProxyCheckPeerName on", "SSLProxyCheckPeerCN on"]
        else:
            proxy_tls += STOPGAP.splitlines() + ["SSLProxyCheckPeerName off", "SSLProxyCheckPeerCN off"]
    lines += [
        "ProxyRequests Off",
        "ProxyPreserveHost On",
        f"RequestHeader set X-Forwarded-Proto \"{'https' if tls.terminates else 'http'}\"",
        f"ProxyTimeout {whole_seconds(t.server)}",
        f"Timeout {whole_seconds(t.client)}",
    ]
    if listener.stickiness == "cookie":
        # The route of the member that served the request goes into ROUTEID; later requests return to it.
        lines.append('Header add Set-Cookie "ROUTEID=.%{BALANCER_WORKER_ROUTE}e; path=/; HttpOnly'
                     + ('; Secure' if tls.terminates else '') + '" env=BALANCER_ROUTE_CHANGED')
    lines += [f"ProxyPass / balancer://{listener.name}/", f"ProxyPassReverse / balancer://{listener.name}/"]
    lines += lb.extra_for(listener.name)
    # The balancer lives at server level so the loopback status host's balancer-manager sees it too (BalancerInherit).
    # Its health checks use the server-level TLS client settings, which the virtual hosts inherit.
    balancer = proxy_tls + ([f"ProxyHCExpr hue_ok {{%{{REQUEST_STATUS}} == {check.expect_status}}}"]
                            if check.http_path else [])
    balancer += [f"<Proxy balancer://{listener.name}>", *("    " + line for line in members + [proxy_set]), "</Proxy>"]
    comment = f"# {listener.description}\n" if listener.description else ""
    return (f"{comment}" + "\n".join(balancer) + f"\nListen {listener.bind}\n<VirtualHost {listener.bind}>\n"
            f"{block(lines)}\n</VirtualHost>\n")


def _status(lb: LoadBalancer) -> str:
    """``server-status`` at the stats URI and ``balancer-manager`` (which can change members, hence loopback only)
    on their own loopback virtual host; only loopback clients are allowed."""
    stats = lb.stats
    if stats is None:
        return ""
    allow = "Require ip 127.0.0.0/8 ::1"
    lines = ["ProxyStatus On", f"<Location {stats.uri}>", "    SetHandler server-status", f"    {allow}", "</Location>",
             "<Location /balancer-manager>", "    SetHandler balancer-manager", f"    {allow}", "</Location>"]
    return f"# Status pages: loopback only\nListen {stats.bind}\n<VirtualHost {stats.bind}>\n{block(lines)}\n</VirtualHost>\n"
