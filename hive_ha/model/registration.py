"""Pure parsing of Hive registrations: (znode path, name, data) -> ``Endpoint``.

Nothing here does I/O. Every function either returns a fully validated ``Endpoint`` or raises
``MalformedRegistration``; no other exception escapes (the property tests hold us to that).
"""
from __future__ import annotations

import json
import re
from typing import Dict, Mapping, NamedTuple, Optional, Tuple

from hive_ha.errors import MalformedRegistration
from hive_ha.model.addressing import DEFAULT_HTTP_PATH, resolve_principal
from hive_ha.model.endpoint import Endpoint
from hive_ha.model.layouts import RecordFormat
from hive_ha.model.values import (HIVE_BOOLEANS, HTTP_PATH_RE, PRINCIPAL_RE, Authentication, Qop, TransportMode,
                                  as_bool, split_hostport, validate_host, validate_port)

# Keys Hive publishes (HiveServer2.getConfsToPublish / HS2ActivePassiveHARegistry).
BIND_HOST = "hive.server2.thrift.bind.host"
INSTANCE_URI = "hive.server2.instance.uri"
TRANSPORT_MODE = "hive.server2.transport.mode"
AUTHENTICATION = "hive.server2.authentication"
USE_SSL = "hive.server2.use.SSL"
THRIFT_PORT = "hive.server2.thrift.port"
HTTP_PORT = "hive.server2.thrift.http.port"
HTTP_PATH = "hive.server2.thrift.http.path"
SASL_QOP = "hive.server2.thrift.sasl.qop"
PRINCIPAL = "hive.server2.authentication.kerberos.principal"

ACTIVE_API = "activeEndpoint"
PASSIVE_API = "passiveEndpoint"

_MAX_DATA = 1 << 20  # ZooKeeper's own jute.maxbuffer default; anything bigger is not a registration
_WILDCARDS = {"", "0.0.0.0", "::", "*"}
_AUTH = re.compile(r"[A-Z][A-Z0-9_]{0,31}")
_SEQUENCE = re.compile(r"-?[0-9]{1,10}")
_VERSION = re.compile(r"[A-Za-z0-9._+-]{1,128}")
_INSTANCE = re.compile(r"instance-(-?[0-9]{1,10})")


class NameInfo(NamedTuple):
    """What an HS2/Kyuubi znode name carries."""

    host: str
    port: int
    version: Optional[str]
    sequence: Optional[int]


def parse_znode_name(name: str, znode: str = "") -> NameInfo:
    """Read ``serverUri=h:p;version=v;sequence=n`` (HiveServer2) or ``serviceUri=...`` (Kyuubi)."""
    znode = znode or name
    fields: Dict[str, str] = {}
    for token in name.split(";"):
        key, sep, value = token.partition("=")
        if not sep:
            raise MalformedRegistration(znode, f"name part {token!r} is not key=value")
        fields[key] = value
    uri = fields.get("serverUri", fields.get("serviceUri"))
    if uri is None:
        raise MalformedRegistration(znode, "name has no serverUri= (HiveServer2) or serviceUri= (Kyuubi)")
    try:
        host, port = split_hostport(uri)
    except ValueError as exc:
        raise MalformedRegistration(znode, f"bad server URI in name: {exc}") from None
    version = fields.get("version") or None
    if version is not None and not _VERSION.fullmatch(version):
        raise MalformedRegistration(znode, f"bad version {version!r}")
    sequence = _parse_sequence(fields.get("sequence"), znode)
    return NameInfo(host, port, version, sequence)


def parse_config_string(text: str, znode: str = "") -> Dict[str, str]:
    """Split Hive's published-config data ``k=v;k=v`` (order not guaranteed) into a dict."""
    config: Dict[str, str] = {}
    for token in text.split(";"):
        if not token.strip():
            continue
        key, sep, value = token.partition("=")
        key = key.strip()
        if not sep or not key:
            raise MalformedRegistration(znode, f"data part {token!r} is not key=value")
        config[key] = value.strip()
    return config


def parse_registration(record: RecordFormat, parent: str, name: str, data: Optional[bytes]) -> Endpoint:
    """Parse one child of a layout's registry path, in the layout's record format."""
    if record is RecordFormat.SERVICE_RECORD:
        return endpoint_from_service_record(parent, name, data)
    return endpoint_from_znode(parent, name, data)


def endpoint_from_znode(parent: str, name: str, data: Optional[bytes]) -> Endpoint:
    """An HS2 / HSI / Kyuubi dynamic-discovery registration: name plus published-config or legacy data."""
    znode = _join(parent, name)
    info = parse_znode_name(name, znode)
    text = _decode(data, znode)
    if "=" in text:
        return _from_config(znode, parse_config_string(text, znode), info)
    if text.strip():  # legacy form (hive.server2.zookeeper.publish.configs=false): "host:port"
        try:
            host, port = split_hostport(text)
        except ValueError as exc:
            raise MalformedRegistration(znode, f"bad host:port data: {exc}") from None
        return Endpoint(host=host, port=port, znode=znode, version=info.version, sequence=info.sequence,
                        address_only=True)
    return Endpoint(host=info.host, port=info.port, znode=znode, version=info.version, sequence=info.sequence,
                    address_only=True)


