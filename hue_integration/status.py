"""What the admin status view and the system checks report: a JSON-ready picture of the integration."""
from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Dict, List

if TYPE_CHECKING:  # pragma: no cover
    from hue_integration.integration import Integration


def report(integration: Integration) -> Dict[str, object]:
    """Endpoint in use per service, all discovered, each registration's health (up, suspect, dead: since when and on
    what evidence) and its last probe, ZooKeeper state, recent failovers with timestamps. No secrets: ZooKeeper
    credentials are never included."""
    discovery = integration.discovery
    state = discovery.status()
    settings = discovery.settings
    probes = {(p["service"], p["address"], p["znode"]): p for p in state["probes"]}
    services: List[Dict[str, object]] = []
    for entry in state["services"]:
        servers = []
        for server in entry["servers"]:
            probe = probes.get((entry["service"], server["address"], server["znode"]))
            servers.append(dict(server, last_probe=None if probe is None else {
                "evidence": probe["evidence"], "ms": round(probe["seconds"] * 1000, 1), "at": _iso(probe["at"]),
                "detail": probe["detail"]}))
        services.append({
            "service": entry["service"],
            "path": entry["path"],
            "in_use": entry["chosen"],
            "users_placed": entry["users"],
            "stale": entry["stale"],
            "reselections": entry["generation"],
            "endpoints": entry["endpoints"],
            "servers": servers,
            "malformed": entry["malformed"],
        })
    return {
        "enabled": True,
        "policy": type(discovery.cache.policy).__name__,
        "zookeeper": {
            "hosts": settings.hosts,
            "state": state["zookeeper"]["state"],
            "auth": settings.auth_scheme,
            "tls": settings.use_ssl,
        },
        "services": services,
        "failovers": [dict(f, at=_iso(f["at"])) for f in reversed(state["failovers"])],
        "lookups": integration.lookups(),
    }


def _iso(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).isoformat(timespec="milliseconds")
