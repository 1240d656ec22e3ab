"""The one version string: ``setup.py`` reads it from here, and ``hive_ha.__version__`` is it."""
__version__ = "0.1.0"
