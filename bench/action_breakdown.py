"""Where the CPU of one ``create_post`` through ``POST /api/webhooks`` goes, piece by piece.

The WSGI app is called directly in this process (no gunicorn, no sockets), with a real key, Redis
rate limiting, schema validation and a SQLite write, as ``bench/action_throughput.py`` drives it.
Each piece is then switched off and on in alternating batches of ``--batch`` requests (the order
flips every round), and the CPU time per request of each side is summed over ``--rounds`` rounds:
the difference is what the piece costs. Alternating batches in one process is what makes these
figures steadier than separate runs on a shared machine, whose speed drifts by a tenth or more
between runs.

Pieces are switched off by replacing one function for the batch (a measuring device only: Herald
has no such switches). The echo line is the bare Flask JSON echo app of ``action_throughput.py``,
called the same way, for scale.

    .venv/bin/python bench/action_breakdown.py [--rounds 30] [--batch 100]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
BODY = json.dumps({"action": "create_post", "client_id": 1, "topic": "Text on design",
                   "caption": "Instagram caption", "post_type": "post", "platforms": "instagram"}).encode()


def prepare() -> str:
    """A fresh data directory with a demo workspace; sets the environment; returns its API key."""
    tmp = tempfile.mkdtemp(prefix="herald-breakdown-")
    os.environ.update(HERALD_DATA_DIR=tmp, HERALD_REDIS_URL="redis://127.0.0.1:6379/12",
                      HERALD_RATE_LIMIT="100000000/minute", HERALD_SECRET_KEY="bench")
    subprocess.run([str(BIN / "herald"), "init-db"], check=True, capture_output=True)
    setup = subprocess.run([str(BIN / "herald"), "demo"], check=True, capture_output=True, text=True)
    return next(line.split()[-1] for line in setup.stdout.splitlines() if line.startswith("API key"))


def caller(app, key: str, expected: str):
    """A function that sends one ``create_post`` to the WSGI ``app`` and checks the status."""

    def call() -> None:
        environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/api/webhooks", "SERVER_NAME": "127.0.0.1",
                   "SERVER_PORT": "5000", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
                   "wsgi.input": io.BytesIO(BODY), "CONTENT_TYPE": "application/json",
                   "CONTENT_LENGTH": str(len(BODY)), "HTTP_X_API_KEY": key, "REMOTE_ADDR": "127.0.0.1",
                   "wsgi.errors": sys.stderr, "wsgi.multithread": False, "wsgi.multiprocess": True,
                   "wsgi.run_once": False}
        statuses = []
        body = app(environ, lambda status, headers, exc_info=None: statuses.append(status))
        b"".join(body)
        if hasattr(body, "close"):
            body.close()
        if not statuses[0].startswith(expected):
            raise RuntimeError(f"unexpected answer {statuses[0]}")

    return call


@contextlib.contextmanager
def replaced(target, name: str, value):
    original = getattr(target, name)
    setattr(target, name, value)
    try:
        yield
    finally:
        setattr(target, name, original)


def pieces(runtime):
    """``(label, context manager factory that switches the piece off)``."""
    from herald import events
    from herald.captions import heuristic
    from herald.db.models import Client, db
    from herald.default_plugins import core_actions
    from herald.publishing import posts

    with db.connection_context():
        client = Client.get_by_id(1)

    @contextlib.contextmanager
    def no_rate_limit():
        runtime.limiter.enabled = False
        try:
            yield
        finally:
            runtime.limiter.enabled = True

    return [
        ("rate limit (flask-limiter, limits' Redis storage)", no_rate_limit),
        ("schema validation", lambda: replaced(runtime.schemas, "validate", lambda name, instance: None)),
        ("caption score", lambda: replaced(heuristic, "quick_value", lambda caption, platforms: 1.0)),
        ("event row, dispatch and mark", lambda: replaced(events, "record", lambda *args, **kwargs: None)),
        ("version row", lambda: replaced(posts, "record_version", lambda *args, **kwargs: None)),
        ("client lookup", lambda: replaced(core_actions, "get_client", lambda *args, **kwargs: client)),
    ]


def alternate(call, switch_off, rounds: int, batch: int) -> tuple[float, float]:
    """CPU ms per request with the piece on and off, from alternating batches."""
    spent = {True: 0.0, False: 0.0}
    for number in range(rounds):
        for on in ((True, False) if number % 2 else (False, True)):
            with contextlib.nullcontext() if on else switch_off():
                started = time.process_time()
                for _ in range(batch):
                    call()
                spent[on] += time.process_time() - started
    requests = rounds * batch
    return spent[True] * 1000 / requests, spent[False] * 1000 / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()

    key = prepare()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from action_throughput import ECHO_APP

    from herald.web.app import create_app

    app = create_app()
    call = caller(app, key, "201")
    for _ in range(300):  # warm caches and the key lookup
        call()
    echo_namespace: dict = {}
    exec(ECHO_APP, echo_namespace)
    echo = caller(echo_namespace["app"], key, "201")
    started = time.process_time()
    for _ in range(args.rounds * args.batch):
        echo()
    echo_ms = (time.process_time() - started) * 1000 / (args.rounds * args.batch)

    runtime = app.extensions["herald"]
    print(f"{'piece':<50} {'on ms':>7} {'off ms':>7} {'costs ms':>9}")
    for label, switch_off in pieces(runtime):
        on, off = alternate(call, switch_off, args.rounds, args.batch)
        print(f"{label:<50} {on:7.3f} {off:7.3f} {on - off:9.3f}")
    print(f"{'echo app, whole request':<50} {echo_ms:7.3f}")
    print("action_breakdown: CPU per create_post in one process, each piece off and on in alternating "
          f"batches of {args.batch} ({args.rounds} rounds)")


if __name__ == "__main__":
    main()
