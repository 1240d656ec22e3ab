"""docs/kerberos.md's section "Hue: a Kerberized cluster's Hue", followed as written with Hue's own server: its
hue.ini (the example names replaced by this cluster's), its hive-site.xml, its steps (krb5.conf, the keytab,
``hue kt_renewer``, ``hue rungunicornserver``, ``hive-ha check``), then two users over Hue's HTTP API through a
``kill -9`` of the serving HiveServer2 (tests/hue/kerberized.py has the cluster)."""
import json
import os
import re
import stat
import subprocess

import pytest

from hive_ha.io import kerberos
from hive_ha.sandbox.lifecycle import rig_python
from tests._pip import ROOT
from tests.hue.editor import Editor, HttpTransport
from tests.hue.hue_process import HueHome
from tests.hue.kerberized import REALM, REINIT_FREQUENCY, KtRenewer

pytestmark = [pytest.mark.kerberos, pytest.mark.slow]

PASSWORD = "hive-ha-test-password"
WHO = "select current_server(), current_user(), logged_in_user()"
SECTION = "## Hue: a Kerberized cluster's Hue"


def doc_section():
    text = (ROOT / "docs" / "kerberos.md").read_text()
    start = text.index(SECTION)
    return text[start:text.index("\n## ", start + len(SECTION))]


def fenced(section, language):
    (block,) = re.findall(r"```%s\n(.*?)```" % language, section, re.S)
    return block


def as_this_cluster(text, names):
    for example, ours in names.items():
        assert example in text, f"docs/kerberos.md no longer says {example!r}: update this test with it"
        text = text.replace(example, ours)
    return text


@pytest.fixture
def documented_hue(kerberized_cluster, zk_namespace, tmp_path):
    """A HueHome configured by the documented hue.ini; its ccache_path, hive_conf_dir and namespace are this test's."""
    cluster = kerberized_cluster
    section = doc_section()
    hive_conf = tmp_path / "hive-conf"
    hive_conf.mkdir()
    hive_site = as_this_cluster(fenced(section, "xml"), {"EXAMPLE.COM": REALM})
    (hive_conf / "hive-site.xml").write_text(f"<?xml version=\"1.0\"?>\n<configuration>\n{hive_site}</configuration>\n")
    ccache = str(tmp_path / "hue_krb5_ccache")
    ini = as_this_cluster(fenced(section, "ini"), {
        "/etc/hue/conf/hue.keytab": cluster.hue_keytab,
        "hue/hue1.example.com@EXAMPLE.COM": cluster.hue_principal,
        "/var/run/hue/hue_krb5_ccache": ccache,
        "reinit_frequency=3600": f"reinit_frequency={REINIT_FREQUENCY}",  # Hue's tickets here live seconds
        "/etc/hive/conf": str(hive_conf),
        "zk1.example.com:2181,zk2.example.com:2181,zk3.example.com:2181": cluster.zk_hosts,
        "=/hiveserver2\n": f"={zk_namespace}\n",
    })
    assert ini.startswith("[desktop]\n")
    home = HueHome(ini[len("[desktop]\n"):], workers=2)  # its [desktop] keys go on in HueHome's own [desktop]
    home.ccache = ccache
    try:
        yield home
    finally:
        home.stop()


def test_the_documented_kerberized_hue_answers_and_fails_over(documented_hue, kerberized_cluster, kerberized_hs2,
                                                               zk_namespace):
    cluster, home = kerberized_cluster, documented_hue
    a = kerberized_hs2("hs2-a", 0)
    kerberized_hs2("hs2-b", 1)
    # Step 1 (krb5.conf): KRB5_CONFIG of this process, which Hue's processes inherit. Step 2: the keytab.
    assert stat.S_IMODE(os.stat(cluster.hue_keytab).st_mode) == 0o600
    listed = subprocess.run(["klist", "-k", cluster.hue_keytab], capture_output=True, text=True, check=True).stdout
    assert cluster.hue_principal in listed
    # Step 4: Hue's renewer, its own process, reading the same hue.ini.
    renewer = KtRenewer.for_home(home, home.ccache)
    try:
        renewer.start()
        assert kerberos.read_cache(home.ccache).principal == cluster.hue_principal
        # Step 5: Hue's server (its database first, and two users).
        home.hue("migrate", "--noinput")
        home.add_users("alice", "bob", password=PASSWORD)
        home.start_server()
        users = {}
        for name in ("alice", "bob"):
            users[name] = Editor(HttpTransport(home.base_url, name, PASSWORD))
            users[name].create_session()
            assert users[name].run(WHO) == [["hs2-a", name, cluster.hue_principal]]
        # Step 6: hive-ha check with Hue's hue.ini and ticket (the dev venv's, which has the dbapi extra).
        check = subprocess.run(
            [rig_python(), "-m", "hive_ha.cli", "check", "--config", os.path.join(home.conf_dir, "hue.ini"),
             "--namespace", zk_namespace, "--json"], capture_output=True, text=True, timeout=120,
            env=dict(os.environ, KRB5CCNAME="MEMORY:none", PYTHONPATH=str(ROOT)))  # the hue.ini names the cache
        assert check.returncode == 0, check.stdout + check.stderr
        findings = {(f["item"], f["subject"]): f for f in json.loads(check.stdout)["findings"]}
        ticket = findings[("kerberos", cluster.hue_principal)]
        assert "from Hue's ticket cache, renewed by Hue's kt_renewer" in ticket["detail"]
        assert [f["status"] for (item, _), f in findings.items() if item == "session"] == ["ok", "ok"]
        for secret in (cluster.hue_keytab, home.ccache):
            assert secret not in check.stdout
        # kill -9 of the serving HiveServer2: both users go on, each as themselves, on the other host's principal.
        a.kill()
        for _ in range(3):  # whichever of Hue's workers takes each request
            for name, editor in users.items():
                assert editor.run(WHO) == [["hs2-b", name, cluster.hue_principal]]
        assert "hive-ha failover" in home.log()
    finally:
        renewer.stop()
