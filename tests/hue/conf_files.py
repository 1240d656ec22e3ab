"""The files that configure a Hue installation (hue.ini, log.conf), without starting anything: what
tests/hue/environment.py writes for the Hue under test and tests/hue/hue_process.py for Hue's own processes."""
import os

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
