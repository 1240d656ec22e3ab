"""hive-ha settings from hue.ini-style files (configobj).

Hue's own keys keep their meaning (``[beeswax] hive_discovery_*``, ``cache_timeout``,
``zookeeper_conn_timeout``, ``[libzookeeper] ensemble`` / ``principal_name``); everything hive-ha
adds lives in ``[hive_ha]``. Every key is documented in ``conf/hive_ha.ini.example``; a bad value
raises ``ConfigError`` naming the key, the value and what is allowed.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable, Dict, Iterable, Mapping, Optional, Sequence, Union

from hive_ha.core.backoff import Backoff
from hive_ha.core.cache import DEAD_AFTER
from hive_ha.core.prober import PROBE_INTERVAL, PROBE_TIMEOUT
from hive_ha.core.selection import POLICIES
from hive_ha.errors import ConfigError
from hive_ha.io.kerberos import HueKerberos
from hive_ha.io.zookeeper import AUTH_SCHEMES, SASL_MECHANISMS, ZkSettings
from hive_ha.model.layouts import Service, normalize_path
from hive_ha.model.values import INI_BOOLEANS, choice, parse_bool


def use_hue_ticket(zk: ZkSettings, hue: Optional[HueKerberos]) -> ZkSettings:
    """Whose ticket hive-ha uses toward ZooKeeper (docs/kerberos.md, "Whose ticket"). In a Kerberized Hue, with GSSAPI
    and neither ``kerberos_keytab`` nor ``kerberos_ccache`` set: Hue's cache, kept fresh by Hue's ``kt_renewer``, and
    Hue's principal unless ``zookeeper_sasl_principal`` names another. A keytab login of hive-ha's own must not
    write Hue's cache (two writers would race; ``kt_renewer`` takes no lock)."""
    if hue is None or not zk.uses_gssapi:
        return zk
    if zk.kerberos_keytab:
        if hue.is_cache(zk.ticket_cache):
            raise ConfigError("[hive_ha] kerberos_ccache", zk.kerberos_ccache,
                              f"another cache than Hue's [desktop] [[kerberos]] ccache_path {hue.ccache} (hue "
                              "kt_renewer writes that one), or leave kerberos_keytab empty to use Hue's ticket")
        return zk
    if zk.kerberos_ccache:
        return zk
    return dataclasses.replace(zk, kerberos_ccache=hue.ccache, sasl_principal=zk.sasl_principal or hue.principal)


@dataclasses.dataclass(frozen=True)
class HiveHAConfig:
    """Everything the core needs, validated."""

    zookeeper: ZkSettings
    enabled: bool = True
    discover_hive: bool = False
    discover_llap: bool = False
    llap_ha: bool = False
    hive_namespace: str = "/hiveserver2"
    llap_namespace: str = "/hiveserver2-hive2"
    selection_policy: str = "oldest"
    cache_timeout: float = 60.0
    backoff: Backoff = Backoff()
    leader_wait: float = 5.0
    debounce: float = 0.05
    dead_after: float = DEAD_AFTER
    probe_interval: float = PROBE_INTERVAL
    probe_timeout: float = PROBE_TIMEOUT
    #: The Kerberized Hue hive-ha runs in (or whose hue.ini it read), if any.
    hue_kerberos: Optional[HueKerberos] = None

    @property
    def hive_service(self) -> Service:
        return Service.of("hs2", self.hive_namespace)

    @property
    def llap_service(self) -> Service:
        return Service.of("hsi-ha" if self.llap_ha else "hsi", self.llap_namespace)

    def discovery_kwargs(self) -> Dict[str, Any]:
        return {
            "policy": self.selection_policy,
            "cache_timeout": self.cache_timeout,
            "backoff": self.backoff,
            "leader_wait": self.leader_wait,
            "debounce": self.debounce,
            "dead_after": self.dead_after,
            "probe_interval": self.probe_interval,
            "probe_timeout": self.probe_timeout,
        }


# (section, key) -> (field path, parser, default); one table so the loader, the example file's test
# and the docs agree on every key.
def _bool(section: str, key: str, value: Any) -> bool:
    return parse_bool(f"[{section}] {key}", value, INI_BOOLEANS)


def _number(minimum: float, maximum: float = float("inf")) -> Callable[[str, str, Any], float]:
    def parse(section: str, key: str, value: Any) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = float("nan")
        if not minimum <= number <= maximum:
            raise ConfigError(f"[{section}] {key}", value, f"a number of seconds from {minimum:g} to {maximum:g}")
        return number
    return parse


