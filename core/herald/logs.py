"""Console logging of the long-running ``herald`` commands (``run``, ``serve``, ``worker``, ``cron``).

One handler on the root logger writes to stderr. Herald's loggers (``herald`` and below) log at
``HERALD_LOG_LEVEL`` (INFO: start-up lines, what the periodic jobs did, warnings); RQ's at
``HERALD_RQ_LOG_LEVEL`` (WARNING: RQ logs four INFO lines for every job, and ``herald cron`` enqueues
one every 30 s, which buried everything else); any other library's at WARNING. RQ adds no handler of
its own when one is configured, so its warnings and errors (a failed job's traceback) come out here. Every line passes
:class:`herald.net.redaction.RedactSecrets`: no portal or media link token, no secret query value.
"""

from __future__ import annotations

import logging.config

from .config import Config

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
DATE_FORMAT = "%H:%M:%S"
# The loggers RQ configures itself (rq.logutils.setup_loghandlers) when nothing else did.
RQ_LOGGERS = ("rq", "rq.worker", "rq.job", "rq.scheduler", "rq.cron")


def configure(config: Config) -> None:
    """Set up this process's console logging from ``config`` (replacing what was there), then warn of
    the removed settings ``config`` found set (:data:`herald.config.REMOVED_SETTINGS`)."""
    rq = {"level": config.rq_log_level, "handlers": [], "propagate": True}
    logging.config.dictConfig({
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"console": {"format": FORMAT, "datefmt": DATE_FORMAT}},
        "filters": {"redact": {"()": "herald.net.redaction.RedactSecrets"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "console",
                                 "stream": "ext://sys.stderr", "filters": ["redact"]}},
        "root": {"level": "WARNING", "handlers": ["console"]},
        "loggers": {"herald": {"level": config.log_level, "handlers": [], "propagate": True},
                    **{name: dict(rq) for name in RQ_LOGGERS}},
    })
    for warning in config.removed_setting_warnings():
        logging.getLogger("herald.config").warning("%s", warning)
