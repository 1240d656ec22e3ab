"""Keeping secrets out of messages (pure; below everything, errors included). Every text hive-ha shows that may
quote a password -- a driver's error, a server's answer, a load balancer's complaint about a config, a URL part --
goes through ``scrub``; a setting whose value is secret is shown as ``HIDDEN`` (``ConfigError(..., secret=True)``)."""
from __future__ import annotations

from typing import Optional

#: What a secret is replaced with.
HIDDEN = "<hidden>"


def scrub(text: str, *secrets: Optional[str]) -> str:
    """``text`` with every occurrence of each (non-empty) secret replaced by ``HIDDEN``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, HIDDEN)
    return text


def hide_if_secret(item: str) -> str:
    """A ``key=value`` item quoted in an error as it is, or ``HIDDEN`` whole when it names a password (a malformed
    item cannot be trusted to split where the value starts)."""
    return HIDDEN if "password" in item.lower() else item
