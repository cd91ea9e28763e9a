"""``herald worker`` on a clock ahead of the system's by ``HERALD_TEST_CLOCK_OFFSET`` seconds:
``python clocked_worker.py --burst``. The crash tests' workers, which they SIGKILL, are real
``herald worker`` commands; the test moves time for them with this offset (``drive.OffsetClock``),
never by rewriting what they stored."""

from __future__ import annotations

import os
import sys

from flask.cli import ScriptInfo

from drive import OffsetClock
from herald import cli
from herald.config import Config
from herald.runtime import Runtime
from herald.web.app import create_app


def main() -> None:
    """Run ``herald worker`` with the arguments given, on the offset clock."""
    clock = OffsetClock(float(os.environ.get("HERALD_TEST_CLOCK_OFFSET", "0")))
    app = create_app(Runtime.build(Config.from_env(), clock=clock))
    cli.cli.main(args=["worker", *sys.argv[1:]], obj=ScriptInfo(create_app=lambda: app), prog_name="herald")


if __name__ == "__main__":
    main()
