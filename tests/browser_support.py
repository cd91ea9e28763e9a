"""What the Chromium tests share: the module-level skip when Playwright or Debian's Chromium is missing,
a headless Chromium (``chromium``), and a Flask application served over HTTP on loopback
(``serving``), which a browser needs and the test client cannot give. Import it first in a browser test
module: importing it skips the module when the browser cannot run."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

CHROMIUM = "/usr/bin/chromium"
playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the core's test extra)")
if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)", allow_module_level=True)


@contextlib.contextmanager
def chromium():
    """A headless Chromium (Debian's) while the block runs."""
    with playwright_api.sync_playwright() as driver:
        instance = driver.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield instance
        finally:
            instance.close()


@contextlib.contextmanager
def serving(app, name: str, port: int = 0) -> Iterator[str]:
    """``app`` served over HTTP on loopback (``port``; 0: a free one) while the block runs; its base URL."""
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
