"""URLs of the app; Hue mounts them under ``/hue_integration/`` (its module name), namespaced."""
from django.urls import path

from . import views

app_name = "hue_integration"
urlpatterns = [
    path("status", views.status, name="status"),
]
