"""Real haproxy, nginx and apache2 on free loopback ports in temp dirs, and small HTTP servers imitating Hue.

    with HueBackend("hue-a") as a, HueBackend("hue-b") as b:
        model = build("haproxy", "hue", ProfileOptions(servers=(a.address, b.address), ...,
                                                        paths=RuntimePaths.under(rig_dir)))
        with LoadBalancerProcess("haproxy", model) as lb:     # started, listening on every bind port
            requests go to lb.port("hue")
        b.set_alive(False)                                    # is_alive answers 503
        b.stop()                                              # port closed: connection refused

A Hue imitation answers ``GET /desktop/debug/is_alive`` (200, or 503 after ``set_alive(False)``) and every other path
with its name, setting a ``sessionid`` cookie when the request has none; ``hits`` counts non-check requests and
``seen_headers`` keeps their headers (names lower-cased).
Every process is stopped and every directory removed by ``stop()``/``__exit__`` and, as a last resort, at exit;
servers are started through ``setpriv --pdeathsig KILL`` so they die with the Python process.
"""
from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from hive_ha.lb import LoadBalancer, render
from hive_ha.lb.render import BINARIES
from hive_ha.testing.waiting import wait_until
from hive_ha.sandbox.zookeeper import LOOPBACK, _TlsMaterial

__all__ = ["HueBackend", "LoadBalancerProcess", "TlsFiles", "lb_workdir"]

_live = set()
_live_lock = threading.Lock()


def lb_workdir(prefix: str = "hive-ha-lb-") -> str:
    """A temp dir the LB's unprivileged workers can read (nginx workers run as nobody, httpd's as www-data)."""
    path = tempfile.mkdtemp(prefix=prefix)
    os.chmod(path, 0o755)
    return path


class TlsFiles:
    """A test CA and a server certificate for ``localhost``/127.0.0.1 (the ZooKeeper rig's material), plus the
    combined chain-and-key PEM HAProxy wants."""

    def __init__(self, directory: str) -> None:
        material = _TlsMaterial(directory)
        self.ca = material.ca_file
        self.cert = material.server_cert_file
        self.key = material.server_key_file
        self.combined = os.path.join(directory, "server-combined.pem")
        with open(self.combined, "wb") as out:
            for path in (self.cert, self.key):
                with open(path, "rb") as handle:
                    out.write(handle.read())
        for path in (self.ca, self.cert, self.key, self.combined):
            os.chmod(path, 0o644)  # test material only: the workers must read it


class _HueHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def handle(self):
        backend = self.server.backend
        with backend.lock:
            backend.connections.add(self.connection)
        try:
            super().handle()
        except (ConnectionError, OSError):  # probes that hang up early; connections cut by stop()
            pass
        finally:
            with backend.lock:
                backend.connections.discard(self.connection)

    def do_GET(self):  # noqa: N802 - http.server's naming
        backend = self.server.backend
        if self.path.startswith("/desktop/debug/is_alive"):
            backend.checks += 1
            self._answer(200 if backend.alive else 503, b"" if backend.alive else b"not alive")
            return
        with backend.lock:
            backend.hits += 1
            backend.seen_headers.append({k.lower(): v for k, v in self.headers.items()})
        cookie = None if "sessionid=" in (self.headers.get("Cookie") or "") else uuid.uuid4().hex
        self._answer(200, backend.name.encode(), cookie)

    def _answer(self, status, body, cookie=None):
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        if cookie:
            self.send_header("Set-Cookie", f"sessionid={cookie}; Path=/; HttpOnly")
        self.end_headers()
        self.wfile.write(body)


