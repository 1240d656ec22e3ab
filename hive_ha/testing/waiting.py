"""Polling helper for tests and test rigs: wait for a condition instead of sleeping.

    from hive_ha.testing.waiting import wait_until
    wait_until(lambda: zk.exists(path) is None, timeout=5, message="znode still there")

`wait_until` returns the predicate's first truthy value, so it doubles as "poll until I get a result":

    leader = wait_until(ensemble.leader, message="no leader elected")
"""
import time

__all__ = ["WaitTimeout", "wait_until"]


class WaitTimeout(AssertionError, TimeoutError):
    """Raised by `wait_until` when the condition did not become true in time.

    It is both an AssertionError (so pytest reports it as a plain test failure) and a TimeoutError (so product code and
    rigs can catch it as a timeout).
    """


def wait_until(predicate, timeout=10.0, interval=0.01, message=None, ignore=()):
    """Call `predicate()` until it returns a truthy value and return that value.

    timeout:  seconds before giving up with `WaitTimeout` (an AssertionError and a TimeoutError).
    interval: seconds between calls; it grows gently (x1.5, at most 0.25 s) so long waits do not spin.
    message:  text of the timeout error, or a callable returning it (evaluated only on timeout, so it can describe the
              state at that moment).
    ignore:   exception class(es) that count as "not yet" instead of propagating (e.g. kazoo's NoNodeError); the last
              one is chained to the timeout error. Any other exception propagates at once.
    The predicate is always called at least once, and once more at the deadline, so a zero timeout is a plain check.
    """
    deadline = time.monotonic() + timeout
    delay = interval
    last_error = None
    while True:
        final = time.monotonic() >= deadline
        try:
            result = predicate()
        except ignore as exc:  # noqa: PERF203 - polling loop
            last_error = exc
        else:
            if result:
                return result
        if final:
            break
        time.sleep(max(0.0, min(delay, deadline - time.monotonic())))
        delay = min(max(delay * 1.5, interval), max(interval, 0.25))
    text = message() if callable(message) else message
    if not text:
        text = "condition %s not met" % getattr(predicate, "__name__", repr(predicate))
    raise WaitTimeout("%s (waited %.1f s)" % (text, timeout)) from last_error
