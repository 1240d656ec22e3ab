"""HAProxy's runtime API over its admin socket (``stats socket ... level admin``): one command per connection."""
from __future__ import annotations

import socket
from typing import Dict

from hive_ha.errors import LoadBalancerCommandFailed
from hive_ha.lb import validate

STATES = ("ready", "drain", "maint")


class RuntimeApi:
    """Commands to one HAProxy process's admin socket at ``path``."""

    def __init__(self, path: str, timeout: float = 5.0) -> None:
        self.path = path
        self.timeout = timeout

    def command(self, line: str) -> str:
        """Send one command and return the answer (raises LoadBalancerCommandFailed when the socket is unusable)."""
        if "\n" in line or ";" in line:
            raise ValueError(f"one runtime command at a time: {line!r}")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout)
                sock.connect(self.path)
                sock.sendall(line.encode() + b"\n")
                chunks = []
                while True:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    chunks.append(chunk)
        except OSError as exc:
            raise LoadBalancerCommandFailed("haproxy", line, f"admin socket {self.path}: {exc}") from None
        return b"".join(chunks).decode("utf-8", "replace")

    def set_server_state(self, backend: str, server: str, state: str) -> None:
        if state not in STATES:
            raise ValueError(f"state {state!r} is not one of {STATES}")
        line = f"set server {validate.name('backend', backend)}/{validate.name('server', server)} state {state}"
        answer = self.command(line).strip()
        if answer:  # HAProxy answers nothing on success, an explanation on failure
            raise LoadBalancerCommandFailed("haproxy", line, answer)

    def info(self) -> Dict[str, str]:
        """``show info`` as a dict (``Pid`` tells which worker answers: it changes after a reload)."""
        out = {}
        for line in self.command("show info").splitlines():
            key, sep, value = line.partition(":")
            if sep:
                out[key.strip()] = value.strip()
        return out

    def server_states(self, backend: str) -> Dict[str, str]:
        """Server name -> operational/administrative state summary (``show servers state``)."""
        lines = self.command(f"show servers state {validate.name('backend', backend)}").splitlines()
        header = next((l.lstrip("# ").split() for l in lines if l.startswith("# be_id")), None)
        if header is None:
            return {}
        result = {}
        for line in lines:
            if line.startswith("#") or not line.strip() or line.strip() == "1":
                continue
            row = dict(zip(header, line.split()))
            if "srv_name" in row:
                admin = int(row.get("srv_admin_state", "0"))
                result[row["srv_name"]] = "maint" if admin & 0x1F else ("up" if row.get("srv_op_state") == "2" else "down")
        return result
