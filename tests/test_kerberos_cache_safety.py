"""Whose ticket hive-ha adopts: a keytab login keeps its cache in a private 0700 directory, and a cache, lock or
directory another local user made first (or a cache of another principal) is refused with a clear error, never
written to nor adopted. The other user is real: ``nobody``, in a process of its own (the test runs as root)."""
import os
import stat
import subprocess
import sys
import tempfile

import pytest

from hive_ha.errors import UnsafeTicketCache, ZooKeeperAuthFailed
from hive_ha.io import kerberos
from hive_ha.io.zookeeper import ZkSettings, new_client

pytestmark = pytest.mark.process  # the other user's processes
pytest.importorskip("kerberos", reason="pip install 'hive-ha[kerberos]'")

OTHER_USER = "nobody"
#: Run as the other user with the system's Python (hive-ha's venvs may sit where that user cannot read): make the
#: directory, or plant a cache (a copy of a real one) and hold the lock on it, until stdin closes.
ATTACK = r"""
import fcntl, os, shutil, sys
what, target, planted = sys.argv[1:4]
if what == "dir":
    os.mkdir(target)
    os.chmod(target, 0o777)
else:
    if planted != "-":
        shutil.copyfile(planted, target)
        os.chmod(target, 0o644)
    fd = os.open(target + ".lock", os.O_RDWR | os.O_CREAT, 0o666)
    fcntl.lockf(fd, fcntl.LOCK_EX)
print("ready", flush=True)
sys.stdin.read()
"""
HOLD_LOCK = "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600); " \
            "fcntl.lockf(fd, fcntl.LOCK_EX); print('ready', flush=True); sys.stdin.read()"
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="making files as another user needs root")


@pytest.fixture
def shared_tmp(monkeypatch, tmp_path_factory):
    """A directory like /tmp (mode 1777) that hive-ha takes as its temp dir, where any local user may create files."""
    tmp_path_factory.getbasetemp()  # pytest's own temp dirs stay where they are
    path = tempfile.mkdtemp(prefix="hive-ha-shared-tmp-")
    os.chmod(path, 0o1777)
    monkeypatch.setattr(tempfile, "tempdir", path)
    monkeypatch.setenv("KRB5CCNAME", "MEMORY:the-process")
    yield path
    kerberos.stop_logins()
    subprocess.run(["rm", "-rf", path], check=False)


@pytest.fixture
def run_as():
    """``run_as(user, *argv)``: a process of ``user`` (``OTHER_USER``, or None for this one's) running ``argv`` until
    the test ends; returns once it printed ``ready``."""
    started = []

    def run(user, *argv):
        who = {"user": user, "group": "nogroup", "extra_groups": []} if user else {}  # None: this process's user
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, **who)
        started.append(proc)
        line = proc.stdout.readline()
        assert line.strip() == "ready", proc.stderr.read()
        return proc

    yield run
    for proc in started:
        proc.stdin.close()
        proc.wait(10)


@pytest.fixture
def attacker(run_as):
    def attack(what, target, planted="-"):
        return run_as(OTHER_USER, "/usr/bin/python3", "-c", ATTACK, what, target, planted)
    return attack


def hue_login(rig, ccache=None):
    return kerberos.KerberosLogin(rig.principal("hue"), rig.keytab("hue"), ccache)


def planted_ticket(rig, directory, user="alice"):
    """A real ticket of ``user`` that the other user got hold of (readable by them)."""
    path = os.path.join(directory, f"stolen-{user}.ccache")
    rig.kdc.kinit(user, rig.keytab(user), "FILE:" + path)
    os.chmod(path, 0o644)
    return path


