"""The raw-RQ baseline the benchmarks measure against: RQ's own ``rq worker`` as its users run it."""

from __future__ import annotations

import sys
from pathlib import Path

RQ = Path(sys.executable).parent / "rq"
RQ_CLASSES = {"simple": "rq.SimpleWorker", "fork": "rq.Worker"}


def worker_command(redis_url: str, queues, kind: str = "simple") -> list[str]:
    """``rq worker`` with RQ's worker class of ``kind`` (``simple`` or ``fork``) on ``queues``, with the
    serializer, scheduler and log level ``herald worker`` uses."""
    return [str(RQ), "worker", "--url", redis_url, "--worker-class", RQ_CLASSES[kind], "--serializer", "json",
            "--with-scheduler", "--logging_level", "WARNING", *queues]
