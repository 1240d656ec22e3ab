"""The context-manager protocol shared by rig parts that have ``start()`` and ``stop()``."""


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