def _choice(options: Sequence[str], fold: Callable[[str], str] = str.lower) -> Callable[[str, str, Any], str]:
    def parse(section: str, key: str, value: Any) -> str:
        return choice(f"[{section}] {key}", value, options, fold=fold)
    return parse


def _text(section: str, key: str, value: Any) -> str:
    text = str(value).strip()
    if any(ord(c) < 32 for c in text):
        raise ConfigError(f"[{section}] {key}", value, "a single line of text")
    return text


def _secret(section: str, key: str, value: Any) -> str:
    text = str(value)
    if "\n" in text or "\r" in text:
        raise ConfigError(f"[{section}] {key}", value, "a single line", secret=True)
    return text


def _path(section: str, key: str, value: Any) -> str:
    try:
        return normalize_path(str(value))
    except ConfigError:
        raise ConfigError(f"[{section}] {key}", value, "a ZooKeeper path such as /hiveserver2") from None


def _hosts(section: str, key: str, value: Any) -> str:
    text = str(value).strip()
    if not text or any(c.isspace() for c in text):
        raise ConfigError(f"[{section}] {key}", value, "host:port[,host:port...][/chroot] without spaces")
    return text


def _file(section: str, key: str, value: Any) -> str:
    text = _text(section, key, value)
    if text and not os.path.isfile(text):
        raise ConfigError(f"[{section}] {key}", value, "the path of a readable file")
    return text


def _unset_if_empty(section: str, key: str, value: Any) -> Any:
    """Text, or None (= keep what another key or the default gave) when empty."""
    return _text(section, key, value) or None


KEYS: Dict[tuple, tuple] = {
    ("beeswax", "hive_discovery_hs2"): ("discover_hive", _bool),
    ("beeswax", "hive_discovery_llap"): ("discover_llap", _bool),
    ("beeswax", "hive_discovery_llap_ha"): ("llap_ha", _bool),
    ("beeswax", "hive_discovery_hiveserver2_znode"): ("hive_namespace", _path),
    ("beeswax", "hive_discovery_llap_znode"): ("llap_namespace", _path),
    ("beeswax", "cache_timeout"): ("cache_timeout", _number(1, 86400)),
    ("beeswax", "zookeeper_conn_timeout"): ("zk.connect_timeout", _number(0.1, 3600)),
    ("libzookeeper", "ensemble"): ("zk.hosts", _hosts),
    ("libzookeeper", "principal_name"): ("zk.sasl_service", _text),
    ("hive_ha", "enabled"): ("enabled", _bool),
    ("hive_ha", "selection_policy"): ("selection_policy", _choice(tuple(POLICIES))),
    ("hive_ha", "exclusion_backoff"): ("backoff.base", _number(0, 86400)),
    ("hive_ha", "exclusion_backoff_max"): ("backoff.maximum", _number(0, 86400)),
    ("hive_ha", "dead_after"): ("dead_after", _number(0, 86400)),
    ("hive_ha", "probe_interval"): ("probe_interval", _number(0.05, 600)),
    ("hive_ha", "probe_timeout"): ("probe_timeout", _number(0.1, 600)),
    ("hive_ha", "leader_wait"): ("leader_wait", _number(0, 600)),
    ("hive_ha", "debounce"): ("debounce", _number(0, 60)),
    ("hive_ha", "zookeeper_session_timeout"): ("zk.session_timeout", _number(1, 3600)),
    ("hive_ha", "zookeeper_read_only"): ("zk.read_only", _bool),
    ("hive_ha", "zookeeper_auth"): ("zk.auth_scheme", _choice(AUTH_SCHEMES)),
    ("hive_ha", "zookeeper_digest_user"): ("zk.digest_user", _text),
    ("hive_ha", "zookeeper_digest_password"): ("zk.digest_password", _secret),
    ("hive_ha", "zookeeper_sasl_mechanism"): ("zk.sasl_mechanism", _choice(SASL_MECHANISMS, str.upper)),
    ("hive_ha", "zookeeper_sasl_username"): ("zk.sasl_username", _text),
    ("hive_ha", "zookeeper_sasl_password"): ("zk.sasl_password", _secret),
    ("hive_ha", "zookeeper_sasl_principal"): ("zk.sasl_principal", _text),
    ("hive_ha", "zookeeper_kerberos_service"): ("zk.sasl_service", _unset_if_empty),  # wins over principal_name
    ("hive_ha", "kerberos_keytab"): ("zk.kerberos_keytab", _file),
    ("hive_ha", "kerberos_ccache"): ("zk.kerberos_ccache", _text),
    ("hive_ha", "zookeeper_use_ssl"): ("zk.use_ssl", _bool),
    ("hive_ha", "zookeeper_ssl_ca"): ("zk.ssl_ca", _file),
    ("hive_ha", "zookeeper_ssl_cert"): ("zk.ssl_cert", _file),
    ("hive_ha", "zookeeper_ssl_key"): ("zk.ssl_key", _file),
    ("hive_ha", "zookeeper_ssl_key_password"): ("zk.ssl_key_password", _secret),
    ("hive_ha", "zookeeper_ssl_verify"): ("zk.ssl_verify", _bool),
}
SECTIONS = ("beeswax", "libzookeeper", "hive_ha")