def test_a_keytab_login_keeps_its_cache_in_a_private_directory(krb_rig, shared_tmp):
    login = hue_login(krb_rig)
    renewer = kerberos.ensure_login(login)
    directory = os.path.dirname(login.cache_path)
    assert directory == os.path.join(shared_tmp, f"hive-ha-krb5cc-{os.getuid()}")
    info = os.lstat(directory)
    assert stat.S_ISDIR(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o700 and info.st_uid == os.getuid()
    assert renewer.writer and kerberos.read_cache(login.cache_name).principal == "hue@EXAMPLE.TEST"
    assert os.environ["KRB5CCNAME"] == "MEMORY:the-process"  # hive-ha's cache is for its own threads


@as_root
def test_a_directory_another_user_made_first_is_refused(krb_rig, shared_tmp, attacker):
    login = hue_login(krb_rig)
    directory = os.path.dirname(login.cache_path)
    attacker("dir", directory)
    with pytest.raises(UnsafeTicketCache) as refused:
        kerberos.ensure_login(login)
    text = str(refused.value)
    assert f"refusing the Kerberos ticket cache {login.cache_path} for hue@EXAMPLE.TEST" in text
    assert f"its directory {directory} must be this user's with mode 700" in text
    assert "belongs to uid 65534 (nobody) with mode 777" in text and "set kerberos_ccache" in text
    assert os.listdir(directory) == []  # nothing of ours was written into it


@as_root
def test_another_users_cache_and_lock_are_refused_not_adopted(krb_rig, shared_tmp, attacker):
    """The attack: another user creates the lock first (so hive-ha would only follow) and plants a ticket of their
    choosing where hive-ha looks for its own."""
    ccache = os.path.join(shared_tmp, "hue.ccache")
    attacker("cache", ccache, planted_ticket(krb_rig, shared_tmp))
    settings = ZkSettings(hosts="localhost:2181", auth_scheme="sasl", sasl_mechanism="GSSAPI",
                          sasl_principal=krb_rig.principal("hue"), kerberos_keytab=krb_rig.keytab("hue"),
                          kerberos_ccache=ccache)
    with pytest.raises(ZooKeeperAuthFailed) as refused:
        new_client(settings)  # the login comes first: no client, no connection
    text = str(refused.value)
    assert f"refusing the Kerberos ticket cache {ccache} for hue@EXAMPLE.TEST" in text
    assert "the ticket cache belongs to uid 65534 (nobody)" in text and "another local user made it" in text
    assert kerberos.read_cache(ccache).principal == "alice@EXAMPLE.TEST"  # untouched, and not used


@as_root
def test_another_users_lock_alone_is_refused(krb_rig, shared_tmp, attacker):
    ccache = os.path.join(shared_tmp, "hue.ccache")
    attacker("lock", ccache)
    with pytest.raises(UnsafeTicketCache) as refused:
        kerberos.ensure_login(hue_login(krb_rig, ccache))
    text = str(refused.value)
    assert f"refusing the Kerberos ticket cache {ccache}.lock" in text
    assert "the lock file belongs to uid 65534 (nobody)" in text and "decides which ticket" in text
    assert not os.path.exists(ccache)


def test_a_cache_of_another_principal_is_not_adopted(krb_rig, tmp_path, run_as):
    """Same user, wrong principal: another process holds the lock and the cache holds alice's ticket."""
    ccache = str(tmp_path / "hue.ccache")
    krb_rig.kdc.kinit("alice", krb_rig.keytab("alice"), "FILE:" + ccache)
    run_as(None, sys.executable, "-c", HOLD_LOCK, ccache + ".lock")  # the writer, as far as hive-ha can tell
    with pytest.raises(UnsafeTicketCache) as refused:
        kerberos.ensure_login(hue_login(krb_rig, ccache))
    assert "it holds tickets of alice@EXAMPLE.TEST, not of hue@EXAMPLE.TEST" in str(refused.value)
    # A cache given without a keytab (read as is) is checked the same way before hive-ha's threads use it.
    settings = ZkSettings(hosts="localhost:2181", auth_scheme="sasl", sasl_mechanism="GSSAPI",
                          sasl_principal=krb_rig.principal("hue"), kerberos_ccache=ccache)
    with pytest.raises(ZooKeeperAuthFailed, match="holds tickets of alice@EXAMPLE.TEST, not of hue@EXAMPLE.TEST"):
        new_client(settings)
