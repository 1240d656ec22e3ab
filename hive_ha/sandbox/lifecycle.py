"""The context-manager protocol shared by rig parts that have ``start()`` and ``stop()``, and the interpreter rig
processes run in."""
import os
import sys


class Startable:
    """``with Part(...) as part:`` starts it and always stops it; a ``start()`` that fails half-way
    stops what it had begun before the error propagates (``stop()`` must accept a partial start)."""

    def start(self):  # pragma: no cover - defined by each part
        raise NotImplementedError

    def stop(self):  # pragma: no cover - defined by each part
        raise NotImplementedError

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc_info):
        self.stop()


def rig_python():
    """The interpreter for rig processes: ``$HIVE_HA_RIG_PYTHON`` (inside Hue's virtualenv, Hue's generated Thrift
    code shadows the one the rig is written against; `make test-hue` points it at the dev venv), else this one."""
    return os.environ.get("HIVE_HA_RIG_PYTHON") or sys.executable
