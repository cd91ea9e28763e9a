"""A private ``redis-server`` for tests that need to stop Redis under a running application.

It listens on a free loopback port, keeps nothing on disk (``--save "" --appendonly no`` and a
temporary working directory) and is ready when it answers PING. Use it as a context manager::

    with RedisServer() as server:
        app = create_app(dataclasses.replace(config, redis_url=server.url))
        ...
        server.kill()
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time

import redis

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """One ``redis-server`` process of the test's own."""

    def __init__(self, binary: str = REDIS_SERVER):
        self.binary = binary
        self.process: subprocess.Popen | None = None
        self.port: int | None = None
        self._directory: tempfile.TemporaryDirectory | None = None

    @property
    def url(self) -> str:
        """The server's URL (database 0)."""
        assert self.port is not None, "start() the server first"
        return f"redis://127.0.0.1:{self.port}/0"

    def ping(self, timeout: float = 0.2) -> bool:
        """True when the server answers PING within ``timeout`` seconds."""
        # from_url, not redis.Redis(...): the constructor's default Retry backs off for seconds on a
        # refused connection, which would turn each poll into a long wait.
        client = redis.Redis.from_url(self.url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def start(self, timeout: float = 10.0, attempts: int = 3) -> RedisServer:
        """Start the server and return once it answers PING (at most ``timeout`` seconds per attempt).

        The port is picked free just before starting; when another process takes it first the
        server exits at once and the next attempt uses a new port.
        """
        self._directory = tempfile.TemporaryDirectory(prefix="herald-test-redis-")
        for _ in range(attempts):
            self.port = free_port()
            self.process = subprocess.Popen(
                [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", self._directory.name, "--daemonize", "no", "--logfile", ""],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.ping(timeout=0.1):
                    return self
                try:
                    # Wait for the process to exit (port taken, bad option), at most 20 ms per round.
                    self.process.wait(timeout=0.02)
                except subprocess.TimeoutExpired:
                    continue
                break  # it exited: try again on another port
            else:
                self.kill()
                raise RuntimeError(f"redis-server on port {self.port} did not answer PING within {timeout} s")
        self.kill()
        raise RuntimeError(f"redis-server did not start in {attempts} attempts")

    def kill(self) -> None:
        """Kill the server at once (SIGKILL, like a crash) and wait until it is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        if self.process is not None:
            self.process.wait(timeout=10)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server politely (SIGTERM), killing it when it does not exit within ``timeout``."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def close(self) -> None:
        """Make sure the server is gone and remove its working directory."""
        self.kill()
        if self._directory is not None:
            self._directory.cleanup()
            self._directory = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.close()
