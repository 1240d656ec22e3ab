"""The admin-only JSON status view, ``/hive_ha/status`` in Hue (see ``urls``)."""
from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from hue_integration import install, status as status_report


def status(request: HttpRequest) -> JsonResponse:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.is_superuser:
        return JsonResponse({"error": "hive-ha status is for Hue administrators only"}, status=403)
    integration = install.active()
    if integration is None:
        return JsonResponse({"enabled": False, "message": "hive-ha is not switched on in hue.ini "
                             "([beeswax] hive_discovery_hs2 / hive_discovery_llap)"}, status=503)
    return JsonResponse(status_report.report(integration))
