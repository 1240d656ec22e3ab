"""Layer 1, pure: what a registration says (``Endpoint``), what a service is (``Layout``, ``Service``), what the
registry held at one moment (``Snapshot``), and the parsing and validation that turn untrusted znode bytes and
settings into them. Nothing here does I/O or imports anything outside this package but ``hive_ha.errors``."""
