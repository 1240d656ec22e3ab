"""A fork at the worst moment, as gunicorn makes one: while another thread of the parent holds the locks under test."""
import os
import signal
import threading

from hive_ha.testing.waiting import WaitTimeout, wait_until


def fork_while_held(locks, use, timeout=10.0):
    """Fork while another thread holds every one of ``locks``; the child runs ``use()``. Returns what became of the
    child: ``"returned"``, ``"raised"``, or ``"blocked"`` (still inside ``use()`` after ``timeout`` s: a lock it needs
    stayed held; the child is killed)."""
    inside, release = threading.Event(), threading.Event()

    def holder():
        for lock in locks:
            lock.acquire()
        inside.set()
        release.wait(timeout)
        for lock in reversed(locks):
            lock.release()

    thread = threading.Thread(target=holder, name="holds the locks at fork", daemon=True)
    thread.start()
    assert inside.wait(5), "the holder did not get the locks"
    pid = os.fork()
    if pid == 0:  # the child: the holder thread does not exist here, the locks are as it left them
        try:
            use()
        except BaseException:  # noqa: BLE001 - told to the parent by the exit status
            os._exit(2)
        os._exit(0)
    release.set()
    thread.join(5)
    status = []

    def exited():
        done, code = os.waitpid(pid, os.WNOHANG)
        if done:
            status.append(code)
        return bool(done)

    try:
        wait_until(exited, timeout, interval=0.05, message="the child did not exit")
    except WaitTimeout:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return "blocked"
    return "returned" if os.WIFEXITED(status[0]) and os.WEXITSTATUS(status[0]) == 0 else "raised"
