"""Switching hive-ha on and off inside real Hue: what is replaced, that nothing is half-installed, that every Hue
internal hive-ha relies on is checked when it starts, and the errors an admin sees."""
import functools
import importlib
import logging
import sys
import types

import pytest

from hue_integration import checks, install, touchpoints

pytestmark = pytest.mark.django_db

REPLACED = ("get_query_server_config", "get", "reset_ha")


def holders(value):
    """Every ``module.name`` of a loaded module bound to ``value``."""
    return {f"{name}.{attribute}" for name, module in list(sys.modules.items()) if isinstance(module, types.ModuleType)
            for attribute, bound in list(vars(module).items()) if bound is value}


def bindings():
    """Where each of dbms's functions (whatever it is now) is bound, by function name."""
    from beeswax.server import dbms

    return {name: holders(getattr(dbms, name)) for name in REPLACED}


def hs2api_methods():
    from notebook.connectors.hiveserver2 import HS2Api

    return {name: HS2Api.__dict__[name] for name in ("execute", "check_status", "describe_table")}


def test_hue_loads_the_app_through_its_entry_point():
    from django.apps import apps
    from django.conf import settings

    from desktop import appmanager

    assert "hue_integration" in settings.INSTALLED_APPS
    assert "hue_integration" in [app.name for app in appmanager.DESKTOP_APPS]  # via desktop.sdk.application
    assert apps.get_app_config("hive_ha").name == "hue_integration"


def test_nothing_happens_until_switched_on(hue):
    from beeswax import conf as beeswax_conf
    from hue_integration import conf as our_conf

    before = bindings()
    assert install.install_if_enabled() is None
    hue(beeswax_conf.HIVE_DISCOVERY_HS2, "true")
    hue(our_conf.ENABLED, "false")  # our master switch wins
    assert install.install_if_enabled() is None
    assert bindings() == before and checks.registry() == []


def test_switched_off_it_never_reads_the_zookeeper_ensemble(hue, caplog):
    """[libzookeeper] ensemble unset: its default guesses from the zookeeper app and logs a warning; Hue alone never
    reads it with discovery off, and neither may hive-ha."""
    from libzookeeper import conf as zk_conf

    reads = []
    original = zk_conf.ENSEMBLE.config.dynamic_default
    zk_conf.ENSEMBLE.config.dynamic_default = lambda: reads.append(1) or original()
    try:
        with caplog.at_level(logging.DEBUG):
            assert install.install_if_enabled() is None
    finally:
        zk_conf.ENSEMBLE.config.dynamic_default = original
    assert reads == []
    assert "Could not get zookeeper ensemble" not in caplog.text


def test_installed_everywhere_idempotent_and_undone(enable, zk_namespace, tmp_path, monkeypatch):
    """Every binding of Hue's functions in the loaded modules is replaced, under any name (``impala.dbms`` binds
    ``get_query_server_config`` as ``beeswax_query_server_config``), a module imported meanwhile gets hive-ha's, and
    the undo puts Hue's back everywhere."""
    from beeswax.server import dbms
    from django.conf import settings

    importlib.import_module(settings.ROOT_URLCONF)  # Hue's views, as its first request (or the install) loads them
    originals = {name: getattr(dbms, name) for name in REPLACED}
    before, methods = bindings(), hs2api_methods()
    assert "impala.dbms.beeswax_query_server_config" in before["get_query_server_config"]
    integration = enable(zk_namespace)
    assert install.install_if_enabled() is integration  # idempotent
    for name in REPLACED:
        assert holders(originals[name]) == set()
        assert holders(getattr(dbms, name)) == before[name]  # the same places, now hive-ha's
    assert dbms.get_query_server_config == integration.get_query_server_config
    assert all(hs2api_methods()[name] is not method for name, method in methods.items())
    tmp_path.joinpath("imported_meanwhile.py").write_text(
        "from beeswax.server.dbms import get_query_server_config, reset_ha\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "imported_meanwhile", raising=False)
    meanwhile = importlib.import_module("imported_meanwhile")
    assert meanwhile.get_query_server_config == integration.get_query_server_config
    install.uninstall()
    assert {name: getattr(dbms, name) for name in REPLACED} == originals
    assert meanwhile.get_query_server_config is originals["get_query_server_config"]
    assert meanwhile.reset_ha is originals["reset_ha"]
    after = bindings()
    assert {name: after[name] - {f"imported_meanwhile.{name}"} for name in REPLACED} == before
    assert hs2api_methods() == methods


def test_a_target_that_is_not_hues_original_installs_nothing_and_warns(enable, zk_namespace, monkeypatch, caplog):
    """Another plugin replaced Hue's function in one module: hive-ha switches itself off (Hue keeps its own discovery
    and keeps starting: a Warning never stops ``hue migrate`` or Hue's start-up), and one ERROR line says so."""
    import beeswax.api

    def someone_elses(name="beeswax", connector=None):
        return {}

    monkeypatch.setattr(beeswax.api, "get_query_server_config", someone_elses)  # another plugin got there first
    before, methods = bindings(), hs2api_methods()
    with caplog.at_level(logging.INFO, logger="hue_integration"):
        assert enable(zk_namespace) is None
    assert bindings() == before and hs2api_methods() == methods and install.active() is None  # nothing replaced
    assert beeswax.api.get_query_server_config is someone_elses
    (warning,) = checks.registry()
    assert warning.id == "hive_ha.W006" and warning.level == checks.checks.WARNING
    assert "beeswax.api.get_query_server_config is not Hue's original beeswax.server.dbms.get_query_server_config " \
           "(it comes from tests.hue.test_install" in warning.msg and "Hue 4.11.0" in warning.msg
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].startswith("hive-ha NOT installed, Hue's own discovery stays in place: ")


