"""What a value from outside may be, in one place (pure): every input -- znode data, hue.ini-style files, JDBC and
SQLAlchemy URLs, ``hive_ha.connect`` arguments, load-balancer flags -- goes through these rules.

* the vocabulary Hive uses: ``TransportMode``, ``Authentication``, ``Qop`` (and the subsets a client can use);
* booleans: ``parse_bool`` with the spellings each kind of input accepts (``HIVE_BOOLEANS``, ``INI_BOOLEANS``);
* "one of these": ``choice``;
* hosts and ports: ``validate_host``, ``validate_port``, ``split_hostport``, ``format_hostport``;
* the syntax of a Kerberos principal and of an HTTP path (``PRINCIPAL_RE``, ``HTTP_PATH_RE``).

Rules that are checked here and raised by the caller's own error (a malformed znode, a bad setting) keep the caller's
words; ``parse_bool`` and ``choice`` raise ``ConfigError`` naming the key, the value and what is allowed.
"""
from __future__ import annotations

import enum
import ipaddress
import re
from typing import Any, Callable, Iterable, Mapping, Optional, Tuple, TypeVar

from hive_ha.errors import ConfigError

_W = TypeVar("_W", bound="Word")


# -- vocabulary -------------------------------------------------------------------------------------------------
class Word(str, enum.Enum):
    """A closed set of words. A member is its value wherever a string is: it compares, hashes, prints, formats,
    reprs and serialises (JSON) exactly as the bare value, so putting a member where a string was changes no
    output and mixes safely with plain strings in sets and dict keys. Looking a member up folds case (``_fold``)."""

    __str__ = str.__str__
    __format__ = str.__format__
    __repr__ = str.__repr__
    __hash__ = str.__hash__

    @staticmethod
    def _fold(text: str) -> str:
        return text.lower()

    @classmethod
    def find(cls: "type[_W]", text: object) -> "Optional[_W]":
        """The member spelled ``text`` (case folded, nothing stripped), or None."""
        if isinstance(text, str):
            folded = cls._fold(text)
            for member in cls:
                if member.value == folded:
                    return member
        return None

    @classmethod
    def _missing_(cls, value: object):
        return cls.find(value)

    @classmethod
    def spelled(cls) -> str:
        """``a, b, c``: the values, for messages."""
        return ", ".join(cls)


class TransportMode(Word):
    """``hive.server2.transport.mode`` (case-insensitive, as Hive compares it)."""

    BINARY = "binary"
    HTTP = "http"
    ALL = "all"  # a server listening on both ports; a client dials one of them


class Authentication(Word):
    """``hive.server2.authentication``: the modes Hive knows (HiveAuthConstants.AuthTypes), upper-case."""

    NONE = "NONE"
    NOSASL = "NOSASL"
    KERBEROS = "KERBEROS"
    LDAP = "LDAP"
    PAM = "PAM"
    CUSTOM = "CUSTOM"
    SAML = "SAML"
    JWT = "JWT"

    @staticmethod
    def _fold(text: str) -> str:
        return text.upper()


class Qop(Word):
    """``hive.server2.thrift.sasl.qop`` / JDBC ``saslQop`` (case-insensitive, as Hive's SaslQOP.fromString)."""

    AUTH = "auth"
    AUTH_INT = "auth-int"
    AUTH_CONF = "auth-conf"


#: The transports a client dials (a server in mode ``all`` listens on both).
CLIENT_TRANSPORTS: Tuple[TransportMode, ...] = (TransportMode.BINARY, TransportMode.HTTP)
#: The authentications ``hive_ha.connect`` speaks (JDBC ``auth=``, the ``auth`` argument).
CLIENT_AUTHS: Tuple[Authentication, ...] = (Authentication.NOSASL, Authentication.NONE, Authentication.LDAP,
                                            Authentication.CUSTOM, Authentication.KERBEROS)
#: Published authentications whose session is opened with SASL PLAIN (HTTP Basic) and a real password.
PASSWORD_AUTHS: Tuple[Authentication, ...] = (Authentication.LDAP, Authentication.PAM, Authentication.CUSTOM)


# -- booleans ---------------------------------------------------------------------------------------------------
#: What Hive writes and its JDBC driver understands (``"true".equalsIgnoreCase``): znode data and URLs.
HIVE_BOOLEANS: Mapping[str, bool] = {"true": True, "false": False}
#: What Hue's ini files accept (``coerce_bool``): hue.ini-style configuration.
INI_BOOLEANS: Mapping[str, bool] = {"true": True, "yes": True, "on": True, "1": True,
                                    "false": False, "no": False, "off": False, "0": False}


