"""Django settings for tests against the Hue stand-in (tests/hue411).

A sqlite file (as Hue's default ``desktop.db``; a file, not ``:memory:``, so that threads of one test can
write concurrently and wait for each other's locks), the ``beeswax`` app, ``hue_integration`` when it is importable, and the ``hive_discovery``
LocMemCache Hue's desktop.settings defines (same key and backend; no TIMEOUT, so Django's default 300 s applies,
as in Hue). Like Hue's desktop.settings, this module also binds the conf modules of the libs and apps to the
configuration data (here the in-memory ``desktop.lib.conf._TEST_CONF_DATA``), using an app's
``settings.CONFIG_KEY`` as its section name when it has one.
"""
import importlib
import importlib.util
import os
import tempfile

from desktop.lib.conf import _bind_for_tests
from desktop.settings import CACHES_HIVE_DISCOVERY_KEY

SECRET_KEY = 'hue411-test-settings-not-secret'
USE_TZ = True
DEFAULT_AUTO_FIELD = 'django.db.models.AutoField'

_HUE_APPS = ['beeswax']
if importlib.util.find_spec('hue_integration') is not None:
    _HUE_APPS.append('hue_integration')

INSTALLED_APPS = ['django.contrib.auth', 'django.contrib.contenttypes'] + _HUE_APPS

DATABASES = {'default': {
    'ENGINE': 'django.db.backends.sqlite3',
    'NAME': ':memory:',
    # pytest-django creates and deletes the test database; one file per test process.
    'TEST': {'NAME': os.path.join(tempfile.gettempdir(), 'hue411-test-%d.sqlite3' % os.getpid())},
    'OPTIONS': {'timeout': 60},
}}

CACHES = {
    'default': {'BACKEND': 'django.core.cache.backends.locmem.LocMemCache', 'LOCATION': 'default'},
    CACHES_HIVE_DISCOVERY_KEY: {
        'BACKEND': 'django.core.cache.backends.locmem.LocMemCache',
        'LOCATION': CACHES_HIVE_DISCOVERY_KEY,
    },
}


def _bind_hue_confs():
    """Hue's start-up: desktop's conf as [desktop], each lib's conf under its name, each app's under CONFIG_KEY."""
    _bind_for_tests(importlib.import_module('desktop.conf'), 'desktop')
    _bind_for_tests(importlib.import_module('libzookeeper.conf'))
    for app in _HUE_APPS:
        if importlib.util.find_spec(app + '.conf') is None:
            continue
        app_settings = importlib.import_module(app + '.settings') if importlib.util.find_spec(app + '.settings') \
            else None
        _bind_for_tests(importlib.import_module(app + '.conf'), getattr(app_settings, 'CONFIG_KEY', None))


_bind_hue_confs()