class HueBackend:
    """An HTTP server on a free loopback port answering like Hue's is_alive and setting ``sessionid``."""

    def __init__(self, name: str, tls: "TlsFiles | None" = None) -> None:
        self.name = name
        self.alive = True
        self.hits = 0
        self.checks = 0
        self.seen_headers: list = []
        self.connections: set = set()
        self.lock = threading.Lock()
        self.host = LOOPBACK
        self._server = ThreadingHTTPServer((LOOPBACK, 0), _HueHandler)
        self._server.daemon_threads = True
        self._server.backend = self
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls.cert, tls.key)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"hue-{name}", daemon=True)
        self._thread.start()

    @property
    def address(self):
        return (self.host, self.port)

    def set_alive(self, alive: bool) -> None:
        self.alive = alive

    def stop(self) -> None:
        """Like a killed process: the listening socket closes (new connections refused) and open ones are cut."""
        if self._thread is not None:
            self._server.shutdown()
            self._server.server_close()
            with self.lock:
                open_connections = list(self.connections)
            for conn in open_connections:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._thread.join(5)
            self._thread = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class LoadBalancerProcess:
    """``kind`` (haproxy, nginx, httpd) running ``model`` in the foreground; the model's paths must point at a temp
    dir (``RuntimePaths.under(dir)``), which this object removes on stop when it created it (``own_dir``)."""

    def __init__(self, kind: str, model: LoadBalancer, *, own_dir: bool = True, start_timeout: float = 15.0) -> None:
        self.kind = kind
        self.model = model
        self.dir = model.paths.runtime_dir
        self.own_dir = own_dir
        self.start_timeout = start_timeout
        self.config_file = os.path.join(self.dir, f"{kind}.conf")
        self.log_file = os.path.join(self.dir, f"{kind}-process.log")
        self._process = None

    def port(self, listener: str) -> int:
        return self.model.listener(listener).bind.port

    def _command(self):
        binary = shutil.which(BINARIES[self.kind])
        if self.kind == "haproxy":
            # Master-worker mode, as a monitor expects: SIGUSR2 to the master reloads without dropping connections.
            command = [binary, "-W", "-db", "-f", self.config_file]
        elif self.kind == "nginx":
            command = [binary, "-c", self.config_file, "-p", self.dir, "-e", os.path.join(self.dir, "error.log"),
                       "-g", "daemon off;"]
        else:
            command = [binary, "-f", self.config_file, "-DFOREGROUND"]
        return pdeathsig() + command

    def start(self) -> "LoadBalancerProcess":
        with open(self.config_file, "w", encoding="utf-8") as handle:
            handle.write(render(self.kind, self.model))
        log = open(self.log_file, "ab")
        try:
            self._process = subprocess.Popen(self._command(), cwd=self.dir, stdin=subprocess.DEVNULL, stdout=log,
                                             stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            log.close()
        with _live_lock:
            _live.add(self)
        ports = [listener.bind.port for listener in self.model.listeners]
        wait_until(lambda: self._process.poll() is not None or all(listening(p) for p in ports),
                   self.start_timeout, message=lambda: f"{self.kind} did not listen on {ports}: {self.log_tail()}")
        if self._process.poll() is not None:
            raise RuntimeError(f"{self.kind} exited with {self._process.returncode}: {self.log_tail()}")
        return self

    def log_tail(self, lines: int = 30) -> str:
        texts = []
        for name in (self.log_file, os.path.join(self.dir, "error.log")):
            try:
                with open(name, encoding="utf-8", errors="replace") as handle:
                    texts.append("\n".join(handle.read().splitlines()[-lines:]))
            except OSError:
                pass
        return "\n".join(texts) or "(no log)"

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)  # its own session: the workers go too
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if process is not None:
            try:
                os.killpg(process.pid, signal.SIGKILL)  # stragglers (workers) of the group, if any
            except ProcessLookupError:
                pass
        if self.own_dir and self.dir and os.path.isdir(self.dir):
            shutil.rmtree(self.dir, ignore_errors=True)
        with _live_lock:
            _live.discard(self)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def pdeathsig() -> list:
    """A command prefix that makes the process die with this Python process even when it is SIGKILLed (``setpriv``,
    when there is one; only from the main thread: the death signal follows the launching thread)."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--"] if setpriv and threading.current_thread() is threading.main_thread() \
        else []


def listening(port: int) -> bool:
    """Something accepts connections on the loopback ``port``."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5):
            return True
    except OSError:
        return False


def _stop_all_at_exit():
    with _live_lock:
        processes = list(_live)
    for process in processes:
        try:
            process.stop()
        except Exception:  # noqa: BLE001 - best effort at interpreter exit
            pass


atexit.register(_stop_all_at_exit)
