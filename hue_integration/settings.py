"""Hue app settings, read by Hue's ``desktop.appmanager`` (not Django settings)."""
DJANGO_APPS = ["hue_integration"]
NICE_NAME = "hive-ha"
CONFIG_KEY = "hive_ha"
MENU_INDEX = 999
REQUIRES_HADOOP = False
IS_URL_NAMESPACED = True
