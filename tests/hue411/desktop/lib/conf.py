"""Stand-in for Hue's configuration framework, ``desktop/core/src/desktop/lib/conf.py``.

Reproduced: ``Config`` (key, default, dynamic_default, required, help, type, private, secret and Hue's
constructor checks), ``ConfigSection`` (members reached as attributes), ``BoundConfig`` with ``get()`` (reads
the bound dict on every call, so changes show at once), ``get_raw()`` and ``set_for_testing(data=None,
present=True)`` returning the undo callable, ``bind_module_config`` (turns a conf module's ``Config`` objects into
``BoundConfig`` objects, as Hue does at start-up), ``coerce_bool``, ``coerce_string``, ``coerce_csv``.

Not reproduced: hue.ini loading (``load_confs``/``initialize``), help printing, validators,
``UnspecifiedConfigSection``. Instead ``hue_test_settings`` (standing for Hue's desktop.settings start-up) binds
every conf module with ``_bind_for_tests(module, config_key)`` to the in-memory ``_TEST_CONF_DATA`` (one dict per
section, like the parsed hue.ini).
"""
import logging
import numbers

LOG = logging.getLogger()

_ANONYMOUS = "_ANONYMOUS"

# The parsed "hue.ini" of this test process: {section: {key: raw value}}. Filled only by set_for_testing().
_TEST_CONF_DATA = {}

pytype = type

__all__ = ["ConfigSection", "Config", "BoundConfig", "bind_module_config", "coerce_bool", "coerce_string", "coerce_csv"]


class BoundConfig(object):
    """A Config bound to one dict (``bind_to``) under one key (``grab_key``)."""

    def __init__(self, config, bind_to, grab_key=_ANONYMOUS, prefix=""):
        self.config = config
        self.bind_to = bind_to
        self.grab_key = grab_key
        self.prefix = prefix

    def get_fully_qualifying_key(self):
        key = self.prefix
        if self.config.key is not _ANONYMOUS:
            key += "." + self.config.key if self.prefix else self.config.key
        return key

    def _get_data_and_presence(self):
        if self.grab_key is _ANONYMOUS:
            return self.bind_to, True
        return self.bind_to.get(self.grab_key), self.grab_key in self.bind_to

    def get(self):
        """The value (coerced by the Config's type), or the default when the key is absent."""
        data, present = self._get_data_and_presence()
        return self.config.get_value(data, present=present, prefix=self.prefix, coerce_type=True)

    def get_raw(self):
        data, present = self._get_data_and_presence()
        return self.config.get_value(data, present=present, prefix=self.prefix, coerce_type=False)

    def set_for_testing(self, data=None, present=True):
        """Set the raw value (``present=False``: remove it, so the default applies); return the undo callable."""
        assert self.grab_key is not _ANONYMOUS
        old_data = self.bind_to.get(self.grab_key)
        old_presence = self.grab_key in self.bind_to

        def apply(value, presence):
            self.bind_to[self.grab_key] = value
            if not presence:
                del self.bind_to[self.grab_key]

        apply(data, present)
        return lambda: apply(old_data, old_presence)

    def __repr__(self):
        return "%s(config=%r, bind_to=%r, grab_key=%r)" % (self.__class__.__name__, self.config, self.bind_to,
                                                         self.grab_key)


class Config(object):
    """One hue.ini key: ``Config(key, default=None, dynamic_default=None, required=False, help=None, type=str,
    private=False, secret=False)``."""

    def __init__(self, key=_ANONYMOUS, default=None, dynamic_default=None, required=False, help=None, type=str,
                 private=False, secret=False):
        if not callable(type):
            raise ValueError("%s: The type argument '%s()' is not callable" % (key, type))
        if default is not None and dynamic_default is not None:
            raise ValueError("Cannot specify both dynamic_default and default for key %s" % key)
        if dynamic_default is not None and not dynamic_default.__doc__ and not private:
            raise ValueError("Dynamic default '%s' must have __doc__ defined!" % (key,))
        if (isinstance(default, numbers.Number) or pytype(default) is bool) and \
                not isinstance(type(default), pytype(default)):
            raise ValueError("%s: '%s' does not match that of the default value %r (%s)" % (key, type, default,
                                                                                             pytype(default)))
        if type is bool:
            LOG.warning("%s is of type bool. Resetting it as type 'coerce_bool'. Please fix it permanently" % (key,))
            type = coerce_bool

        self.key = key
        self.default_value = default
        self.dynamic_default = dynamic_default
        self.required = required
        self.help = help
        self.type = type
        self.private = private
        self.secret = secret
        assert not (self.required and self.default), "Config cannot be required if it has a default."

    def bind(self, conf, prefix):
        return BoundConfig(config=self, bind_to=conf, grab_key=self.key, prefix=prefix)

    def get_value(self, val, present, prefix=None, coerce_type=True):
        if self.required and not present:
            raise KeyError("Configuration key %s not in configuration!" % self.key)
        raw_val = val if present else self.default
        return self._coerce_type(raw_val, prefix) if coerce_type else raw_val

    def _coerce_type(self, raw, _):
        return None if raw is None else self.type(raw)

    @property
    def default(self):
        """The static default, or the dynamic default computed now (Hue re-evaluates it on every read)."""
        if self.dynamic_default is not None:
            return self.dynamic_default()
        return self.default_value


