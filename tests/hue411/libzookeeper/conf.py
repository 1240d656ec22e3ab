"""Stand-in for ``desktop/libs/libzookeeper/src/libzookeeper/conf.py`` ([libzookeeper] section).

``ENSEMBLE`` (dynamic default: Hue also looks at the zookeeper and search apps, which are not installed here, so
the default is its last fallback ``localhost:2181``; type ``coerce_string``) and ``PRINCIPAL_NAME`` ('zookeeper').
"""
from desktop.lib.conf import Config, coerce_string


def zkensemble():
    """
    Try to guess the value if no values are specified.
    """
    return "localhost:2181"


ENSEMBLE = Config(
    "ensemble",
    help="ZooKeeper ensemble. Comma separated list of Host/Port, e.g. localhost:2181,localhost:2182,localhost:2183",
    dynamic_default=zkensemble,
    type=coerce_string,
)

PRINCIPAL_NAME = Config(
    "principal_name",
    help="Name of Kerberos principal when using security",
    default="zookeeper",
    type=str,
)

