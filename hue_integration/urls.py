"""hive-ha's pages. Hue would mount them under ``/hue_integration/`` (its module name), but its catch-all ``^hue.*``
comes first and serves the single-page app there; so the install mounts them at ``/hive_ha/`` (``targets.UrlMount``)."""
from django.urls import path

from hue_integration import views

app_name = "hive_ha"
urlpatterns = [
    path("status", views.status, name="status"),
]
