"""Layer 2, I/O: ZooKeeper sessions (``zookeeper``), Kerberos logins (``kerberos``), reading the registry
(``registry``) and watching it (``watcher``). Depends on ``hive_ha.model`` only."""
