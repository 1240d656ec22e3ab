"""Somebody else's Hue plugin next to hive-ha, as a deployment may have one: a package Hue finds through its
``desktop.sdk.application`` entry point (a ``.dist-info`` on the Python path, as pip installs one), whose models module
changes a Hue internal when Django imports it, before any app's ``ready()``. With it a real ``hue`` process meets a
Hue that differs from the one hive-ha was built against: a function replaced by another plugin, or one renamed (what a
Hue upgrade does)."""
import os
import textwrap

NAME = "hue_foreign_plugin"


def write(directory, change, module, attribute, new_name=None):
    """The plugin in ``directory`` (put it on ``PYTHONPATH``). ``change``: ``"replace"`` sets ``module.attribute`` to
    a function of the plugin's; ``"rename"`` moves it to ``module.new_name``."""
    if change == "replace":
        body = f"""\
            def replacement(*args, **kwargs):
                return original(*args, **kwargs)


            original = getattr(target, {attribute!r})
            setattr(target, {attribute!r}, replacement)
            """
    elif change == "rename":
        body = f"""\
            setattr(target, {new_name!r}, getattr(target, {attribute!r}))
            delattr(target, {attribute!r})
            """
    else:
        raise ValueError(change)
    package = os.path.join(directory, NAME)
    dist_info = os.path.join(directory, f"{NAME}-1.0.dist-info")
    os.makedirs(package)
    os.makedirs(dist_info)
    files = {
        os.path.join(package, "__init__.py"): '"""Changes a Hue internal (tests/hue/foreign_plugin.py)."""\n',
        os.path.join(package, "settings.py"): f'DJANGO_APPS = ["{NAME}"]\nNICE_NAME = "foreign plugin"\n',
        os.path.join(package, "models.py"): "import importlib\n\n" + f"target = importlib.import_module({module!r})\n"
                                            + textwrap.dedent(body),
        os.path.join(dist_info, "METADATA"): f"Metadata-Version: 2.1\nName: {NAME}\nVersion: 1.0\n",
        os.path.join(dist_info, "entry_points.txt"): f"[desktop.sdk.application]\n{NAME} = {NAME}\n",
    }
    for path, text in files.items():
        with open(path, "w") as f:
            f.write(text)
    return directory
