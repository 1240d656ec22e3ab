"""The app's registration with Hue, read by Hue's ``desktop.appmanager`` (Hue's name for it; neither Django settings
nor hive-ha's: those are read by ``hue_config``)."""
DJANGO_APPS = ["hue_integration"]
NICE_NAME = "hive-ha"
CONFIG_KEY = "hive_ha"
MENU_INDEX = 999
REQUIRES_HADOOP = False
IS_URL_NAMESPACED = True
