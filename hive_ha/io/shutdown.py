"""Stopping a long-running process (a command, a sandbox server) on SIGTERM or SIGINT: a signal handler that takes no
lock, and a bounded stop.

A Python signal handler runs on the main thread between two bytecodes, wherever that thread is, possibly while it
holds a lock. ``threading.Event.set()`` in a handler takes the event's lock: if the main thread was inside ``wait()``
on the same event (which holds that lock around its bookkeeping), the handler waits for a lock its own thread holds,
forever, and so does the handler of every further signal. So the handler here takes no lock: the first signal is
written to a pipe, a later one ends the process (``os._exit``). The work runs on a thread; the main thread waits on
the pipe, sets the stop event and joins, bounded:

    return run_until_stopped(monitor.run, close)     # monitor.run(stop) until a signal, then close()

After the first signal the work gets ``timeout`` seconds to notice its stop event and ``close`` to release what it holds
(a ZooKeeper session, a lock node); then the command returns 0. A second signal, or a stop that does not finish in
time, ends the process at once with 128 + the signal number (143 for SIGTERM, 130 for SIGINT): what was left undone
is abandoned, and the operating system closes the sockets. The handlers stay for the rest of the process, so a
second signal after a clean stop, while the interpreter exits, ends it the same way.
"""
from __future__ import annotations

import os
import select
import signal
import threading
import time
from typing import Callable, List, Optional

#: Seconds from the first signal to a clean exit: a reload under way finishes in about a second, and this stays
#: under systemd's (90 s) and Kubernetes' (30 s) grace before SIGKILL.
STOP_TIMEOUT = 10.0
WAKE = 0  # what ``wake()`` writes: the work ended by itself (signal numbers are 1 and up)


class StopSignals:
    """SIGTERM and SIGINT for the rest of the process, handled without a lock: the first is written to a pipe that
    ``wait`` reads on the main thread; a later one ends the process at once."""

    def __init__(self, signals=(signal.SIGTERM, signal.SIGINT)) -> None:
        self._signals = tuple(signals)
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)  # the handler must never block: a full pipe already holds a stop
        self.first: Optional[int] = None

    def install(self) -> "StopSignals":
        for sig in self._signals:
            signal.signal(sig, self._on_signal)
        return self

    def _on_signal(self, signum: int, frame: object) -> None:
        if self.first is not None:
            _abandon(signum, f"{signal.Signals(signum).name} while stopping")
        self.first = signum
        self._put(signum)

    def wake(self) -> None:
        """Wake ``wait`` from another thread (``WAKE``)."""
        self._put(WAKE)

    def _put(self, value: int) -> None:
        try:
            os.write(self._write, bytes((value,)))
        except OSError:  # full: thousands of bytes pending already say it
            pass

    def wait(self, timeout: Optional[float] = None) -> Optional[int]:
        """The next signal number, ``WAKE``, or None when ``timeout`` s passed without either."""
        ready, _, _ = select.select([self._read], [], [], timeout)
        return os.read(self._read, 1)[0] if ready else None


def run_until_stopped(work: Callable[[threading.Event], None], close: Callable[[], None], *,
                      timeout: float = STOP_TIMEOUT, name: str = "hive-ha") -> int:
    """Run ``work(stop)`` on a thread until SIGTERM or SIGINT (or until it returns), then set ``stop`` and wait for
    it and for ``close()``, within ``timeout`` s (see the module docstring). Returns 0; re-raises what ``work``
    raised. Call it from the main thread."""
    failure: List[BaseException] = []
    stop, done = threading.Event(), threading.Event()
    signals = StopSignals().install()

    def run_work() -> None:
        try:
            work(stop)
        except BaseException as exc:  # noqa: BLE001 - re-raised on the main thread
            failure.append(exc)
        finally:
            signals.wake()

    def finish(worker: threading.Thread) -> None:
        worker.join()  # unbounded here: the main thread's deadline bounds the whole stop
        close()
        done.set()  # before the wake, so that the main thread sees it set when it reads the wake
        signals.wake()

    worker = threading.Thread(target=run_work, name=name, daemon=True)
    worker.start()
    first = signals.wait()
    stop.set()  # on the main thread, outside any handler: taking the event's lock is safe here
    threading.Thread(target=finish, args=(worker,), name=f"{name} stop", daemon=True).start()
    deadline = time.monotonic() + timeout
    while not done.is_set():
        again = signals.wait(max(0.0, deadline - time.monotonic()))
        if again is None:
            _abandon(signals.first or first, f"the stop did not finish within {timeout:g} s")
        elif again != WAKE:  # the work had ended by itself, and now a signal came while closing
            _abandon(again, f"{signal.Signals(again).name} while stopping")
    if failure:
        raise failure[0]
    return 0


def _abandon(signum: Optional[int], why: str) -> None:
    """Exit now, without waiting for any thread or lock (``os.write``: the logging handler's lock may be held)."""
    code = 128 + signum if signum else 1
    os.write(2, f"hive-ha: {why}: exiting at once with {code}, abandoning what was not finished\n".encode())
    os._exit(code)