def load_config(sources: Union[str, os.PathLike, Mapping, Iterable[Union[str, os.PathLike, Mapping]]]) -> HiveHAConfig:
    """Read one or more ini files (later ones win, as Hue merges its conf dir) or mappings."""
    if isinstance(sources, (str, os.PathLike, Mapping)):
        sources = [sources]
    merged: Dict[str, Dict[str, Any]] = {s: {} for s in SECTIONS}
    kerberos: Dict[str, Any] = {}
    for source in sources:
        for section, values in _read(source).items():
            if section in merged and isinstance(values, Mapping):
                merged[section].update(_flat(values))
            elif section == "desktop" and isinstance(values, Mapping) and isinstance(values.get("kerberos"), Mapping):
                kerberos.update(_flat(values["kerberos"]))  # a Kerberized Hue's hue.ini: [desktop] [[kerberos]]
    return from_sections(merged, HueKerberos.from_keys(kerberos))


def _flat(values: Mapping) -> Dict[str, Any]:
    # configobj splits "a,b" into a list; Hue's coerce_string joins it back, and so do we.
    return {k: ",".join(v) if isinstance(v, list) else v for k, v in values.items() if not isinstance(v, Mapping)}


def from_sections(sections: Mapping[str, Mapping[str, Any]],
                  hue_kerberos: Optional[HueKerberos] = None) -> HiveHAConfig:
    """The validated settings from hue.ini-style sections; ``hue_kerberos``: the Kerberized Hue's own login (its
    ticket is the one hive-ha uses toward ZooKeeper unless the ``[hive_ha]`` keys name another, ``use_hue_ticket``)."""
    top: Dict[str, Any] = {}
    zk: Dict[str, Any] = {}
    backoff: Dict[str, Any] = {}
    targets = {"zk": zk, "backoff": backoff}
    for section in SECTIONS:
        values = sections.get(section) or {}
        for key, value in values.items():
            spec = KEYS.get((section, key))
            if spec is None:
                if section == "hive_ha":
                    raise ConfigError(f"[hive_ha] {key}", "(set)", "a key documented in conf/hive_ha.ini.example")
                continue  # Hue's other keys are none of our business
            field, parse = spec
            where, _, name = field.rpartition(".")
            parsed = parse(section, key, value)
            if parsed is not None:  # None: an empty key that defers to another key or the default
                (targets[where] if where else top)[name] = parsed
    try:
        zk_settings = ZkSettings(**zk)
    except ConfigError as exc:
        raise ConfigError(f"[hive_ha] {exc.key}", exc.value, exc.allowed) from None
    bo = Backoff(**backoff)
    if bo.maximum < bo.base:
        raise ConfigError("[hive_ha] exclusion_backoff_max", bo.maximum, f"at least exclusion_backoff ({bo.base:g})")
    return HiveHAConfig(zookeeper=use_hue_ticket(zk_settings, hue_kerberos), backoff=bo, hue_kerberos=hue_kerberos,
                        **top)


def _read(source: Union[str, os.PathLike, Mapping]) -> Mapping:
    if isinstance(source, Mapping):
        return source
    from configobj import ConfigObj, ConfigObjError

    path = os.fspath(source)
    if not os.path.isfile(path):
        raise ConfigError("config file", path, "an existing, readable ini file")
    try:
        return ConfigObj(path, encoding="utf-8", interpolation=False, file_error=True)
    except (ConfigObjError, OSError) as exc:
        raise ConfigError("config file", path, f"a valid ini file ({exc})") from None
