"""Switching hive-ha on and off inside real Hue: what is replaced, that nothing is half-installed, and the errors an
admin sees."""
import importlib
import logging

import pytest

from hue_integration import checks, install, targets

pytestmark = pytest.mark.django_db


def bound(function_name):
    """Every module's binding of ``function_name`` among the ones hive-ha replaces, plus dbms's own."""
    copies = targets.GET_QUERY_SERVER_CONFIG_COPIES if function_name == "get_query_server_config" \
        else targets.RESET_HA_COPIES
    return {name: getattr(importlib.import_module(name), function_name) for name in [targets.DBMS, *copies]}


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

    before = bound("get_query_server_config")
    assert install.install_if_enabled() is None
    hue(beeswax_conf.HIVE_DISCOVERY_HS2, "true")
    hue(our_conf.ENABLED, "false")  # our master switch wins
    assert install.install_if_enabled() is None
    assert bound("get_query_server_config") == before and checks.registry() == []


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


def test_installed_everywhere_idempotent_and_undone(enable, zk_namespace):
    originals, resets, methods = bound("get_query_server_config"), bound("reset_ha"), hs2api_methods()
    integration = enable(zk_namespace)
    assert install.install_if_enabled() is integration  # idempotent
    assert set(bound("get_query_server_config").values()) == {integration.get_query_server_config}
    assert set(bound("reset_ha").values()) == {integration.reset_ha}
    assert all(hs2api_methods()[name] is not method for name, method in methods.items())
    install.uninstall()
    assert bound("get_query_server_config") == originals and bound("reset_ha") == resets
    assert hs2api_methods() == methods


def test_a_target_that_is_not_hues_original_installs_nothing_and_fails_the_system_check(enable, zk_namespace):
    import beeswax.api

    def someone_elses(name="beeswax", connector=None):
        return {}

    originals, methods = bound("get_query_server_config"), hs2api_methods()
    hue_own = beeswax.api.get_query_server_config
    beeswax.api.get_query_server_config = someone_elses  # another plugin got there first
    try:
        assert enable(zk_namespace) is None
        assert dict(bound("get_query_server_config"), **{"beeswax.api": hue_own}) == originals  # nothing replaced
        assert hs2api_methods() == methods
        (error,) = checks.registry()
        assert error.id == "hive_ha.E001" and error.level == checks.checks.ERROR
        assert "beeswax.api.get_query_server_config is not Hue's original" in error.msg and "Hue 4.11.0" in error.msg
    finally:
        beeswax.api.get_query_server_config = hue_own


def test_a_missing_editor_method_installs_nothing(enable, zk_namespace):
    from notebook.connectors.hiveserver2 import HS2Api

    originals = bound("get_query_server_config")
    check_status = HS2Api.__dict__["check_status"]
    del HS2Api.check_status
    try:
        assert enable(zk_namespace) is None
        assert bound("get_query_server_config") == originals
        assert [e.id for e in checks.registry()] == ["hive_ha.E001"]
        assert "HS2Api.check_status is missing" in install.problems()[0]
    finally:
        HS2Api.check_status = check_status


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
