"""What hive-ha replaces inside Hue, checked before anything is touched, replaced all at once and undone exactly.

Hue binds ``get_query_server_config`` and ``reset_ha`` by name in several modules (``from beeswax.server.dbms import
...``), so each copy is a target of its own. A target that is missing, or holds something other than Hue's own
function (another plugin patched it, or Hue changed), is a *problem*: with any problem nothing is installed and the
Django system check ``hive_ha.E001`` names every problem with the Hue version, so Hue never runs half-integrated.
"""
from __future__ import annotations

import dataclasses
import functools
import importlib
import logging
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Protocol, Sequence, Type, Union

if TYPE_CHECKING:  # pragma: no cover
    from beeswax.server.dbms import HiveServer2Dbms
    from django.urls import URLResolver
    from notebook.connectors.hiveserver2 import HS2Api
    from TCLIService.TCLIService import Client as TCLIServiceClient

    from hue_integration.hue_types import QueryServerConfig

log = logging.getLogger(__name__)

DBMS = "beeswax.server.dbms"
#: Modules that bound Hue's functions by name, and the Django app each belongs to (a module of an app Hue does not
#: load is skipped: nothing of it runs).
GET_QUERY_SERVER_CONFIG_COPIES: Dict[str, str] = {
    "notebook.connectors.hiveserver2": "notebook",
    "notebook.connectors.hive_metastore": "notebook",
    "beeswax.api": "beeswax",
    "beeswax.views": "beeswax",
    "beeswax.query_history": "beeswax",
    "metastore.views": "metastore",
    "impala.models": "impala",
    "beeswax.management.commands.create_table_query_data": "beeswax",
}
RESET_HA_COPIES: Dict[str, str] = {
    "beeswax.server.hive_server2_lib": "beeswax",
    "notebook.connectors.hiveserver2": "notebook",
}
NOTEBOOK_API = ("notebook.connectors.hiveserver2", "HS2Api")
#: Hue's logging set-up (applies log.conf with fileConfig).
LOG_SETUP = ("desktop.log", "basic_logging")
#: Where hive-ha's pages live in Hue: ``/hive_ha/status``.
URL_PREFIX = "hive_ha"
#: The generated Thrift client Hue's HiveServer2 client talks through (``hive_server2_lib.TCLIService.Client``).
THRIFT_CLIENT = ("beeswax.server.hive_server2_lib", "TCLIService")


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


class Patch(Protocol):
    def apply(self) -> None:
        ...

    def undo(self) -> None:
        ...


class Patches:
    """Patches applied together and undone in reverse order."""

    def __init__(self) -> None:
        self._applied: List[Patch] = []

    def apply(self, patches: Sequence[Patch]) -> None:
        for patch in patches:
            patch.apply()
            self._applied.append(patch)

    def undo(self) -> None:
        while self._applied:
            self._applied.pop().undo()


def hue_version() -> str:
    try:
        from django.conf import settings

        return str(getattr(settings, "HUE_DESKTOP_VERSION", "unknown"))
    except Exception:  # noqa: BLE001 - only used in messages
        return "unknown"


