"""The files that configure a Hue installation (hue.ini, log.conf), without starting anything: what
tests/hue/environment.py writes for the Hue under test and tests/hue/hue_process.py for Hue's own processes."""
import os
import textwrap

#: A log.conf as a Hue deployment has one (Hue's applies it with logging.config.fileConfig), writing to a file.
LOG_CONF = """\
[loggers]
keys=root,access

[handlers]
keys=logfile

[formatters]
keys=default

[logger_root]
handlers=logfile

[logger_access]
handlers=logfile
qualname=access

[handler_logfile]
class=handlers.RotatingFileHandler
level=DEBUG
formatter=default
args=('%LOG_DIR%/hue.log', 'a', 10000000, 2)

[formatter_default]
format=[%(asctime)s] %(name)-24s %(levelname)-8s %(message)s
"""


def write_conf_dir(conf_dir, hue_ini, log_conf=LOG_CONF):
    os.makedirs(conf_dir, exist_ok=True)
    with open(os.path.join(conf_dir, "hue.ini"), "w") as f:
        f.write(hue_ini)
    if log_conf:
        with open(os.path.join(conf_dir, "log.conf"), "w") as f:
            f.write(log_conf)


def discovery_ini(zk_hosts, namespace, hive_ha=""):
    """hue.ini lines that switch hive-ha on for HiveServer2 dynamic discovery under ``namespace``, as an admin writes
    them (Hue's own ``[beeswax]`` and ``[libzookeeper]`` keys), with ``hive_ha``: ``[hive_ha]`` keys, one per line."""
    ini = f"""
[beeswax]
hive_discovery_hs2=true
hive_discovery_hiveserver2_znode={namespace}
[libzookeeper]
ensemble={zk_hosts}
"""
    if hive_ha:
        ini += "[hive_ha]\n" + textwrap.dedent(hive_ha).strip() + "\n"
    return ini
