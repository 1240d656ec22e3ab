"""What the admin status view and the system checks report: a JSON-ready picture of the integration."""
from __future__ import annotations

import datetime
import os
import time
from typing import TYPE_CHECKING, Dict, List, Optional

from hive_ha.io.zookeeper import ticket_in_use

if TYPE_CHECKING:  # pragma: no cover
    from hue_integration.integration import Integration


def report(integration: Integration) -> Dict[str, object]:
    """Endpoint in use per service, all discovered, each registration's health (up, suspect, dead: since when and on
    what evidence) and its last probe, ZooKeeper state, the Kerberos ticket in use, recent failovers with timestamps.
    No secrets: ZooKeeper credentials, keytabs (contents or paths) and ticket-cache paths are never included."""
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
        "process": os.getpid(),  # every Hue worker process has its own choices and health (one view per process)
        "policy": type(discovery.cache.policy).__name__,
        "zookeeper": {
            "hosts": settings.hosts,
            "state": state["zookeeper"]["state"],
            "auth": settings.auth_scheme,
            "tls": settings.use_ssl,
            "kerberos": kerberos(integration),
        },
        "services": services,
        "failovers": [dict(f, at=_iso(f["at"])) for f in reversed(state["failovers"])],
        "lookups": integration.lookups(),
    }


def kerberos(integration: Integration, now: Optional[float] = None) -> Optional[Dict[str, object]]:
    """The ticket hive-ha's ZooKeeper client uses (None without GSSAPI): whose it is and who renews it, its principal,
    when it expires and when it was last renewed, and what is wrong with it, if anything."""
    state = ticket_in_use(integration.discovery.settings, integration.config.hue_kerberos)
    if state is None:
        return None
    now = time.time() if now is None else now
    out: Dict[str, object] = {
        "source": state.source,
        "renewed_by": state.renewed_by,
        "principal": state.principal or state.expected,
        "ticket_expires": _iso(state.ends) if state.ends else None,
        "expires_in_seconds": round(state.ends - now) if state.ends else None,
        "last_renewal": _iso(state.starts) if state.starts else None,
        "problem": state.problem,
    }
    if state.renewer is not None:
        renewer = dict(state.renewer)
        for key in ("last_renewal", "next_renewal"):
            renewer[key] = _iso(renewer[key]) if renewer[key] else None
        out["hive_ha_renewer"] = renewer
    return out


def _iso(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).isoformat(timespec="milliseconds")
