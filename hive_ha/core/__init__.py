"""Layer 3, the cache and its policies: the lock-guarded endpoint cache (``cache``), retry backoff (``backoff``),
server selection (``selection``), failover budgets (``failover``), settings (``config``) and ``Discovery``, which
wires a watcher per service to the cache. Depends on ``hive_ha.model`` and ``hive_ha.io``."""
