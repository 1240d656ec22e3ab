"""hive-ha's loggers inside Hue, kept working across Hue's log set-up."""
import logging

#: The loggers hive-ha writes to (its operator lines: "hive-ha failover ...", "hive-ha reset ...").
LOGGER_PREFIXES = ("hive_ha", "hue_integration")


def enable_loggers() -> None:
    """Undo what Hue's log set-up did to hive-ha's loggers: Hue applies its log.conf with ``logging.config.fileConfig``
    after hive-ha's modules were imported (at start-up, and again when its gunicorn server starts), and fileConfig
    disables every existing logger the file does not name. fileConfig cannot disable a logger on purpose, so a
    disabled one here was never the admin's choice; levels and handlers from the admin's log.conf stay as they are."""
    manager = logging.getLogger().manager
    for name, logger in list(manager.loggerDict.items()):
        if name.split(".", 1)[0] in LOGGER_PREFIXES and isinstance(logger, logging.Logger):
            logger.disabled = False
