"""What hive-ha replaces inside Hue, replaced all at once and undone exactly (``touchpoints`` checked it all first).

Hue binds ``get_query_server_config`` and ``reset_ha`` by name in several modules (``from beeswax.server.dbms import
...``, once as ``beeswax_query_server_config``): each binding in a loaded module is a target of its own, found by
looking for Hue's function object in every loaded module (``EveryBinding``). A module imported later binds hive-ha's
function from ``beeswax.server.dbms`` itself.
"""
from __future__ import annotations

import dataclasses
import functools
import importlib
import logging
import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, List, Protocol, Sequence, Tuple, Type, Union

if TYPE_CHECKING:  # pragma: no cover
    from django.urls import URLResolver
    from notebook.connectors.hiveserver2 import HS2Api

    from hue_integration.integration import Integration

log = logging.getLogger(__name__)

DBMS = "beeswax.server.dbms"
#: Hue's functions hive-ha replaces (the ``Integration`` has a method of each name).
REPLACED = ("get_query_server_config", "get", "reset_ha")
#: The editor's connector class whose methods are wrapped (``notebook_api``).
EDITOR_API = ("notebook.connectors.hiveserver2", "HS2Api")
#: Hue's logging set-up (applies log.conf with fileConfig).
LOG_SETUP = ("desktop.log", "basic_logging")
#: Where hive-ha's pages live in Hue: ``/hive_ha/status``.
URL_PREFIX = "hive_ha"


class Patch(Protocol):
    def apply(self) -> None:
        ...

    def undo(self) -> None:
        ...


@dataclasses.dataclass(frozen=True)
class Replacement:
    """``module.attribute`` (or ``module.Class.attribute``) is set to ``new`` while installed. The undo leaves alone
    a target somebody else replaced after us (theirs wins; ours is gone from their chain anyway)."""

    owner: Union[ModuleType, type]
    attribute: str
    original: object
    new: object

    def apply(self) -> None:
        setattr(self.owner, self.attribute, self.new)

    def undo(self) -> None:
        if _own_attribute(self.owner, self.attribute) is self.new:
            setattr(self.owner, self.attribute, self.original)


@dataclasses.dataclass(frozen=True)
class EveryBinding:
    """Every module-level name bound to Hue's function ``original`` in the loaded modules (its own module's, and each
    copy imported by name, under any name) is set to ``new`` while installed. The undo puts ``original`` back wherever
    ``new`` is bound then (also in modules imported meanwhile, which bound ``new``), and leaves alone a binding
    somebody else replaced after us."""

    original: object
    new: object

    def apply(self) -> None:
        found = bindings(self.original)
        for module, name in found:
            setattr(module, name, self.new)
        log.debug("hive-ha: %s replaced in %s", getattr(self.original, "__qualname__", self.original),
                  ", ".join(f"{module.__name__}.{name}" for module, name in found))

    def undo(self) -> None:
        for module, name in bindings(self.new):
            setattr(module, name, self.original)


def bindings(value: object) -> List[Tuple[ModuleType, str]]:
    """Every ``(module, name)`` of a loaded module whose global ``name`` is ``value``."""
    found = []
    for module in list(sys.modules.values()):
        if not isinstance(module, ModuleType):
            continue
        try:  # not through the module's own attribute lookup: a lazy module would load itself
            namespace = object.__getattribute__(module, "__dict__")
        except AttributeError:
            continue
        found.extend((module, name) for name, bound in list(namespace.items()) if bound is value)
    return found


@dataclasses.dataclass(frozen=True)
class UrlMount:
    """hive-ha's pages in Hue's root URLconf, ahead of Hue's catch-all ``^hue.*`` (which would otherwise answer
    every ``/hue_integration/...`` URL with the single-page app)."""

    urlconf: ModuleType
    pattern: URLResolver

    def apply(self) -> None:
        from django.urls import clear_url_caches

        self.urlconf.urlpatterns.insert(0, self.pattern)
        clear_url_caches()

    def undo(self) -> None:
        from django.urls import clear_url_caches

        if self.pattern in self.urlconf.urlpatterns:
            self.urlconf.urlpatterns.remove(self.pattern)
        clear_url_caches()


class Patches:
    """Patches applied together (all or none) and undone in reverse order."""

    def __init__(self) -> None:
        self._applied: List[Patch] = []

    def apply(self, patches: Sequence[Patch]) -> None:
        try:
            for patch in patches:
                patch.apply()
                self._applied.append(patch)
        except BaseException:
            self.undo()
            raise

    def undo(self) -> None:
        while self._applied:
            self._applied.pop().undo()


def replacements(integration: Integration, after_log_setup: Callable[[], None]) -> List[Patch]:
    """Hue's three functions everywhere they are bound, Hue's log set-up followed by ``after_log_setup``, and the
    status page's URLs (the editor's methods: ``notebook_api.replacements``)."""
    dbms = importlib.import_module(DBMS)
    out: List[Patch] = [EveryBinding(getattr(dbms, name), getattr(integration, name)) for name in REPLACED]
    return out + [log_setup(after_log_setup), url_mount()]


def editor_api() -> Type[HS2Api]:
    return getattr(importlib.import_module(EDITOR_API[0]), EDITOR_API[1])


def log_setup(after: Callable[[], None]) -> Replacement:
    """Hue's ``desktop.log.basic_logging``, followed by ``after``: Hue runs it again when its gunicorn server starts
    (after ``ready()``), and its ``fileConfig`` disables every logger its log.conf does not name."""
    module = importlib.import_module(LOG_SETUP[0])
    original = getattr(module, LOG_SETUP[1])

    def basic_logging(*args: Any, **kwargs: Any) -> Any:  # Hue's arguments and result, passed through
        try:
            return original(*args, **kwargs)
        finally:
            after()

    return Replacement(module, LOG_SETUP[1], original, functools.wraps(original)(basic_logging))


def url_mount() -> UrlMount:
    """The status page under ``/hive_ha/`` in Hue's root URLconf."""
    from django.conf import settings
    from django.urls import include, re_path

    urlconf = importlib.import_module(settings.ROOT_URLCONF)
    return UrlMount(urlconf, re_path(r"^%s/" % URL_PREFIX, include(("hue_integration.urls", URL_PREFIX))))


def _own_attribute(owner: Union[ModuleType, type], attribute: str) -> object:
    return owner.__dict__.get(attribute) if isinstance(owner, type) else getattr(owner, attribute, None)
