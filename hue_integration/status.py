"""What the admin status view and the system checks report: a JSON-ready picture of the integration."""
from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Dict, List

if TYPE_CHECKING:  # pragma: no cover
    from hue_integration.integration import Integration


def report(integration: Integration) -> Dict[str, object]:
    """Endpoint in use per service, all discovered, excluded ones with time left, ZooKeeper state,
    recent failovers with timestamps. No secrets: ZooKeeper credentials are never included."""
    discovery = integration.discovery
    state = discovery.status()
    settings = discovery.settings
    services: List[Dict[str, object]] = []
    for entry in state["services"]:
        services.append({
            "service": entry["service"],
            "path": entry["path"],
            "in_use": entry["chosen"],
            "users_placed": entry["users"],
            "stale": entry["stale"],
            "reselections": entry["generation"],
            "endpoints": entry["endpoints"],
            "excluded": [{"address": a, "seconds_left": left} for a, left in sorted(entry["excluded"].items())],
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
