"""Layer 2, I/O: ZooKeeper sessions (``zookeeper``), Kerberos logins (``kerberos``), reading the registry
(``registry``), watching it (``watcher``) and the plainest probe of a server (``probe``). Depends on ``hive_ha.model``
only."""