def as_bool(value: object, words: Mapping[str, bool] = HIVE_BOOLEANS) -> Optional[bool]:
    """A bool as is; text stripped and lower-cased, looked up in ``words``; None when it is none of them."""
    if isinstance(value, bool):
        return value
    return words.get(str(value).strip().lower())


def parse_bool(key: str, value: object, words: Mapping[str, bool] = HIVE_BOOLEANS) -> bool:
    """``as_bool``, raising ``ConfigError(key, value, "true or false")`` for anything else."""
    parsed = as_bool(value, words)
    if parsed is None:
        raise ConfigError(key, value, "true or false")
    return parsed


# -- choices ----------------------------------------------------------------------------------------------------
def choice(key: str, value: Any, options: Iterable[Any], *, fold: Optional[Callable[[str], str]] = str.lower,
           allowed: Optional[str] = None) -> Any:
    """The option equal to ``value`` (text stripped and passed through ``fold`` first; ``fold=None``: compared as
    given), else ``ConfigError(key, value, allowed or "one of <options>")``. Returns the option itself (a member when
    the options are members)."""
    options = tuple(options)
    text = fold(value.strip()) if fold is not None and isinstance(value, str) else value
    for option in options:
        if option == text:
            return option
    raise ConfigError(key, value, allowed or "one of " + ", ".join(str(o) for o in options))


# -- hosts and ports --------------------------------------------------------------------------------------------
_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")


def validate_host(host: object) -> str:
    """Return ``host`` if it is a DNS name or an IP address literal (no brackets), else raise ValueError."""
    if not isinstance(host, str) or not host:
        raise ValueError("host is empty")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        if "%" in host:  # scoped IPv6 addresses cannot be written safely into URLs or configs
            raise ValueError(f"scoped IPv6 address {host!r} is not supported")
        return str(ip) if ip.version == 6 else host
    name = host[:-1] if host.endswith(".") else host
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in name.split(".")):
        raise ValueError(f"{host!r} is not a valid host name or IP address")
    if re.fullmatch(r"[0-9.]+", name):
        raise ValueError(f"{host!r} is not a valid IPv4 address")
    return host


def validate_port(port: object) -> int:
    """Return ``port`` as an int in 1..65535; accepts ints and decimal strings, raises ValueError otherwise."""
    if isinstance(port, bool):
        raise ValueError(f"port {port!r} is not a number")
    if isinstance(port, str):
        if not port.isdigit() or not port.isascii() or len(port) > 5:
            raise ValueError(f"port {port!r} is not a number in 1-65535")
        port = int(port)
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"port {port!r} is not in 1-65535")
    return port


def format_hostport(host: str, port: int) -> str:
    """``host:port``, with brackets around an IPv6 literal."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def split_hostport(text: str, default_port: Optional[int] = None) -> "tuple[str, int]":
    """Split ``host:port``, ``[v6]:port`` or an unbracketed ``v6:port``; validated, raises ValueError.

    With ``default_port``, a host without a port (``host``, ``[v6]``) takes it."""
    text = text.strip()
    if default_port is not None and text.startswith("[") and text.endswith("]"):
        return validate_host(text[1:-1]), default_port
    if default_port is not None and ":" not in text:
        return validate_host(text), default_port
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ValueError(f"{text!r} is not [host]:port")
        return validate_host(host), validate_port(rest[1:])
    host, sep, port = text.rpartition(":")
    if not sep:
        raise ValueError(f"{text!r} has no port")
    return validate_host(host), validate_port(port)


# -- syntax of principals and paths -----------------------------------------------------------------------------
# Patterns are used with fullmatch (a '$' anchor would let a trailing newline through).
#: A Kerberos principal: primary[/instance][@REALM] (``_HOST`` allowed as the instance; an instance may be an
#: IPv6 address, which is what ``_HOST`` becomes for a server registered by one).
PRINCIPAL_RE = re.compile(r"[A-Za-z0-9_.-]{1,128}(/[A-Za-z0-9_.:-]{1,255})?(@[A-Za-z0-9_.-]{1,255})?")
#: The HTTP path of HiveServer2's Thrift-over-HTTP endpoint (``cliservice``), leading slash optional.
HTTP_PATH_RE = re.compile(r"/?[A-Za-z0-9._~/+-]{0,255}")
