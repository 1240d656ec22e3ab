"""Rendering a model for a given load balancer, checking the result with the real binary, and writing it atomically."""
from __future__ import annotations

import dataclasses
import os
import re
import shutil
import stat
import subprocess
import tempfile
from typing import Optional, Tuple

from hive_ha.errors import ConfigError, LoadBalancerConfigRejected
from hive_ha.lb import haproxy, httpd, nginx
from hive_ha.lb.model import LB_KINDS, LoadBalancer
from hive_ha.redact import scrub

BINARIES = {"haproxy": "haproxy", "nginx": "nginx", "httpd": "apache2"}


def nginx_version(binary: str = "nginx") -> Optional[Tuple[int, ...]]:
    """The installed nginx's version, or None when it is not installed."""
    path = shutil.which(binary)
    if not path:
        return None
    out = subprocess.run([path, "-v"], capture_output=True, text=True, timeout=10)
    match = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", out.stderr + out.stdout)
    return tuple(int(part) for part in match.groups()) if match else None


def render(kind: str, lb: LoadBalancer, *, snippet: bool = False, nginx_version: Tuple[int, ...] = nginx.DEFAULT_VERSION) -> str:
    if kind == "haproxy":
        return haproxy.render(lb, snippet=snippet)
    if kind == "nginx":
        return nginx.render(lb, snippet=snippet, version=nginx_version)
    if kind == "httpd":
        return httpd.render(lb, snippet=snippet)
    raise ConfigError("load balancer", kind, "one of " + ", ".join(LB_KINDS))


def check_command(kind: str, config_file: str, workdir: str) -> list:
    """The command that validates ``config_file`` (``workdir``: nginx's prefix, httpd needs none)."""
    binary = shutil.which(BINARIES[kind]) or BINARIES[kind]
    if kind == "haproxy":
        return [binary, "-c", "-f", config_file]
    if kind == "nginx":
        return [binary, "-q", "-t", "-c", config_file, "-p", workdir, "-e", os.path.join(workdir, "check-error.log")]
    return [binary, "-t", "-f", config_file]


def binary_available(kind: str) -> bool:
    return shutil.which(BINARIES[kind]) is not None


def check(kind: str, text: str, *, timeout: float = 30.0) -> None:
    """Validate ``text`` as it is with the installed binary; raises LoadBalancerConfigRejected with its output.
    Its runtime paths must exist (``check_model`` does not need them)."""
    with tempfile.TemporaryDirectory(prefix="hive-ha-lb-check-") as workdir:
        _run_check(kind, text, workdir, timeout)


def check_model(kind: str, lb: LoadBalancer, *, nginx_version: Tuple[int, ...] = nginx.DEFAULT_VERSION,
                timeout: float = 30.0) -> None:
    """Validate what ``render(kind, lb)`` gives with the installed binary, as a config: the copy checked keeps its
    runtime paths (pid file, sockets, logs, temp files) in a scratch dir, so a machine where the load balancer never
    ran (no /run/apache2, an unwritable log dir) does not fail it. Everything else, modules and certificates
    included, is checked where the config names it."""
    with tempfile.TemporaryDirectory(prefix="hive-ha-lb-check-") as workdir:
        scratch = dataclasses.replace(lb, paths=lb.paths.relocated(workdir))
        _run_check(kind, render(kind, scratch, nginx_version=nginx_version), workdir, timeout,
                   lb.stats.password if lb.stats else None)


def _run_check(kind: str, text: str, workdir: str, timeout: float, secret: Optional[str] = None) -> None:
    """Run the binary's check; its complaint may quote a config line, so the stats password is scrubbed from it."""
    path = os.path.join(workdir, "candidate.conf")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    result = subprocess.run(check_command(kind, path, workdir), capture_output=True, text=True, timeout=timeout,
                            cwd=workdir, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise LoadBalancerConfigRejected(BINARIES[kind], scrub((result.stderr + result.stdout).strip(), secret))


def write_atomically(path: str, text: str, mode: int = 0o600, *, key: str = "output file") -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it into place (never a half-written config).

    Permissions (the config may hold the stats password): a new file gets ``mode``. A file that exists keeps its
    owner and group, and its mode becomes what both it and ``mode`` allow (``existing & mode``): a rewrite never widens
    access. The content is never readable beyond that, not even for a moment: the temporary file is created 0600.
    A path that cannot be written (missing directory, a directory, no permission, an owner or group this process
    cannot give the new file) is a ConfigError naming it."""
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise ConfigError(key, path, "a file path (this is a directory)")
    try:
        existing: Optional[os.stat_result] = os.stat(path)
    except FileNotFoundError:
        existing = None
    except OSError as exc:
        raise ConfigError(key, path, f"a readable file path ({exc.strerror})") from None
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=directory)  # 0600, ours
    except OSError as exc:
        raise ConfigError(key, path, f"a file in a writable directory ({directory}: {exc.strerror})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            if existing is not None:
                _keep_owner(handle.fileno(), existing, key, path)
                mode &= stat.S_IMODE(existing.st_mode)
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            raise ConfigError(key, path, f"a writable file path ({exc.strerror})") from None
        raise


def _keep_owner(fd: int, existing: os.stat_result, key: str, path: str) -> None:
    """Give the new file the owner and group of the one it replaces (root may give any; others their own groups)."""
    uid = existing.st_uid if existing.st_uid != os.geteuid() else -1
    gid = existing.st_gid if existing.st_gid != os.fstat(fd).st_gid else -1
    if uid == -1 and gid == -1:
        return
    try:
        os.fchown(fd, uid, gid)
    except PermissionError:
        raise ConfigError(key, path, f"a file this user can replace keeping its owner and group (uid "
                                     f"{existing.st_uid}, gid {existing.st_gid}): run as that owner, in that group, "
                                     "or as root") from None