def test_a_missing_editor_method_installs_nothing(enable, zk_namespace, monkeypatch):
    from notebook.connectors.hiveserver2 import HS2Api

    before = bindings()
    monkeypatch.delattr(HS2Api, "check_status")
    assert enable(zk_namespace) is None
    assert bindings() == before
    assert [e.id for e in checks.registry()] == ["hive_ha.W006"]
    assert "HS2Api.check_status is missing" in install.problems()[0]


# -- one test per kind of mismatch ------------------------------------------------------------------------------------
def _foreign(function):
    """``function`` as another plugin's replacement would be: same name, its own module."""
    def replacement(*args, **kwargs):
        return function(*args, **kwargs)
    replacement.__name__ = function.__name__
    return replacement


def _wrapped(function):
    """``function`` wrapped keeping its name, module and signature (functools.wraps)."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        return function(*args, **kwargs)
    return wrapper


def _as_if_defined_in(module, source, name):
    """A function as if ``module`` defined it from ``source`` (what a Hue upgrade that changed it brings)."""
    namespace = {}
    exec(source, namespace)  # noqa: S102 - the test's own text
    made = namespace[name]
    return types.FunctionType(made.__code__, vars(module), name, made.__defaults__)


def _changed_signature(monkeypatch):
    """As a Hue upgrade would: the function and every module's copy of it."""
    from beeswax.server import dbms
    from django.conf import settings

    importlib.import_module(settings.ROOT_URLCONF)  # the modules binding it are loaded
    changed = _as_if_defined_in(dbms, "def get_query_server_config(name='beeswax', connector=None, user=None):\n"
                                      "    return {}\n", "get_query_server_config")
    for place in holders(dbms.get_query_server_config):
        module, _, attribute = place.rpartition(".")
        monkeypatch.setattr(sys.modules[module], attribute, changed)


def _renamed_keyword(monkeypatch):
    from desktop.lib.thrift_util import ConnectionPooler

    def get_client(self, conf, timeout=None):
        return None
    monkeypatch.setattr(ConnectionPooler, "get_client", get_client)


def _renamed_attribute(monkeypatch):
    from desktop.lib.thrift_util import PooledClient

    def __init__(self, conf):
        self.config = conf
    monkeypatch.setattr(PooledClient, "__init__", __init__)


def _client_not_set(monkeypatch):
    from beeswax.server.hive_server2_lib import HiveServerClient

    def __init__(self, query_server, user):
        self.thrift = None
    monkeypatch.setattr(HiveServerClient, "__init__", __init__)


def _pool_key_layout(monkeypatch):
    from desktop.lib import thrift_util

    monkeypatch.setattr(thrift_util, "_get_pool_key", lambda conf: (conf.host, conf.port, conf.klass))


def _unlookable_object(monkeypatch):
    from desktop.lib import thrift_util

    class SuperClient:
        def __init__(self, *args):
            raise RuntimeError("needs a server")

        def set_timeout(self, timeout_seconds):
            pass
    monkeypatch.setattr(thrift_util, "SuperClient", SuperClient)


