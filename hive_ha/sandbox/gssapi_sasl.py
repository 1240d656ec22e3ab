"""Server side of SASL GSSAPI (RFC 4752) over thrift_sasl's framing, for the HiveServer2 test server.

No Python SASL server exists, so this is the acceptor HiveServer2's ``hive.server2.authentication=KERBEROS`` is,
written with the ``gssapi`` package. The exchange, as PyHive/impyla (pure-sasl + pykerberos) drive it::

    client  START "GSSAPI", OK <AP-REQ>            server  OK <AP-REP>               (context established)
    client  OK ""                                   server  OK wrap(<qop offer: auth, max 0xffffff>)
    client  OK wrap(<qop chosen + authzid>)         server  COMPLETE ""               (then 4-byte length frames)

Only QOP ``auth`` is offered (no per-frame wrapping), like a default HiveServer2. The authenticated user is the
initiator's principal (``alice@EXAMPLE.TEST``). The acceptor reads its key from ``keytab`` through the gssapi
credential store, so nothing process-wide (KRB5_KTNAME) is touched.
"""
import struct

SASL_START, SASL_OK, SASL_BAD, SASL_ERROR, SASL_COMPLETE = 1, 2, 3, 4, 5
QOP_AUTH = 1
_OFFER = struct.pack(">I", QOP_AUTH << 24 | 0xFFFFFF)
_MAX_ROUNDS = 10  # Kerberos needs one round; anything longer is a confused client


def acceptor_credentials(principal, keytab):
    """GSSAPI accept credentials of ``principal`` (``hive/localhost@REALM``) from ``keytab``."""
    import gssapi  # the test extra: only servers need it

    name = gssapi.Name(principal, gssapi.NameType.kerberos_principal)
    return gssapi.Credentials(name=name, usage="accept", store={"keytab": keytab})


def accept(trans, principal, keytab):
    """Run the server side of the handshake on ``trans`` (an object with ``_receive() -> (status, body)``,
    ``_send(status, body)`` and ``_fail(status, message)``, which raises); return the client's principal.

    Refusals (wrong mechanism, no or bad ticket, a ticket for another service) answer BAD with the GSSAPI reason,
    as HiveServer2 does, and raise through ``_fail``.
    """
    import gssapi

    status, mechanism = trans._receive()
    if status != SASL_START:
        trans._fail(SASL_ERROR, "Expected START status, received %d" % status)
    if mechanism != b"GSSAPI":
        trans._fail(SASL_BAD, "Unsupported mechanism type %s (this server requires GSSAPI: Kerberos)"
                    % mechanism.decode("utf-8", "replace"))
    try:
        context = gssapi.SecurityContext(creds=acceptor_credentials(principal, keytab), usage="accept")
    except gssapi.exceptions.GSSError as exc:
        trans._fail(SASL_ERROR, "server cannot use its keytab %s for %s: %s" % (keytab, principal, exc.gen_message()))
    for _ in range(_MAX_ROUNDS):
        token = _client_token(trans)
        try:
            reply = context.step(token)
        except gssapi.exceptions.GSSError as exc:
            trans._fail(SASL_BAD, "GSS initiate failed: %s" % exc.gen_message())
        if context.complete:
            if reply:  # the AP-REP (mutual authentication); the client answers with an empty token
                trans._send(SASL_OK, reply)
                _client_token(trans)
            break
        trans._send(SASL_OK, reply or b"")
    else:
        trans._fail(SASL_ERROR, "GSSAPI context not established after %d rounds" % _MAX_ROUNDS)
    _negotiate_security_layer(trans, context)
    trans._send(SASL_COMPLETE, b"")
    return str(context.initiator_name)


def _client_token(trans):
    status, token = trans._receive()
    if status not in (SASL_OK, SASL_COMPLETE):
        trans._fail(SASL_ERROR, "Expected OK or COMPLETE status, received %d" % status)
    return token


def _negotiate_security_layer(trans, context):
    """RFC 4752 section 3.1: offer QOP auth (wrapped), check the client's wrapped choice."""
    import gssapi

    trans._send(SASL_OK, context.wrap(_OFFER, False).message)
    answer = _client_token(trans)
    try:
        plain = context.unwrap(answer).message
    except gssapi.exceptions.GSSError as exc:
        trans._fail(SASL_BAD, "bad security-layer answer: %s" % exc.gen_message())
    if len(plain) < 4 or plain[0] != QOP_AUTH:
        trans._fail(SASL_BAD, "client chose a security layer other than auth (only auth is offered)")
