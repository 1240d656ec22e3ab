"""Validation of every value that reaches a load-balancer config from outside (flags, files, ZooKeeper).

A config line is built from these values, so anything that could end a directive, open a block or start a new one
(newline, space, braces, quotes, semicolons, ``#``, backslash, ``$``, ``%``) is refused with a ``ConfigError`` that
names the value; nothing is escaped and nothing is written. The one exception is ``extra_line``: an operator's
``--extra`` line is written as given (braces and semicolons included), only newlines and control characters refused.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Iterable, Tuple

from hive_ha.errors import ConfigError
from hive_ha.model.values import PRINCIPAL_RE, format_hostport, split_hostport, validate_host, validate_port

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
_PATH = re.compile(r"/[A-Za-z0-9_./@+-]*")
_URI_PATH = re.compile(r"/[A-Za-z0-9_./~+-]*")
_WORD = re.compile(r"[A-Za-z0-9_.@+-]{1,128}")
# Characters a free-form escape-hatch line may not carry: they would end it or start another directive.
_LINE_FORBIDDEN = re.compile(r"[\r\n\x00-\x08\x0b-\x1f\x7f]")


def name(key: str, value: object) -> str:
    """An identifier for a section, backend or server (letters first; letters, digits, ``_ . -``)."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ConfigError(key, value, "a name of letters, digits, '_', '.', '-' starting with a letter (max 64)")
    return value


def host(key: str, value: object) -> str:
    try:
        return validate_host(value)
    except ValueError as exc:
        raise ConfigError(key, value, f"a host name or IP address ({exc})") from None


def is_loopback(value: str) -> bool:
    """Whether ``value`` is a loopback address (127.0.0.0/8, ::1) or ``localhost``."""
    if value == "localhost":
        return True
    try:
        return ipaddress.ip_address(value).is_loopback
    except ValueError:
        return False


def port(key: str, value: object) -> int:
    try:
        return validate_port(value)
    except ValueError:
        raise ConfigError(key, value, "a port number in 1-65535") from None


def hostport(key: str, value: object, default_port: "int | None" = None) -> Tuple[str, int]:
    """``HOST:PORT`` (or ``[v6]:PORT``); a bare ``HOST`` (or ``[v6]``) only when ``default_port`` is given. Unlike
    other inputs, surrounding whitespace is refused, not stripped."""
    if not isinstance(value, str) or not value or value != value.strip():
        raise ConfigError(key, value, "HOST:PORT")
    try:
        return split_hostport(value, default_port)
    except ValueError as exc:
        raise ConfigError(key, value, f"HOST:PORT ({exc})") from None


def file_path(key: str, value: object) -> str:
    """An absolute file path of safe characters (no spaces, quotes or config syntax)."""
    if not isinstance(value, str) or not _PATH.fullmatch(value) or "/../" in value + "/":
        raise ConfigError(key, value, "an absolute path of letters, digits and '_ . / @ + -'")
    return value


def uri_path(key: str, value: object) -> str:
    if not isinstance(value, str) or not _URI_PATH.fullmatch(value):
        raise ConfigError(key, value, "a URL path such as /desktop/debug/is_alive")
    return value


def principal(key: str, value: object) -> str:
    if not isinstance(value, str) or not PRINCIPAL_RE.fullmatch(value):
        raise ConfigError(key, value, "a Kerberos principal such as impala/lb.example.com@EXAMPLE.COM")
    return value


def word(key: str, value: object, *, secret: bool = False) -> str:
    """A user name or password: letters, digits and ``_ . @ + -`` only (no spaces, quotes or colons)."""
    if not isinstance(value, str) or not _WORD.fullmatch(value):
        raise ConfigError(key, value, "1-128 letters, digits or '_ . @ + -'", secret=secret)
    return value


def seconds(key: str, value: object, minimum: float = 0.001) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= minimum or value > 10 ** 7:
        raise ConfigError(key, value, f"a number of seconds >= {minimum:g}")
    return float(value)


def extra_line(key: str, value: object) -> str:
    """An operator's extra config line: one line, any directive (it is the escape hatch), no control characters."""
    if not isinstance(value, str) or not value.strip() or _LINE_FORBIDDEN.search(value):
        raise ConfigError(key, value, "one non-empty line without newlines or control characters")
    return value.strip()


def backend_lines(source: str, lines: Iterable[str], default_port: "int | None" = None) -> Tuple[Tuple[str, int], ...]:
    """``HOST:PORT`` per line (blank lines and ``#`` comments skipped), each validated; ``source`` names the origin."""
    found = []
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        found.append(hostport(f"{source} line {number}", text, default_port))
    return tuple(found)


def display(hostport_pair: Tuple[str, int]) -> str:
    return format_hostport(*hostport_pair)
