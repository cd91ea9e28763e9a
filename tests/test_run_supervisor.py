"""``herald run`` as a supervisor: it creates the schema of a fresh data directory, starts a child that
died again (logging it), and nothing it started outlives it, even when it is SIGKILLed. ``serve``,
``worker`` and ``cron`` refuse a database without the schema, naming ``herald init-db``."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from redis_server import free_port
from serve_drive import HERALD, START_TIMEOUT, output, wait_for_health
from test_cli import descendants, terminate_and_assert_tree_exits, wait_gone


@pytest.fixture
def fresh_env(herald_env, tmp_path) -> dict[str, str]:
    """``herald_env`` on a data directory and SQLite database nobody has initialised."""
    data = tmp_path / "fresh"
    return {**herald_env, "HERALD_DATA_DIR": str(data), "HERALD_DATABASE_URL": f"sqlite:///{data / 'herald.db'}"}


def herald_children(pid: int, command: str, *args: str) -> set[int]:
    """The ``herald COMMAND`` processes ``pid`` started with each of ``args`` among their arguments (not what
    they forked in turn)."""
    found = set()
    for child in descendants(pid):
        try:
            argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            parent = int(Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid and b"herald.cli" in argv and all(arg.encode() in argv for arg in (command, *args)):
            found.add(child)
    return found


def wait_for_new_child(process, command: str, old: set[int], *args: str) -> int:
    """Wait for ``herald COMMAND ARGS`` to be running under ``process`` again (a process other than ``old``)."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        new = herald_children(process.pid, command, *args) - old
        if new:
            return new.pop()
        time.sleep(0.05)
    pytest.fail(f"herald {command} was not started again:\n{output(process)}")


def test_run_creates_the_schema_and_starts_a_killed_worker_again(fresh_env, start_herald):
    port = free_port()
    process = start_herald("run", "--port", port, env=fresh_env)
    wait_for_health(process, port)
    assert "Applied migrations:" in output(process)
    assert len(herald_children(process.pid, "worker")) == 3, output(process)  # one per queue
    workers = herald_children(process.pid, "worker", "publish")
    assert len(workers) == 1, output(process)
    worker = workers.pop()
    deadline = time.monotonic() + START_TIMEOUT
    while not (scheduler := descendants(worker)):  # RQ's scheduler, forked once the worker has started
        assert time.monotonic() < deadline, "the worker runs its scheduler in a child"
        time.sleep(0.05)

    os.kill(worker, signal.SIGKILL)
    assert wait_gone(scheduler, timeout=10) == set(), "the scheduler outlived its worker"
    restarted = wait_for_new_child(process, "worker", {worker}, "publish")
    assert "Herald's publish worker exited (killed by SIGKILL); starting it again in 1 s" in output(process)
    assert process.poll() is None  # the others were not shut down
    wait_for_health(process, port)
    assert restarted in herald_children(process.pid, "worker", "publish")
    terminate_and_assert_tree_exits(process)


def test_nothing_outlives_a_killed_herald_run(herald_env, start_herald):
    port = free_port()
    process = start_herald("run", "--port", port, env=herald_env)
    wait_for_health(process, port)
    tree = descendants(process.pid)
    assert len(tree) >= 4, tree  # worker (and its scheduler), cron, gunicorn and its workers
    os.kill(process.pid, signal.SIGKILL)  # the parent alone, not its process group
    process.wait(timeout=10)
    assert wait_gone(tree, timeout=15) == set(), "children outlived herald run"


@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["worker", "--burst"], ["cron"]])
def test_commands_refuse_a_database_without_the_schema(fresh_env, command):
    result = subprocess.run([*HERALD, *command], env=fresh_env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "The database has no schema yet: run `herald init-db` first" in result.stderr
