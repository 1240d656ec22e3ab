"""The markers `make test-fast` selects on agree with each other: the Makefile's selection leaves out exactly the
markers tests/conftest.py guards (and ``slow``), each of them is registered in setup.cfg, and every shared fixture
that starts a server gives the tests using it a marker."""
import ast
import configparser
import os
import re

from tests import _db_fixtures, _hs2_fixtures, _krb_fixtures, _spark_fixtures, _zk_fixtures
from tests.conftest import EXTERNAL, FIXTURE_MARKERS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_fast_selection_leaves_out_exactly_the_guarded_markers():
    with open(os.path.join(ROOT, "Makefile")) as handle:
        expression = re.search(r"^FAST_TESTS := (.*)$", handle.read(), re.M).group(1)
    assert re.fullmatch(r"not \(([a-z0-9_ ]+)\)", expression), expression
    assert expression[len("not ("):-1].split(" or ") == [*EXTERNAL, "slow"]


def test_every_marker_is_registered():
    config = configparser.ConfigParser()
    config.read(os.path.join(ROOT, "setup.cfg"))
    registered = {line.split(":", 1)[0].strip() for line in config["tool:pytest"]["markers"].strip().splitlines()}
    assert set(EXTERNAL) | {"slow"} <= registered
    assert set(FIXTURE_MARKERS.values()) <= set(EXTERNAL)


def fixtures_defined_in(module):
    """``{name: names of the fixtures it requests}`` of the fixtures a module defines."""
    with open(module.__file__) as handle:
        tree = ast.parse(handle.read())
    return {node.name: {arg.arg for arg in node.args.args} for node in tree.body if isinstance(node, ast.FunctionDef)
            and any("fixture" in ast.unparse(decorator) for decorator in node.decorator_list)}


def test_every_server_fixture_gives_a_marker():
    defined = {}
    for module in (_zk_fixtures, _hs2_fixtures, _krb_fixtures, _spark_fixtures, _db_fixtures):
        defined.update(fixtures_defined_in(module))
    # start nothing: a path, Registrar(hosts) for given hosts, certificate files
    namers = {"zk_namespace", "registrar_factory", "hs2_tls"}
    wrappers = {name for name, requested in defined.items() if requested & set(FIXTURE_MARKERS)}
    assert set(defined) - namers - wrappers == set(FIXTURE_MARKERS) - wrappers  # the rest start servers themselves
    assert set(FIXTURE_MARKERS) <= set(defined)
    assert {"zk_client", "registrar", "hs2_server", "krb_identity", "krb_registrar"} <= wrappers
