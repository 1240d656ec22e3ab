"""The public surface (``hive_ha.__all__``) and the layering the folder list promises, checked from the code."""
import ast
import importlib.metadata
import inspect
import pathlib
import subprocess
import sys

import pytest

import hive_ha
from hive_ha import errors

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "hive_ha"
# Layers, lowest first: a module may import its own layer and those before it, never one after it.
# ``testing`` is the users' test harness (needs nothing of hive-ha); the sandbox runs servers for ``hive-ha sandbox``.
LAYERS = ["redact", "errors", "_version", "extras", "testing", "model", "io", "core", "clients", "lb", "sandbox", "cli"]


def test_all_names_resolve_and_every_public_error_is_exported():
    for name in hive_ha.__all__:
        assert getattr(hive_ha, name) is not None, name
    raised = {name for name, obj in vars(errors).items()
              if inspect.isclass(obj) and issubclass(obj, errors.HiveHAError)}
    assert raised <= set(hive_ha.__all__)
    assert not {"Backoff", "EndpointCache", "Layout"} & set(hive_ha.__all__)  # internals stay in their modules


def test_one_version_string():
    assert hive_ha.__version__ == importlib.metadata.version("hive-ha")
    setup = (ROOT / "setup.py").read_text()
    assert hive_ha.__version__ not in setup  # read from hive_ha/_version.py, not written twice


@pytest.mark.process
def test_import_hive_ha_loads_no_driver_rig_or_command_line():
    code = "import sys, hive_ha; print(sorted(m for m in sys.modules if m.split('.')[0] in " \
           "('pyhive', 'TCLIService', 'thrift', 'sqlalchemy') or m.startswith(('hive_ha.sandbox', 'hive_ha.cli', " \
           "'hive_ha.clients', 'hive_ha.lb', 'hive_ha.testing'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _imports(path: pathlib.Path):
    """The hive_ha modules ``path`` imports at module level and inside functions (all of them count for cycles)."""
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hive_ha"):
            assert node.level == 0
            if node.module != "hive_ha":  # every hive_ha import runs the facade; what counts is the submodule
                yield node.module
            for alias in node.names:  # "from hive_ha.io import kerberos" imports the module hive_ha.io.kerberos
                package = PACKAGE.joinpath(*node.module.split(".")[1:])
                if (package / f"{alias.name}.py").exists():
                    yield f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith("hive_ha"))


def _runtime_nodes(tree):
    """Every node but those under ``if TYPE_CHECKING:`` (annotations only, never run)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", "")) == "TYPE_CHECKING":
            yield from (n for child in node.orelse for n in ast.walk(child))
            continue
        yield node
        yield from _runtime_nodes(node)


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "hive_ha"


def test_no_module_imports_a_later_layer():
    wrong = []
    for name, path in _modules():
        mine = _layer(name)
        if mine == "hive_ha":
            continue
        for target in _imports(path):
            theirs = _layer(target)
            if theirs == "hive_ha" or LAYERS.index(theirs) > LAYERS.index(mine):
                wrong.append(f"{name} -> {target}")
    assert wrong == []


def test_no_import_cycles():
    graph = {name: {t for t in _imports(path) if t != name} for name, path in _modules()}
    # a package's __init__ is imported before its submodules: "a.b -> a" is implied, not a cycle of the code
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if nxt.startswith(node + ".") or node.startswith(nxt + "."):
                continue
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []
