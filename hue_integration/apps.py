"""The Django app: setup in ``ready()`` only when hue.ini switches discovery on."""
from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured

from hive_ha.errors import ConfigError


class HiveHAAppConfig(AppConfig):
    name = "hue_integration"
    label = "hive_ha"
    verbose_name = "hive-ha (HiveServer2 high availability)"

    def ready(self) -> None:
        from hue_integration import checks, install, logs

        logs.enable_loggers()
        checks.register()
        try:
            install.install_if_enabled()
        except ConfigError as exc:  # a bad hue.ini value stops start-up with a clear message
            raise ImproperlyConfigured(f"hive-ha: {exc}") from exc
