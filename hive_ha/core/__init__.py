"""Layer 3, the cache and its policies: the lock-guarded endpoint cache (``cache``), each server's health and the rule
that moves it (``health``), the prober that probes servers that are not up (``prober``), what one request to a
server came to (``attempts``), how soon a dead server is probed again (``backoff``), server selection
(``selection``), error classification and opening a connection with failover (``failover``), settings (``config``)
and ``Discovery``, which wires a watcher per service and the prober to the cache. Depends on ``hive_ha.model`` and
``hive_ha.io``."""