def _session_properties(monkeypatch):
    from beeswax.models import Session

    monkeypatch.setattr(Session, "get_properties", lambda self: self.properties)


def _without_field(monkeypatch, struct, field):
    spec = getattr(importlib.import_module("TCLIService.ttypes"), struct)
    monkeypatch.setattr(spec, "thrift_spec", tuple(s if not s or s[2] != field else None for s in spec.thrift_spec))


def _renamed_editor_parameter(monkeypatch):
    import notebook.connectors.hiveserver2 as editor

    check_status = _as_if_defined_in(editor, "def check_status(self, notebook, cell):\n    return {}\n", "check_status")
    monkeypatch.setattr(editor.HS2Api, "check_status", editor.query_error_handler(check_status))


def _other_editor_decorator(monkeypatch):
    from notebook.connectors.hiveserver2 import HS2Api

    monkeypatch.setattr(HS2Api, "fetch_result", _wrapped(vars(HS2Api)["fetch_result"]))


def _module(name):
    return importlib.import_module(name)


#: One change of each kind a Hue internal can undergo (what a Hue upgrade or another plugin does), and what the
#: warning says of it. Each alone switches hive-ha off.
MISMATCHES = {
    "a function renamed (gone)": (
        lambda mp: mp.delattr(_module("desktop.lib.thrift_util"), "_grab_transport_from_wrapper"),
        "desktop.lib.thrift_util._grab_transport_from_wrapper is missing (hive-ha finds a pooled connection's socket"),
    "a replaced function, another plugin's": (
        lambda mp: mp.setattr(_module("beeswax.server.dbms"), "reset_ha", _foreign(_module("beeswax.server.dbms")
                                                                                   .reset_ha)),
        "beeswax.server.dbms.reset_ha is not Hue's original (it comes from tests.hue.test_install: another plugin"),
    "a replaced function, wrapped keeping Hue's name and module": (
        lambda mp: mp.setattr(_module("beeswax.server.dbms"), "get", _wrapped(_module("beeswax.server.dbms").get)),
        "beeswax.server.dbms.get is not Hue's original (it comes from tests.hue.test_install"),
    "a replaced function's parameters changed": (
        _changed_signature,
        "beeswax.server.dbms.get_query_server_config takes (name, connector, user); hive-ha's replacement takes "
        "(name, connector)"),
    "a parameter renamed in a function hive-ha calls": (
        _renamed_keyword,
        "desktop.lib.thrift_util._connection_pool.get_client(conf, timeout=None) cannot be called as hive-ha calls it "
        "(conf, get_client_timeout=)"),
    "an object of another kind": (
        lambda mp: mp.setattr(_module("beeswax.server.dbms"), "DBMS_CACHE_LOCK", object()),
        "beeswax.server.dbms.DBMS_CACHE_LOCK is not a lock (it is object)"),
    "an attribute of Hue's objects renamed": (
        _renamed_attribute, "desktop.lib.thrift_util.PooledClient objects have no attribute 'conf' any more"),
    "a constructor no longer setting what hive-ha replaces": (
        _client_not_set, "beeswax.server.hive_server2_lib.HiveServerClient.__init__ no longer sets _client"),
    "a data layout changed": (
        _pool_key_layout, "desktop.lib.thrift_util._get_pool_key makes keys like ('hive-ha.invalid', 1, <class "
                          "'object'>): hive-ha reads a pool's host and port at [1] and [2]"),
    "a generated Thrift method gone": (
        lambda mp: mp.delattr(_module("beeswax.server.hive_server2_lib").TCLIService.Client, "recv_GetLog"),
        "beeswax.server.hive_server2_lib.TCLIService.Client.recv_GetLog is missing (hive-ha makes each RPC with "
        "send_X and recv_X)"),
    "a Thrift struct's field gone": (
        lambda mp: _without_field(mp, "TExecuteStatementReq", "statement"),
        "TCLIService.ttypes.TExecuteStatementReq has no field 'statement'"),
    "a model's behaviour changed": (
        _session_properties, "beeswax.models.Session.get_properties no longer reads the JSON object in properties"),
    "an editor parameter renamed": (
        _renamed_editor_parameter,
        "notebook.connectors.hiveserver2.HS2Api.check_status has no parameter 'snippet' (its parameters: self, "
        "notebook, cell); hive-ha's wrapper reads it by name"),
    "an editor method decorated another way": (
        _other_editor_decorator,
        "notebook.connectors.hiveserver2.HS2Api.fetch_result is wrapped in a way hive-ha does not know"),
    "Hue's editor error handler renamed": (
        lambda mp: mp.delattr(_module("notebook.connectors.hiveserver2"), "query_error_handler"),
        "notebook.connectors.hiveserver2.query_error_handler is missing, and create_session, close_session, "
        "autocomplete, get_sample_data, explain, execute, check_status, fetch_result, fetch_result_size, get_log, "
        "cancel, progress, get_jobs, close_statement are wrapped in a handler of that shape"),
    "a setting gone": (
        lambda mp: mp.delattr(_module("beeswax.conf"), "THRIFT_VERSION"),
        "beeswax.conf.THRIFT_VERSION is missing (hive-ha probes with Hue's protocol version)"),
    "a setting of another type": (
        lambda mp: mp.setattr(_module("beeswax.conf").THRIFT_VERSION, "get", lambda: "11"),
        "beeswax.conf.THRIFT_VERSION holds a str, not a int"),
    "a module gone": (
        lambda mp: mp.setitem(sys.modules, "beeswax.common", None), "beeswax.common cannot be imported"),
    "an object that cannot be looked at": (
        _unlookable_object, "desktop.lib.thrift_util.SuperClient could not be checked (RuntimeError: needs a server)"),
}


