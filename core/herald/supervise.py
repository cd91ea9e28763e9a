"""Keeping ``herald run``'s processes alive, and never leaving one behind.

A child of ``herald run`` (web, the workers, cron) that dies is started again after a pause that doubles
with each death in a row (1 s, 2 s, 4 s … at most 30 s; back to 1 s once it has run a minute), and
each death and restart is logged. A process Herald starts ends with its parent, whatever way the
parent ends (SIGKILL included): the kernel sends it SIGTERM (``PR_SET_PDEATHSIG``, set through
pyprctl). ``herald worker`` sets the same for what it forks (RQ's scheduler, fork work-horses).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable

import pyprctl

log = logging.getLogger("herald.supervise")

FIRST_PAUSE_SECONDS = 1.0
LONGEST_PAUSE_SECONDS = 30.0
# A child that ran this long before dying starts again after the first pause, not a longer one.
STEADY_AFTER_SECONDS = 60.0

_forks_die_with_parent = False


def die_with_parent() -> None:
    """Have the kernel send this process SIGTERM when its parent ends (run in the child)."""
    parent = os.getppid()
    pyprctl.set_pdeathsig(signal.SIGTERM)
    if os.getppid() != parent:  # the parent ended before the setting took effect
        os.kill(os.getpid(), signal.SIGTERM)


def forks_die_with_parent() -> None:
    """From now on, every process this one forks ends when this one ends (registered once)."""
    global _forks_die_with_parent
    if not _forks_die_with_parent:
        os.register_at_fork(after_in_child=die_with_parent)
        _forks_die_with_parent = True


class Child:
    """One supervised command: started with :meth:`start`, restarted by :meth:`check` after it died."""

    def __init__(self, name: str, command: list[str], env: dict[str, str],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.command = command
        self.env = env
        self.clock = clock
        self.process: subprocess.Popen | None = None
        self.started_at = 0.0
        self.pause = FIRST_PAUSE_SECONDS
        self.restart_at: float | None = None

    def start(self) -> None:
        """Start the command (it ends with this process)."""
        self.process = subprocess.Popen(self.command, env=self.env, preexec_fn=die_with_parent)
        self.started_at = self.clock()
        self.restart_at = None

    def check(self) -> None:
        """Notice a death (and plan the restart), or restart once the pause is over."""
        now = self.clock()
        if self.restart_at is not None:
            if now >= self.restart_at:
                log.warning("restarting Herald's %s", self.name)
                self.start()
            return
        status = self.process.poll()
        if status is None:
            return
        if now - self.started_at >= STEADY_AFTER_SECONDS:
            self.pause = FIRST_PAUSE_SECONDS
        log.error("Herald's %s exited (%s); starting it again in %g s", self.name, _describe(status), self.pause)
        self.restart_at = now + self.pause
        self.pause = min(self.pause * 2, LONGEST_PAUSE_SECONDS)


def stop_process(process: subprocess.Popen | None, timeout: float = 10.0) -> None:
    """SIGTERM ``process`` (if it runs) and wait for it, with SIGKILL after ``timeout`` seconds."""
    stop_processes([process], timeout)


def stop_processes(processes: list[subprocess.Popen | None], timeout: float = 10.0) -> None:
    """SIGTERM every running one of ``processes`` at once, then wait for them all; those still running
    ``timeout`` seconds later get SIGKILL. Stopping them together, a shutdown takes as long as the
    slowest process, not the sum of all (a web server draining, a worker finishing its job)."""
    running = [process for process in processes if process is not None and process.poll() is None]
    for process in running:
        process.terminate()
    deadline = time.monotonic() + timeout
    for process in running:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _describe(status: int) -> str:
    """``status 1`` or ``killed by SIGKILL``: a ``Popen.returncode`` as people say it."""
    if status < 0:
        return f"killed by {signal.Signals(-status).name}"
    return f"status {status}"
