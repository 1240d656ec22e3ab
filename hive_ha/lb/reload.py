"""Graceful reloads of a running load balancer, one driver per kind. None of them drops a client connection:

* HAProxy in master-worker mode (``haproxy -W``): SIGUSR2 to the master, which re-reads the file and starts a new
  worker on the same listening sockets; the old worker finishes its connections (bounded by ``hard-stop-after``).
  ``reload`` returns once a new worker answers on the admin socket.
* nginx: SIGHUP to the master (what ``nginx -s reload`` sends); old workers finish their connections (bounded by
  ``worker_shutdown_timeout``).
* Apache httpd: SIGUSR1 to the parent (what ``apache2 -k graceful`` sends).

The process is found through the pid file the emitted config names (``RuntimePaths.runtime_dir``).
"""
from __future__ import annotations

import os
import signal
import time
from typing import Optional

from hive_ha.errors import LoadBalancerCommandFailed
from hive_ha.lb.haproxy import admin_socket
from hive_ha.lb.model import RuntimePaths
from hive_ha.lb.runtime_api import RuntimeApi

PID_FILES = {"haproxy": "haproxy.pid", "nginx": "nginx.pid", "httpd": "apache2.pid"}
RESEND_AFTER = 1.0  # seconds without a new HAProxy worker before the reload signal is sent again
SIGNALS = {"haproxy": signal.SIGUSR2, "nginx": signal.SIGHUP, "httpd": signal.SIGUSR1}


def pid_file(kind: str, paths: RuntimePaths) -> str:
    """Where the emitted config tells ``kind`` to write its pid."""
    return os.path.join(paths.runtime_dir, PID_FILES[kind])


def read_pid(path: str) -> int:
    try:
        with open(path, encoding="ascii") as handle:
            pid = int(handle.read().split()[0])
    except (OSError, ValueError, IndexError) as exc:
        raise LoadBalancerCommandFailed("reload", f"read pid file {path}", exc.__class__.__name__) from None
    if pid <= 1:
        raise LoadBalancerCommandFailed("reload", f"read pid file {path}", f"unusable pid {pid}")
    return pid


class Reloader:
    """Signals the process named by ``pid_path`` to reload ``kind``'s config gracefully."""

    def __init__(self, kind: str, pid_path: str, admin_socket: Optional[str] = None, timeout: float = 30.0) -> None:
        self.kind = kind
        self.pid_path = pid_path
        self.runtime = RuntimeApi(admin_socket) if kind == "haproxy" and admin_socket else None
        self.timeout = timeout

    @classmethod
    def for_paths(cls, kind: str, paths: RuntimePaths, pid_path: Optional[str] = None) -> "Reloader":
        """The reloader for a load balancer running a config emitted with ``paths``."""
        return cls(kind, pid_path or pid_file(kind, paths), admin_socket(paths) if kind == "haproxy" else None)

    def reload(self) -> None:
        """Send the graceful-reload signal; for HAProxy wait until the new worker answers."""
        before = self._worker_pid()
        self._signal()
        if self.runtime is not None and before is not None:
            self._wait_new_worker(before)

    def _signal(self) -> None:
        pid = read_pid(self.pid_path)
        try:
            os.kill(pid, SIGNALS[self.kind])
        except OSError as exc:
            raise LoadBalancerCommandFailed(self.kind, f"reload signal to pid {pid}", str(exc)) from None

    def _worker_pid(self) -> Optional[str]:
        if self.runtime is None:
            return None
        try:
            return self.runtime.info().get("Pid")
        except LoadBalancerCommandFailed:
            return None

    def _wait_new_worker(self, before: str) -> None:
        # HAProxy 2.6's master answers USR2 asynchronously (a synchronous master-CLI reload arrives in 2.7).
        # A master still starting up (or re-executing after the previous reload) has its signals blocked and may
        # drop the USR2; a repeated one costs at most an extra reload of the same file.
        deadline = time.monotonic() + self.timeout
        resend_at = time.monotonic() + RESEND_AFTER
        delay = 0.005
        while time.monotonic() < deadline:
            now = self._worker_pid()
            if now is not None and now != before:
                return
            if time.monotonic() >= resend_at:
                self._signal()
                resend_at = time.monotonic() + RESEND_AFTER
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
        raise LoadBalancerCommandFailed("haproxy", "reload", f"no new worker within {self.timeout:g} s "
                                        "(is it running in master-worker mode, haproxy -W?)")