@pytest.mark.parametrize("change", MISMATCHES, ids=list(MISMATCHES))
def test_each_kind_of_mismatch_switches_hive_ha_off_with_a_warning_naming_it(change, enable, zk_namespace,
                                                                              monkeypatch, caplog):
    make, said = MISMATCHES[change]
    make(monkeypatch)
    before, methods = bindings(), hs2api_methods()
    with caplog.at_level(logging.INFO, logger="hue_integration"):
        assert enable(zk_namespace) is None
    assert bindings() == before and hs2api_methods() == methods and install.active() is None  # nothing replaced
    (problem,) = install.problems()  # this mismatch, and nothing else
    assert said in problem and problem.endswith("[Hue 4.11.0]"), problem
    assert [(m.id, m.level, m.msg.endswith(problem)) for m in checks.registry()] == \
        [("hive_ha.W006", checks.checks.WARNING, True)]
    (error,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert error.getMessage() == f"hive-ha NOT installed, Hue's own discovery stays in place: {problem}"


def test_hue_as_it_is_has_no_mismatch():
    from django.conf import settings

    assert touchpoints.check(list(settings.INSTALLED_APPS)) == []


def test_touchpoints_of_an_app_hue_does_not_load_are_left_out(caplog):
    """Without the notebook app nothing of the editor runs: its touchpoints are not looked at. Without beeswax there
    is nothing to replace."""
    from django.conf import settings

    apps = [app for app in settings.INSTALLED_APPS if app != "notebook"]
    assert {t.module.split(".")[0] for t in touchpoints.TOUCHPOINTS if t.app == "notebook"} == {"notebook"}
    with caplog.at_level(logging.INFO, logger="hue_integration"):
        assert touchpoints.check(apps) == []
    assert "Hue's notebook app is not loaded" in caplog.text
    assert touchpoints.check([app for app in apps if app != "beeswax"]) == [
        "Hue's beeswax app is not loaded: there is no HiveServer2 discovery to replace [Hue 4.11.0]"]


def test_bad_hue_ini_value_names_the_key(hue, enable, zk_namespace):
    from hive_ha.errors import ConfigError
    from hue_integration import conf as our_conf

    hue(our_conf.SELECTION_POLICY, "round_robin")
    with pytest.raises(ConfigError, match=r"\[hive_ha\] selection_policy"):
        enable(zk_namespace)


def test_no_endpoint_is_a_popup_with_our_message(enable, zk_namespace):
    from beeswax.server import dbms
    from desktop.lib.exceptions_renderable import PopupException

    enable(zk_namespace)
    with pytest.raises(PopupException, match="no HiveServer2 endpoint available"):
        dbms.get_query_server_config()


def test_hive_ha_loggers_survive_hues_log_set_up():
    """Hue applies its log.conf with fileConfig after hive-ha's modules were imported (tests/hue/environment.py
    writes one, as deployments have): the operator lines must still be written."""
    manager = logging.getLogger().manager
    ours = {name: logger.disabled for name, logger in manager.loggerDict.items()
            if name.split(".")[0] in ("hive_ha", "hue_integration") and isinstance(logger, logging.Logger)}
    assert "hive_ha.core.discovery" in ours and not any(ours.values())
