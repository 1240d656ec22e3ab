"""The Thrift transport to a HiveServer2, built in one place for every client of ours (``hive_ha.connect`` with PyHive,
``hive-ha check``): binary or HTTP, plain or TLS (verified unless told otherwise: ``hive_ha.clients.tls``), and the
authentication the server expects, every socket with a timeout. Nothing is opened here; thrift, thrift_sasl and PyHive
(the ``dbapi`` extra) are imported only when a transport is built.
"""
from __future__ import annotations

import base64
import functools
import getpass
import ssl
from typing import Any, Optional, Tuple

from hive_ha.clients.tls import TlsSettings, client_context
from hive_ha.model.addressing import DEFAULT_KERBEROS_SERVICE, http_url
from hive_ha.model.values import Authentication, format_hostport

#: The password sent over binary SASL where none was given: a server authenticating with NONE takes any (LDAP, PAM
#: and CUSTOM need a real one; callers check that before they build a transport).
ANY_PASSWORD = "x"
#: The HTTP Basic credentials sent where none were given: PyHive's, as ``hive_ha.connect`` always sent them.
HTTP_DEFAULT_USER, HTTP_DEFAULT_PASSWORD = "user", "pass"


def thrift_transport(host: str, port: int, *, auth: str, timeout: float, user: Optional[str] = None,
                     password: Optional[str] = None, kerberos_service: Optional[str] = None,
                     http_path: Optional[str] = None, tls: Optional[TlsSettings] = None) -> Tuple[Any, Any]:
    """An unopened transport to the HiveServer2 at ``host:port`` and the object holding its socket: ``(transport,
    timed)``. ``timed`` waits at most ``timeout`` seconds per step (give it another timeout once open).

    ``http_path`` None: the binary transport, over TLS with ``tls``; SASL unless ``auth`` is NOSASL: GSSAPI for
    KERBEROS (service ``kerberos_service`` on ``host``, default ``hive``), PLAIN for the others. Else Thrift over HTTP to
    ``http_url(host, port, path=http_path)``, HTTPS with ``tls``; no credentials for NOSASL, SPNEGO for
    KERBEROS, HTTP Basic for the others. Without ``user`` and ``password``, binary SASL sends the login name and
    ``ANY_PASSWORD`` and HTTP Basic ``HTTP_DEFAULT_USER``/``HTTP_DEFAULT_PASSWORD``, as PyHive does in each mode.
    """
    service = kerberos_service or DEFAULT_KERBEROS_SERVICE
    context = client_context(tls, format_hostport(host, port)) if tls is not None else None
    if http_path is not None:
        from thrift.transport.THttpClient import THttpClient

        url = http_url(host, port, ssl=context is not None, path=http_path)
        client = THttpClient(url, ssl_context=context)  # http.client checks the certificate and the URL's host
        if auth == Authentication.KERBEROS:
            from pyhive import hive

            hive.Connection._set_kerberos_header(client, service, host)  # noqa: SLF001 - PyHive's own helper
        elif auth != Authentication.NOSASL:
            credentials = f"{user or HTTP_DEFAULT_USER}:{password or HTTP_DEFAULT_PASSWORD}"
            token = base64.b64encode(credentials.encode("utf-8")).decode("ascii")
            client.setCustomHeaders({"Authorization": "Basic " + token})
        client.setTimeout(timeout * 1000)
        return client, client
    from thrift.transport.TSocket import TSocket
    from thrift.transport.TTransport import TBufferedTransport

    sock = TSocket(host, port) if context is None else _tls_socket(host, port, context)
    sock.setTimeout(timeout * 1000)
    if auth == Authentication.NOSASL:
        return TBufferedTransport(sock), sock
    user = user or getpass.getuser()
    secret = password if password is not None else ANY_PASSWORD
    import thrift_sasl
    from pyhive import hive

    kerberos = auth == Authentication.KERBEROS
    mechanism = "GSSAPI" if kerberos else "PLAIN"

    def sasl():
        return hive.get_installed_sasl(host=host, sasl_auth=mechanism, service=service if kerberos else None,
                                       username=user, password=secret)

    return thrift_sasl.TSaslClientTransport(sasl, mechanism, sock), sock


def _tls_socket(host: str, port: int, context: ssl.SSLContext):
    return _tls_socket_class()(host, port, context)


@functools.lru_cache(maxsize=None)
def _tls_socket_class():
    """A TSocket that connects over TCP, then does the TLS handshake (checking the name it dials) within its timeout.

    Not thrift's TSSLSocket: its open() reports a handshake failure -- a certificate that did not verify included --
    as "Could not connect" with the cause dropped, which reads as a dead server; and its isOpen() peeks with a flag
    TLS sockets refuse (THRIFT-5595). Here the handshake's error stays the cause of a NOT_OPEN TTransportException.
    """
    from thrift.transport.TSocket import TSocket
    from thrift.transport.TTransport import TTransportException

    class TlsSocket(TSocket):
        def __init__(self, host: str, port: int, context: ssl.SSLContext) -> None:
            super().__init__(host, port)
            self.context = context

        def open(self) -> None:
            super().open()  # TCP; a refusal stays thrift's "Could not connect"
            plain, self.handle = self.handle, None
            try:  # the TLS socket keeps the plain one's timeout for the handshake
                self.handle = self.context.wrap_socket(plain, server_hostname=self.host)
            except (OSError, ValueError) as exc:
                plain.close()
                where = format_hostport(self.host, self.port)
                raise TTransportException(type=TTransportException.NOT_OPEN, inner=exc,
                                          message=f"TLS handshake with {where} failed: {exc}") from exc

        def isOpen(self) -> bool:
            return self.handle is not None

    return TlsSocket
