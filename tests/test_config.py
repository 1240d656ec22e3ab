"""The configobj loader: Hue's keys, ours, merging, defaults and clear errors."""
import dataclasses

import pytest

from hive_ha.core.config import KEYS, load_config
from hive_ha.errors import ConfigError

EXAMPLE = "conf/hive_ha.ini.example"


def test_example_documents_every_key_and_loads_to_defaults():
    text = open(EXAMPLE).read()
    for section, key in KEYS:
        assert f"\n  {key}=" in text, f"[{section}] {key} is not documented in {EXAMPLE}"
    cfg = load_config(EXAMPLE)
    assert cfg.zookeeper.hosts == "localhost:2181" and cfg.selection_policy == "oldest"
    assert cfg.cache_timeout == 60 and cfg.zookeeper.connect_timeout == 30
    assert not cfg.discover_hive and cfg.hive_service.namespace == "/hiveserver2"


def test_hue_keys_and_ours(tmp_path):
    hue = tmp_path / "hue.ini"
    hue.write_text("[beeswax]\n  hive_discovery_hs2=true\n  hive_discovery_llap=True\n  hive_discovery_llap_ha=yes\n"
                   "  hive_discovery_llap_znode=/llap0_llap\n  cache_timeout=30\n  [[ssl]]\n    enabled=false\n"
                   "[libzookeeper]\n  ensemble=zk1:2181,zk2:2181/hive\n  principal_name=zk\n"
                   "[desktop]\n  secret_key=whatever\n")
    ours = tmp_path / "hive_ha.ini"
    ours.write_text("[hive_ha]\n  selection_policy=per_user\n  zookeeper_auth=sasl\n  zookeeper_sasl_mechanism=digest-md5\n"
                    "  zookeeper_sasl_username=hue\n  zookeeper_sasl_password=s3cret\n[beeswax]\n  cache_timeout=45\n")
    cfg = load_config([hue, ours])
    assert cfg.discover_hive and cfg.discover_llap and cfg.llap_ha
    assert cfg.llap_service.layout.name == "hsi-ha" and cfg.llap_service.namespace == "/llap0_llap"
    assert cfg.cache_timeout == 45  # later files win, as in Hue's conf dir
    zk = cfg.zookeeper
    assert zk.hosts == "zk1:2181,zk2:2181/hive" and zk.sasl_service == "zk"
    assert zk.kazoo_kwargs()["sasl_options"] == {"mechanism": "DIGEST-MD5", "service": "zk",
                                                 "username": "hue", "password": "s3cret"}
    assert "s3cret" not in repr(cfg)


@pytest.mark.parametrize("section,key,value,allowed", [
    ("beeswax", "hive_discovery_hs2", "maybe", "true or false"),
    ("beeswax", "cache_timeout", "-5", "number of seconds"),
    ("beeswax", "cache_timeout", "soon", "number of seconds"),
    ("beeswax", "hive_discovery_hiveserver2_znode", "/", "ZooKeeper path"),
    ("hive_ha", "selection_policy", "round_robin", "oldest, random, per_user"),
    ("hive_ha", "zookeeper_auth", "kerberos", "none, digest, sasl"),
    ("hive_ha", "zookeeper_ssl_ca", "/nonexistent.pem", "readable file"),
    ("hive_ha", "no_such_key", "1", "documented"),
    ("libzookeeper", "ensemble", "zk1:2181, zk2:2181", "host:port"),
])
def test_bad_values_name_key_value_and_allowed(section, key, value, allowed):
    with pytest.raises(ConfigError) as info:
        load_config({section: {key: value}})
    msg = str(info.value)
    assert key in msg and allowed in msg


def test_secret_values_never_in_errors():
    with pytest.raises(ConfigError) as info:
        load_config({"hive_ha": {"zookeeper_digest_password": "top\nsecret"}})
    assert "secret" not in str(info.value)


def test_digest_needs_user_and_password():
    with pytest.raises(ConfigError, match="zookeeper_digest_user"):
        load_config({"hive_ha": {"zookeeper_auth": "digest"}})
    cfg = load_config({"hive_ha": {"zookeeper_auth": "digest", "zookeeper_digest_user": "u",
                                   "zookeeper_digest_password": "p"}})
    assert cfg.zookeeper.kazoo_kwargs()["auth_data"] == [("digest", "u:p")]


def test_backoff_bounds_checked():
    with pytest.raises(ConfigError, match="exclusion_backoff_max"):
        load_config({"hive_ha": {"exclusion_backoff": "60", "exclusion_backoff_max": "10"}})


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="existing"):
        load_config(tmp_path / "nope.ini")


def test_config_is_immutable():
    cfg = load_config({})
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.cache_timeout = 1


def test_read_only_and_tls_reach_kazoo(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    kw = load_config({"hive_ha": {"zookeeper_read_only": "true", "zookeeper_use_ssl": "true",
                                  "zookeeper_ssl_ca": str(ca)}}).zookeeper.kazoo_kwargs()
    assert kw["read_only"] is True and kw["use_ssl"] is True and kw["ca"] == str(ca) and kw["verify_certs"] is True