class Plan:
    """Reads Hue's current functions and says what would be replaced, or why it cannot be."""

    def __init__(self, installed_apps: Optional[List[str]] = None) -> None:
        self.problems: List[str] = []
        self.skipped: List[str] = []
        self._apps = installed_apps
        self.dbms = self._module(DBMS, app="beeswax")
        self.originals: Dict[str, Callable[..., Any]] = {}  # Hue's functions, each as found
        if self.dbms is not None:
            for name in ("get_query_server_config", "get", "reset_ha"):
                function = getattr(self.dbms, name, None)
                if function is None:
                    self.problem(f"{DBMS}.{name} is missing")
                elif getattr(function, "__module__", None) != DBMS:
                    self.problem(f"{DBMS}.{name} is not Hue's original (it comes from "
                                  f"{getattr(function, '__module__', '?')}: another plugin replaced it)")
                else:
                    self.originals[name] = function

    def replacements(self, get_query_server_config: Callable[..., QueryServerConfig],
                     get: Callable[..., HiveServer2Dbms], reset_ha: Callable[[], None]) -> List[Replacement]:
        out: List[Replacement] = []
        if self.dbms is None or len(self.originals) < 3:
            return out
        new: Dict[str, Callable[..., object]] = {"get_query_server_config": get_query_server_config, "get": get,
                                                 "reset_ha": reset_ha}
        for name, function in new.items():
            out.append(Replacement(self.dbms, name, self.originals[name], function))
        copies_of = {"get_query_server_config": GET_QUERY_SERVER_CONFIG_COPIES, "reset_ha": RESET_HA_COPIES}
        for name, copies in copies_of.items():
            for module_name, app in copies.items():
                module = self._module(module_name, app)
                if module is None:
                    continue
                bound = getattr(module, name, None)
                if bound is None:
                    self.problem(f"{module_name}.{name} is missing (Hue binds it there by name)")
                elif bound is not self.originals[name]:
                    self.problem(f"{module_name}.{name} is not Hue's original {DBMS}.{name}")
                else:
                    out.append(Replacement(module, name, bound, new[name]))
        return out

    def notebook_api(self) -> Optional[Type[HS2Api]]:
        module = self._module(NOTEBOOK_API[0], app="notebook")
        if module is None:
            return None
        api = getattr(module, NOTEBOOK_API[1], None)
        if api is None:
            self.problem(f"{NOTEBOOK_API[0]}.{NOTEBOOK_API[1]} is missing")
        return api

    def log_setup(self, after: Callable[[], None]) -> Optional[Replacement]:
        """Hue's ``desktop.log.basic_logging``, followed by ``after``: Hue runs it again when its gunicorn server
        starts (after ``ready()``), and its ``fileConfig`` disables every logger its log.conf does not name."""
        module = self._module(LOG_SETUP[0], app="desktop")
        if module is None:
            return None
        original = getattr(module, LOG_SETUP[1], None)
        if not callable(original):
            self.problem(f"{LOG_SETUP[0]}.{LOG_SETUP[1]} is missing")
            return None

        def basic_logging(*args: Any, **kwargs: Any) -> Any:  # Hue's arguments and result, passed through
            try:
                return original(*args, **kwargs)
            finally:
                after()

        return Replacement(module, LOG_SETUP[1], original, functools.wraps(original)(basic_logging))

    def url_mount(self) -> Optional[UrlMount]:
        """The status page under ``/hive_ha/`` in Hue's root URLconf."""
        from django.conf import settings
        from django.urls import include, re_path

        urlconf = self._module(settings.ROOT_URLCONF, app="desktop")
        if urlconf is None:
            return None
        if not isinstance(getattr(urlconf, "urlpatterns", None), list):
            self.problem(f"{settings.ROOT_URLCONF}.urlpatterns is not a list")
            return None
        return UrlMount(urlconf, re_path(r"^%s/" % URL_PREFIX, include(("hue_integration.urls", URL_PREFIX))))

    def thrift_client(self) -> Optional[Type[TCLIServiceClient]]:
        module = self._module(THRIFT_CLIENT[0], app="beeswax")
        client = getattr(getattr(module, THRIFT_CLIENT[1], None), "Client", None) if module is not None else None
        if module is not None and client is None:
            self.problem(f"{THRIFT_CLIENT[0]}.{THRIFT_CLIENT[1]}.Client is missing")
        return client

    def _module(self, name: str, app: str) -> Optional[ModuleType]:
        if self._apps is not None and app not in self._apps:
            self.skipped.append(name)
            log.info("hive-ha: %s not patched: Hue's %s app is not loaded", name, app)
            return None
        try:
            return importlib.import_module(name)
        except ImportError as exc:
            self.problem(f"{name} cannot be imported ({exc})")
            return None

    def problem(self, text: str) -> None:
        """Record why hive-ha cannot be installed (the Hue version is added)."""
        self.problems.append(f"{text} [Hue {hue_version()}]")


def _own_attribute(owner: Union[ModuleType, type], attribute: str) -> object:
    return owner.__dict__.get(attribute) if isinstance(owner, type) else getattr(owner, attribute, None)
