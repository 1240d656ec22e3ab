"""The three ways Hive lays out its registry in ZooKeeper, and the ``Service`` key of the cache."""
from __future__ import annotations

import dataclasses
import enum
from typing import Optional, Sequence, Tuple

from hive_ha.errors import ConfigError
from hive_ha.model.endpoint import Endpoint


class RecordFormat(enum.Enum):
    """How a server's znode says where it is (``hive_ha.model.registration.parse_registration`` reads both)."""

    CONFIG_STRING = "config-string"  # HiveServer2 dynamic discovery and HSI without HA: key=value;... data
    SERVICE_RECORD = "service-record"  # HSI Active/Passive HA: a JSON ServiceRecord (activeEndpoint, passiveEndpoint)


@dataclasses.dataclass(frozen=True)
class Layout:
    """Which znodes to watch for a namespace and how to read them.

    ``roots`` lists candidate root paths in order (HSI HA appends ``-sasl``/``-unsecure`` to its
    namespace, so a bare namespace is tried with both suffixes); children live under
    ``root + children_suffix``.
    """

    name: str
    default_namespace: str
    record: RecordFormat
    children_suffix: str = ""
    ha: bool = False
    root_suffixes: Tuple[str, ...] = ("",)
    description: str = ""

    def roots(self, namespace: str) -> Tuple[str, ...]:
        base = normalize_path(namespace)
        return tuple(base + s for s in self.root_suffixes)

    def children_path(self, root: str) -> str:
        return root + self.children_suffix

    def candidates(self, endpoints: Sequence[Endpoint]) -> Tuple[Endpoint, ...]:
        """The endpoints a client may use: all of them, or only the active one(s) under HA."""
        if self.ha:
            return tuple(e for e in endpoints if e.active)
        return tuple(endpoints)


HS2 = Layout("hs2", "hiveserver2", RecordFormat.CONFIG_STRING, description="HiveServer2 dynamic service discovery")
HSI = Layout("hsi", "hiveserver2-hive2", RecordFormat.CONFIG_STRING, description="HiveServer2 Interactive (LLAP) without HA")
HSI_HA = Layout(
    "hsi-ha",
    "hs2ActivePassiveHA",
    RecordFormat.SERVICE_RECORD,
    children_suffix="/instances",
    ha=True,
    root_suffixes=("", "-sasl", "-unsecure"),
    description="HiveServer2 Interactive Active/Passive HA (leader publishes activeEndpoint)",
)
LAYOUTS = {layout.name: layout for layout in (HS2, HSI, HSI_HA)}


def get_layout(name: str) -> Layout:
    try:
        return LAYOUTS[name]
    except KeyError:
        raise ConfigError("layout", name, "one of " + ", ".join(LAYOUTS)) from None


def normalize_path(namespace: str) -> str:
    """``hiveserver2`` / ``/hiveserver2/`` -> ``/hiveserver2``; rejects empty or odd paths."""
    if not isinstance(namespace, str):
        raise ConfigError("namespace", namespace, "a ZooKeeper path such as /hiveserver2")
    parts = [p for p in namespace.strip().split("/") if p]
    if not parts or any(p in (".", "..") or any(c.isspace() or ord(c) < 32 for c in p) for p in parts):
        raise ConfigError("namespace", namespace, "a ZooKeeper path such as /hiveserver2")
    return "/" + "/".join(parts)


@dataclasses.dataclass(frozen=True)
class Service:
    """What the cache keys on: a layout and its namespace."""

    layout: Layout
    namespace: str

    @classmethod
    def of(cls, layout: str, namespace: Optional[str] = None) -> "Service":
        lay = get_layout(layout)
        return cls(lay, normalize_path(namespace or lay.default_namespace))

    def __str__(self) -> str:
        return f"{self.layout.name}:{self.namespace}"
