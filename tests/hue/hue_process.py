"""Hue as its own process, configured by nothing but a hue.ini and a log.conf: ``hue`` management commands and Hue's
gunicorn server (``hue rungunicornserver``, forked workers) on a free loopback port."""
import getpass
import grp
import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import urllib.request
import uuid

from hive_ha.testing.waiting import wait_until
from hive_ha.sandbox.zookeeper import free_port
from tests.hue.conf_files import LOG_CONF, write_conf_dir
from tests.rig.databases import group_alive

HUE = os.path.join(os.path.dirname(sys.executable), "hue")
COMMAND_TIMEOUT = 300  # seconds for one management command (migrations take ~10 s on an idle machine)


class HueHome:
    """A conf dir, a log dir and a database of one Hue installation: its own database on the run's database server,
    or a sqlite file (tests/hue/environment.py), or ``database``, the ``[[database]]`` section of a database other
    Hue instances share (its owner drops it). ``desktop``: more ``[desktop]`` keys (lines), ``secret_key`` Hue's."""

    def __init__(self, hue_ini="", workers=2, database=None, desktop="",
                 secret_key="hive-ha-tests-not-a-secret-0123456789", python_path=()):
        self.home = tempfile.mkdtemp(prefix="hive-ha-hue-process-")
        self.python_path = list(python_path)  # directories put ahead of the inherited PYTHONPATH (plugins)
        self.conf_dir, self.log_dir = os.path.join(self.home, "conf"), os.path.join(self.home, "logs")
        self.port, self.workers = free_port(), workers
        self.desktop, self.secret_key = textwrap.dedent(desktop), secret_key
        os.makedirs(self.log_dir)
        self.server = None
        if database is None:
            from tests.hue.environment import database_section  # the run's database server (started on import)

            self.database, self._drop_database = database_section("hue_" + uuid.uuid4().hex[:12], self.home)
        else:
            self.database, self._drop_database = database, lambda: None
        self.configure(hue_ini)

    def configure(self, hue_ini):
        """(Re)write hue.ini: Hue's and this test's ``[desktop]`` keys plus ``hue_ini``."""
        write_conf_dir(self.conf_dir, textwrap.dedent(f"""\
            [desktop]
            secret_key={self.secret_key}
            http_host=127.0.0.1
            http_port={self.port}
            server_user={getpass.getuser()}
            server_group={grp.getgrgid(os.getgid()).gr_name}
            gunicorn_number_of_workers={self.workers}
            """) + self.desktop + self.database + textwrap.dedent(hue_ini), LOG_CONF)

    @property
    def env(self):
        env = dict(os.environ, HUE_CONF_DIR=self.conf_dir, DESKTOP_LOG_DIR=self.log_dir,
                   DESKTOP_LOG_CONF_FILE=os.path.join(self.conf_dir, "log.conf"))
        env.pop("DJANGO_SETTINGS_MODULE", None)  # the hue command sets its own
        if self.python_path:
            env["PYTHONPATH"] = os.pathsep.join(self.python_path + [p for p in [env.get("PYTHONPATH")] if p])
        return env

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}"

    def log(self):
        with open(os.path.join(self.log_dir, "hue.log"), errors="replace") as f:
            return f.read()

    def hue(self, *args, check=True):
        """Run ``hue <args>``; returns the CompletedProcess (stdout and stderr as text)."""
        result = subprocess.run([HUE, *args], env=self.env, cwd=self.home, capture_output=True, text=True,
                                timeout=COMMAND_TIMEOUT)
        if check:
            assert result.returncode == 0, f"hue {' '.join(args)}: {result.returncode}\n{result.stderr[-3000:]}"
        return result

    def python(self, code):
        """Run ``code`` in ``hue shell`` (Django set up from this hue.ini); returns its stdout."""
        return self.hue("shell", "-c", textwrap.dedent(code)).stdout

    def add_users(self, *usernames, password):
        """Editor users of Hue's default group, allowed to use Hive and LLAP (what an admin grants)."""
        self.python(f"""
            from desktop.lib.test_utils import grant_access
            from useradmin.models import User
            for name in {list(usernames)!r}:
                User.objects.create_user(username=name, password={password!r})
                for app in ("beeswax", "hive", "notebook"):
                    grant_access(name, "default", app)
            """)

    def start_server(self, timeout=120):
        """``hue rungunicornserver`` in its own process group (not under a wrapper: Hue's start-up clean-up kills
        processes that look like orphaned servers); returns once Hue answers HTTP."""
        self.server = subprocess.Popen([HUE, "rungunicornserver"], env=self.env, cwd=self.home,
                                       stdout=open(os.path.join(self.log_dir, "server.out"), "w"),
                                       stderr=subprocess.STDOUT, start_new_session=True)

        def answers():
            assert self.server.poll() is None, f"Hue exited with {self.server.returncode}: {self.server_output()}"
            try:
                with urllib.request.urlopen(self.base_url + "/desktop/debug/is_alive", timeout=5) as response:
                    return response.status == 200
            except OSError:
                return False

        wait_until(answers, timeout, interval=0.2, message=lambda: f"Hue did not answer: {self.server_output()}")
        return self

    def browser(self, username, password):
        """A logged-in browser session (Hue's login form, as a person signs in): ``get(path) -> (status, body)``."""
        return Browser(self.base_url, username, password)

    def kill(self):
        """``kill -9`` of the whole instance: the gunicorn master and its workers (a host or container lost at once);
        ``start_server()`` brings it back on the same port."""
        if self.server is not None and self.server.poll() is None:
            os.killpg(self.server.pid, signal.SIGKILL)
            self.server.wait(30)
            wait_until(lambda: not group_alive(self.server.pid), 30, interval=0.05,
                       message="Hue's workers outlived the kill of their group")

    def worker_pids(self):
        """gunicorn's live workers. Not every child of the master is one: Hue's metrics start a multiprocessing
        Manager, a process of its own, when Hue's settings are imported."""
        with open(os.path.join(self.log_dir, "server.out"), errors="replace") as f:
            booted = {int(pid) for pid in re.findall(r"Booting worker with pid: (\d+)", f.read())}
        out = subprocess.run(["pgrep", "-g", str(self.server.pid)], capture_output=True, text=True).stdout
        return [int(pid) for pid in out.split() if int(pid) in booted]

    def server_output(self):
        with open(os.path.join(self.log_dir, "server.out"), errors="replace") as f:
            return f.read()[-3000:]

    def stop_server(self):
        """Stop ``hue rungunicornserver`` and its workers (the home stays)."""
        if self.server is not None and self.server.poll() is None:
            os.killpg(self.server.pid, signal.SIGTERM)
            try:
                self.server.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.server.pid, signal.SIGKILL)
                self.server.wait(10)
        if self.server is not None:
            try:
                os.killpg(self.server.pid, signal.SIGKILL)  # workers that outlived the master
            except ProcessLookupError:
                pass
            for path in (f"/tmp/hue_{self.port}.pid",):
                if os.path.exists(path):
                    os.unlink(path)
        self.server = None

    def stop(self):
        self.stop_server()
        self._drop_database()
        subprocess.run(["rm", "-rf", self.home], check=False)


class Browser:
    """Cookies and Django's CSRF double submit, as a browser does them; signs in through Hue's login form."""

    def __init__(self, base_url, username, password):
        import http.cookiejar
        import secrets
        import urllib.error
        import urllib.parse

        self.base_url = base_url
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect())
        token = secrets.token_hex(16)  # Django accepts a 32-character secret as both the cookie and the form field
        self.opener.addheaders = [("Cookie", f"csrftoken={token}")]
        body = urllib.parse.urlencode({"username": username, "password": password, "csrfmiddlewaretoken": token,
                                       "next": "/"}).encode()
        try:  # a successful sign-in answers 302 to "/", Hue's single-page app (its bundles are not in this build)
            with self.opener.open(base_url + "/hue/accounts/login/", data=body, timeout=60) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            if exc.code != 302:
                raise
        session = next((c.value for c in self.jar if c.name == "sessionid"), None)
        assert session, f"{username} could not sign in to Hue"
        self.opener.addheaders = [("Cookie", f"csrftoken={token}; sessionid={session}")]

    def get(self, path, timeout=60):
        import urllib.error

        try:
            with self.opener.open(self.base_url + path, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