class BoundContainer(BoundConfig):
    """A ConfigSection bound to data."""

    def __contains__(self, item):
        return self.get().__contains__(item)

    def __iter__(self):
        return self.get().__iter__()

    def __len__(self):
        return len(self.get())

    def get_data_dict(self):
        data, present = self._get_data_and_presence()
        if present:
            return data
        assert self.grab_key is not _ANONYMOUS
        return self.bind_to.setdefault(self.grab_key, {})

    def keys(self):
        return list(self.get_data_dict().keys())


class BoundContainerWithGetAttr(BoundContainer):
    """Members of a bound ConfigSection are reached as attributes (``SSL.CACERTS``)."""

    def __getattr__(self, attr):
        return self.config.get_member(self.get_data_dict(), attr, self.prefix)


class ConfigSection(Config):
    """A [[section]] whose members are known: ``ConfigSection(key, help=..., members=dict(NAME=Config(...)))``."""

    def __init__(self, key=_ANONYMOUS, members=None, **kwargs):
        super(ConfigSection, self).__init__(key, default={}, **kwargs)
        self.members = members or {}
        for member in self.members.values():
            assert member.key is not _ANONYMOUS

    def bind(self, config, prefix):
        return BoundContainerWithGetAttr(self, bind_to=config, grab_key=self.key, prefix=prefix)

    def _coerce_type(self, raw, prefix=""):
        return dict((key, self.get_member(raw, key, prefix)) for key in self.members.keys())

    def get_member(self, data, attr, prefix):
        if self.key is not _ANONYMOUS:
            prefix += "." + self.key if prefix else self.key
        return self.members[attr].bind(data, prefix)


def _bind_module_members(module, data, section):
    members = {}
    for key, val in list(module.__dict__.items()):
        if isinstance(val, Config):
            members[key] = val
            module.__dict__[key] = val.bind(data, prefix=section)
    return members


def bind_module_config(mod, conf_data, config_key):
    """Replace the module's Config objects by BoundConfig objects bound to ``conf_data[section]``; the section is
    ``mod.CONFIGURATION_SECTION``, else the module name without ``.conf`` (or ``config_key`` when given)."""
    if hasattr(mod, "CONFIGURATION_SECTION"):
        section = mod.CONFIGURATION_SECTION
    elif mod.__name__.endswith(".conf"):
        section = mod.__name__[:-len(".conf")]
    else:
        section = mod.__name__
    if config_key is None:
        bind_data = conf_data.get(section, {})
    else:
        section = config_key
        bind_data = conf_data.get(config_key, {})
    members = _bind_module_members(mod, bind_data, section)
    return ConfigSection(section, members=members, help=mod.__doc__)


def _bind_for_tests(mod, config_key=None):
    """Test-only: what Hue's start-up (``conf.initialize``) does for one conf module, against ``_TEST_CONF_DATA``.
    Binding an already bound module changes nothing."""
    section = config_key or (mod.__name__[:-len(".conf")] if mod.__name__.endswith(".conf") else mod.__name__)
    _TEST_CONF_DATA.setdefault(section, {})
    return bind_module_config(mod, _TEST_CONF_DATA, config_key)


def coerce_bool(value):
    if isinstance(value, bool):
        return value
    upper = value.upper() if isinstance(value, str) else value
    if upper in ("FALSE", "0", "NO", "OFF", "NAY", "", None):
        return False
    if upper in ("TRUE", "1", "YES", "ON", "YEA"):
        return True
    raise Exception("Could not coerce %r to boolean value" % (value,))


def coerce_string(value):
    if type(value) is list:
        return ",".join(value)
    return value


def coerce_csv(value):
    if isinstance(value, str):
        return value.split(",")
    if isinstance(value, list):
        return value
    raise Exception("Could not coerce %r to csv array." % value)
