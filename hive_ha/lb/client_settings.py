"""The settings users must change to go through the load balancer, ready to paste, and the TLS preparation steps."""
from __future__ import annotations

from typing import List

from hive_ha.lb.model import LoadBalancer
from hive_ha.lb.profiles import ProfileOptions
from hive_ha.model.values import format_hostport

#: Where Cloudera Manager's Auto-TLS puts each host's material (CM 7).
AUTO_TLS_DIR = "/var/lib/cloudera-scm-agent/agent-cert"


def client_settings(kind: str, lb: LoadBalancer, opts: ProfileOptions) -> str:
    host = opts.public_host
    realm = opts.kerberos_realm
    tls = lb.tls.mode != "none"
    ports = {listener.name: listener.bind.port for listener in lb.listeners}

    def at(listener: str) -> str:  # host:port in URLs and flags, an IPv6 literal in brackets
        return format_hostport(host, ports[listener])
    out: List[str] = [f"# Client settings for the {lb.profile} load balancer at {host} (TLS: {lb.tls.mode})"]
    if lb.profile == "hue":
        out += ["", "# hue.ini (every Hue server behind the load balancer)", "[desktop]",
                "  use_x_forwarded_host=true", "  # Hue reads the scheme from X-Forwarded-Proto set by the LB",
                f"  secure_proxy_ssl_header={'true' if lb.tls.terminates else 'false'}",
                "  # and on every one the same secret_key (session cookies and JWTs are signed with it) and the same",
                "  # [[database]] (sessions, users, query history): a user moved to another Hue stays signed in",
                "", f"# Users open: {'https' if tls else 'http'}://{at('hue')}/"]
    elif lb.profile == "impala":
        timeout = int(lb.listener("impala_hue").timeouts.client)
        out += ["", "# hue.ini", "[impala]", f"  server_host={host}", f"  server_port={ports['impala_hue']}",
                f"  # matches the load balancer's idle timeout ({timeout} s)", f"  server_conn_timeout={timeout}"]
        if realm:
            out.append(f"  impala_principal=impala/{host}")
        if tls:
            out += ["  [[ssl]]", "    enabled=true", "    cacerts=/path/to/ca-chain.pem"]
        shell = f"impala-shell -i {at('impala_shell')}"
        if realm:
            shell += f" -k -b {host}    # or --kerberos_host_fqdn={host}"
        if tls:
            shell += " --ssl --ca_cert=/path/to/ca-chain.pem"
        out += ["", "# impala-shell", shell, "", "# JDBC (Cloudera Impala driver)"]
        url = f"jdbc:impala://{at('impala_jdbc')}/default"
        if realm:
            url += f";AuthMech=1;KrbRealm={realm};KrbHostFQDN={host};KrbServiceName=impala"
        if tls:
            url += ";SSL=1"
        out += [url, "# JDBC (Hive driver)"]
        hive_url = f"jdbc:hive2://{at('impala_jdbc')}/default"
        if realm:
            out.append(f"{hive_url};principal=impala/{host}@{realm}{';ssl=true' if tls else ''}")
            out.append(f"{hive_url};principal=impala/_HOST@{realm}{';ssl=true' if tls else ''}"
                       "    # _HOST becomes the host in the URL")
        else:
            out.append(f"{hive_url};auth=noSasl{';ssl=true' if tls else ''}")
    else:
        out += ["", "# hue.ini", "[beeswax]", f"  hive_server_host={host}"]
        if "hs2_binary" in ports:
            out.append(f"  hive_server_port={ports['hs2_binary']}")
        if "hs2_http" in ports:
            out.append(f"  hive_server_http_port={ports['hs2_http']}")
        out += ["", "# JDBC"]
        suffix = (f";principal=hive/{host}@{realm}" if realm else "") + (";ssl=true" if tls else "")
        if "hs2_binary" in ports:
            out.append(f"jdbc:hive2://{at('hs2_binary')}/default{suffix}")
        if "hs2_http" in ports:
            out.append(f"jdbc:hive2://{at('hs2_http')}/default;transportMode=http;httpPath=cliservice{suffix}")
    if kind == "haproxy" and lb.tls.terminates:
        out += [""] + haproxy_pem_steps(lb.tls.cert or "/etc/haproxy/hive-ha.pem")
    return "\n".join(out) + "\n"


def haproxy_pem_steps(target: str) -> List[str]:
    """How to build the one PEM HAProxy's ``crt`` wants from Cloudera Auto-TLS material (printed, never run)."""
    return [
        f"# HAProxy's 'crt {target}' must hold the certificate chain AND the unencrypted private key.",
        "# From Cloudera Auto-TLS material (as root, on the load balancer host):",
        "umask 077",
        f"openssl pkey -in {AUTO_TLS_DIR}/cm-auto-host_key.pem -passin file:{AUTO_TLS_DIR}/cm-auto-host_key.pw "
        f"-out {target}.key",
        f"cat {AUTO_TLS_DIR}/cm-auto-host_cert_chain.pem {target}.key > {target}",
        f"rm -f {target}.key",
        f"chown haproxy:haproxy {target}",
        f"chmod 600 {target}",
        f"# CA for '--tls-ca' (bridging): {AUTO_TLS_DIR}/cm-auto-global_cacerts.pem",
    ]
