"""``python -m herald.crash_worker --burst``: ``herald worker`` on a clock that stands at
``HERALD_TEST_CLOCK_AT`` (seconds since the epoch), the crash test's workers
(:func:`herald.crash_testing.publish_through_crashes`): the test moves time between its rounds, and
each worker it starts runs at the test's time."""

from __future__ import annotations

import datetime as dt
import os
import sys

from flask.cli import ScriptInfo

from . import cli
from .clock import FakeClock
from .config import Config
from .crash_testing import CLOCK_VARIABLE
from .runtime import Runtime
from .web.app import create_app


def main() -> None:
    """Run ``herald worker`` with the arguments given, on the test's clock."""
    at = dt.datetime.fromtimestamp(float(os.environ[CLOCK_VARIABLE]), dt.UTC).replace(tzinfo=None)
    # A test's worker, as the test's application is: media links on a loopback HERALD_PUBLIC_URL are allowed.
    app = create_app(Runtime.build(Config.from_env(testing=True), clock=FakeClock(at)))
    cli.cli.main(args=["worker", *sys.argv[1:]], obj=ScriptInfo(create_app=lambda: app), prog_name="herald")


if __name__ == "__main__":
    main()
