"""The Threads plugin's fixtures (``threads_support``); Herald's test kit is loaded with ``-p herald.testing``
(Herald's setup.cfg, or this plugin's pyproject.toml when its tests run on their own)."""

from threads_support import account, app, client, threads  # noqa: F401 (fixtures)