def endpoint_from_service_record(parent: str, name: str, data: Optional[bytes]) -> Endpoint:
    """An Active/Passive HA instance: a Hadoop registry ServiceRecord (JSON)."""
    znode = _join(parent, name)
    m = _INSTANCE.fullmatch(name)
    sequence = _parse_sequence(m.group(1), znode) if m else None
    text = _decode(data, znode)
    try:
        record = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise MalformedRegistration(znode, f"data is not JSON: {exc}") from None
    if not isinstance(record, dict):
        raise MalformedRegistration(znode, "service record is not a JSON object")
    api, address = _service_record_endpoint(record, znode)
    flat = {k: v for k, v in record.items() if isinstance(k, str) and isinstance(v, str)}
    try:
        host = validate_host(address.get("host"))
        port = validate_port(address.get("port"))
    except ValueError as exc:
        raise MalformedRegistration(znode, f"bad {api} address: {exc}") from None
    return _from_config(znode, flat, NameInfo(host, port, None, sequence), active=api == ACTIVE_API)


def _service_record_endpoint(record: Mapping, znode: str) -> Tuple[str, Mapping]:
    internal = record.get("internal")
    if not isinstance(internal, list):
        raise MalformedRegistration(znode, "service record has no 'internal' endpoint list")
    found = [e for e in internal if isinstance(e, dict) and e.get("api") in (ACTIVE_API, PASSIVE_API)]
    apis = {e["api"] for e in found}
    if not found:
        raise MalformedRegistration(znode, "service record has neither an activeEndpoint nor a passiveEndpoint")
    if len(apis) > 1:
        raise MalformedRegistration(znode, "service record carries both an activeEndpoint and a passiveEndpoint")
    entry = found[0]
    addresses = entry.get("addresses")
    if not isinstance(addresses, list) or not addresses or not isinstance(addresses[0], dict):
        raise MalformedRegistration(znode, f"{entry['api']} has no address")
    return entry["api"], addresses[0]


def _from_config(znode: str, config: Mapping[str, str], info: NameInfo, active: Optional[bool] = None) -> Endpoint:
    """Apply published settings the way the Hive JDBC driver does: published host/port win over the name."""
    try:
        host = info.host
        uri = config.get(INSTANCE_URI, "")
        if uri:
            host = split_hostport(uri)[0]
        bind = config.get(BIND_HOST, "")
        if bind not in _WILDCARDS:
            host = validate_host(bind)
        mode = TransportMode.find(config.get(TRANSPORT_MODE, TransportMode.BINARY))
        if mode is None:
            raise ValueError(f"transport mode {config[TRANSPORT_MODE].lower()!r} is not binary, http or all")
        http_port = validate_port(config[HTTP_PORT]) if config.get(HTTP_PORT) else None
        if mode is TransportMode.HTTP:
            port = http_port = http_port or info.port
        else:
            port = validate_port(config[THRIFT_PORT]) if config.get(THRIFT_PORT) else info.port
        http_path = config.get(HTTP_PATH) or DEFAULT_HTTP_PATH
        if not HTTP_PATH_RE.fullmatch(http_path):
            raise ValueError(f"http path {http_path!r} has characters a URL path cannot carry")
        auth = (config.get(AUTHENTICATION) or Authentication.NONE).upper()
        if not _AUTH.fullmatch(auth):
            raise ValueError(f"authentication {auth!r} is not a Hive authentication mode")
        qop_text = config.get(SASL_QOP) or None
        qop = Qop.find(qop_text)
        if qop_text is not None and qop is None:
            raise ValueError(f"sasl qop {qop_text!r} is not one of {Qop.spelled()}")
        principal = config.get(PRINCIPAL) or None
        if principal is not None and not PRINCIPAL_RE.fullmatch(principal):
            raise ValueError(f"Kerberos principal {principal!r} has invalid characters")
        use_ssl = as_bool(config.get(USE_SSL, "false"), HIVE_BOOLEANS)
        if use_ssl is None:
            raise ValueError(f"{USE_SSL}={config[USE_SSL]!r} is not true or false")
    except ValueError as exc:
        raise MalformedRegistration(znode, str(exc)) from None
    return Endpoint(
        host=host,
        port=port,
        znode=znode,
        transport_mode=mode,
        http_port=http_port,
        http_path=http_path.lstrip("/"),
        use_ssl=use_ssl,
        authentication=Authentication.find(auth) or auth,  # a mode Hive may add later is kept as published
        sasl_qop=qop,
        principal=resolve_principal(principal, host),
        version=info.version,
        sequence=info.sequence,
        active=active,
    )


def _parse_sequence(value: Optional[str], znode: str) -> Optional[int]:
    if value is None or value == "":
        return None
    if not _SEQUENCE.fullmatch(value):
        raise MalformedRegistration(znode, f"bad sequence {value!r}")
    return int(value)


def _decode(data: Optional[bytes], znode: str) -> str:
    if data is None:
        return ""
    if not isinstance(data, (bytes, bytearray)):
        raise MalformedRegistration(znode, "data is not bytes")
    if len(data) > _MAX_DATA:
        raise MalformedRegistration(znode, f"data is {len(data)} bytes, too large for a registration")
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedRegistration(znode, f"data is not UTF-8: {exc}") from None
    return text  # no blanket character filter: every field used is validated on its own


def _join(parent: str, name: str) -> str:
    return parent.rstrip("/") + "/" + name
