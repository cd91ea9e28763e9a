"""The ``herald`` command: most commands through Flask's CLI runner against the test application;
``serve``, ``worker`` and ``run`` as real processes on a free port."""

from __future__ import annotations

import dataclasses
import gc
import json
import logging
import os
import re
import select
import subprocess
import time
import weakref
from pathlib import Path

import flask
import pytest
import redis
from click.testing import CliRunner
from redis_server import free_port
from serve_drive import HERALD, START_TIMEOUT, call, output, wait_for_health
from test_readme_tables import shipped_plugins

import herald.db.models
from conftest import assert_error, start_app
from herald import logs
from herald.auth import digest
from herald.cli import cli, freeze_start_up
from herald.config import Config
from herald.db.models import ApiKey, Client, User, Workspace, db
from herald.plugins import PluginRegistry, get_plugin_manager
from herald.readme_tables import settings_table
from herald.work.queue import get_queue


@pytest.fixture(autouse=True)
def fresh_enablement_cache():
    """Workspace ids repeat from one test's database to the next; forget enablement cached by earlier tests."""
    herald.db.models._plugin_cache.clear()


@pytest.fixture
def herald_cmd(app):
    """Run ``herald ARGS…`` against ``app``; returns click's result."""
    runner = app.test_cli_runner()

    def run(*args, **kwargs):
        return runner.invoke(cli, [str(arg) for arg in args], **kwargs)

    return run


def last_line(result) -> str:
    return result.output.strip().splitlines()[-1]


def make_workspace_with_client(herald_cmd, name):
    assert herald_cmd("create-workspace", name).exit_code == 0
    workspace = Workspace.get(Workspace.name == name)
    return workspace, Client.create(workspace=workspace, name=f"{name} client")


def list_posts(client, key, client_id):
    return client.post("/api/webhooks", json={"action": "list_posts", "client_id": client_id},
                       headers={"X-API-Key": key})


# -- init-db --------------------------------------------------------------------------------------

def test_init_db_applies_migrations_once_then_says_up_to_date(clock, config, tmp_path):
    app = start_app(clock, dataclasses.replace(config, database_url=f"sqlite:///{tmp_path / 'fresh.db'}"))
    runner = app.test_cli_runner()
    first = runner.invoke(cli, ["init-db"])
    assert first.exit_code == 0, first.output
    assert first.output.startswith("Applied migrations: 0001_initial")
    second = runner.invoke(cli, ["init-db"])
    assert second.exit_code == 0, second.output
    assert second.output.strip() == "Database schema is up to date."
    with app.app_context():
        assert Workspace.select().count() == 0
    db.obj.close_all()


# -- workspaces and users -------------------------------------------------------------------------

def test_create_workspace_prints_its_id_and_plan(herald_cmd):
    result = herald_cmd("create-workspace", "Blue Agency", "--plan", "pro")
    assert result.exit_code == 0, result.output
    workspace = Workspace.get(Workspace.name == "Blue Agency")
    assert workspace.plan == "pro"
    assert result.output.strip() == f"Created workspace 'Blue Agency' (id {workspace.id}, plan pro)."


def test_create_workspace_with_a_taken_name_is_an_error(herald_cmd):
    herald_cmd("create-workspace", "Blue Agency")
    result = herald_cmd("create-workspace", "Blue Agency")
    assert result.exit_code == 1
    assert "A workspace named 'Blue Agency' exists already." in result.output
    assert Workspace.select().count() == 1


def test_create_user_with_password_option_can_log_in(herald_cmd, client):
    herald_cmd("create-workspace", "Blue Agency")
    result = herald_cmd("create-user", "Blue Agency", "Ana@Example.com", "--role", "admin",
                        "--password", "correct horse")
    assert result.exit_code == 0, result.output
    assert "Created admin ana@example.com in workspace 'Blue Agency'." in result.output
    assert User.get(User.email == "ana@example.com").role == "admin"
    response = client.post("/api/login", json={"email": "ana@example.com", "password": "correct horse"})
    assert response.status_code == 200, response.get_json()


def test_create_user_with_short_password_or_taken_email_is_an_error(herald_cmd):
    herald_cmd("create-workspace", "Blue Agency")
    short = herald_cmd("create-user", "Blue Agency", "ana@example.com", "--password", "short")
    assert short.exit_code == 1
    assert "at least 8 characters" in short.output
    herald_cmd("create-user", "Blue Agency", "ana@example.com", "--password", "long enough")
    taken = herald_cmd("create-user", "Blue Agency", "ana@example.com", "--password", "long enough")
    assert taken.exit_code == 1
    assert "already exists" in taken.output
    assert User.select().count() == 1


def test_create_user_in_unknown_workspace_is_an_error(herald_cmd):
    result = herald_cmd("create-user", "Nowhere", "ana@example.com", "--password", "long enough")
    assert result.exit_code == 1
    assert "No workspace 'Nowhere'" in result.output


# -- API keys -------------------------------------------------------------------------------------

def test_create_key_prints_key_alone_on_last_line(herald_cmd):
    herald_cmd("create-workspace", "Blue Agency")
    result = herald_cmd("create-key", "Blue Agency", "--name", "zapier")
    assert result.exit_code == 0, result.output
    key = last_line(result)
    assert re.fullmatch(r"hrld_live_[0-9A-Za-z]{43}", key)
    row = ApiKey.get()
    assert row.name == "zapier"
    assert key not in row.display
    assert f"#{row.id}" in result.output


def test_key_with_one_scope_works_for_that_scope_only(herald_cmd, client):
    workspace, client_row = make_workspace_with_client(herald_cmd, "Blue Agency")
    result = herald_cmd("create-key", workspace.id, "--scope", "posts:read")
    assert result.exit_code == 0, result.output
    assert "with scopes: posts:read." in result.output
    key = last_line(result)

    assert list_posts(client, key, client_row.id).status_code == 200
    create = {"action": "create_post", "client_id": client_row.id, "caption": "x", "platforms": "instagram"}
    error = assert_error(client.post("/api/webhooks", json=create, headers={"X-API-Key": key}), 403, "forbidden")
    assert "'posts:write'" in error["message"]


def test_create_key_with_unknown_scope_is_an_error(herald_cmd):
    herald_cmd("create-workspace", "Blue Agency")
    result = herald_cmd("create-key", "Blue Agency", "--scope", "posts:delete")
    assert result.exit_code == 1
    assert "Unknown scope 'posts:delete'" in result.output
    assert ApiKey.select().count() == 0


def test_create_key_for_unknown_workspace_is_an_error(herald_cmd):
    result = herald_cmd("create-key", "Nowhere")
    assert result.exit_code == 1
    assert "No workspace 'Nowhere'" in result.output


def test_revoked_key_is_401(herald_cmd, client):
    workspace, client_row = make_workspace_with_client(herald_cmd, "Blue Agency")
    key = last_line(herald_cmd("create-key", "Blue Agency"))
    assert list_posts(client, key, client_row.id).status_code == 200
    key_id = ApiKey.get().id

    result = herald_cmd("revoke-key", "Blue Agency", key_id)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"Revoked key #{key_id}."
    assert_error(list_posts(client, key, client_row.id), 401, "unauthorized")


def test_revoking_unknown_or_revoked_key_or_another_workspaces_key_is_an_error(herald_cmd):
    herald_cmd("create-workspace", "Blue Agency")
    herald_cmd("create-workspace", "Red Agency")
    herald_cmd("create-key", "Blue Agency")
    key_id = ApiKey.get().id
    other = herald_cmd("revoke-key", "Red Agency", key_id)
    assert other.exit_code == 1
    assert f"No active key #{key_id} in workspace 'Red Agency'." in other.output
    assert herald_cmd("revoke-key", "Blue Agency", key_id).exit_code == 0
    again = herald_cmd("revoke-key", "Blue Agency", key_id)
    assert again.exit_code == 1
    assert herald_cmd("revoke-key", "Blue Agency", 999).exit_code == 1


# -- demo -----------------------------------------------------------------------------------------

def demo_key_and_client_id(result) -> tuple[str, int]:
    assert result.exit_code == 0, result.output
    key = re.search(r"API key \(shown once\): (\S+)", result.output).group(1)
    client_id = int(re.search(r"\(client_id (\d+)\)", result.output).group(1))
    return key, client_id


def test_demo_twice_reuses_workspace_and_client_and_revokes_the_earlier_key(herald_cmd, client, tenant):
    first = herald_cmd("demo")
    second = herald_cmd("demo")
    assert first.output.startswith("Created workspace 'Demo Agency'")
    assert second.output.startswith("Reusing workspace 'Demo Agency'")
    first_key, first_client = demo_key_and_client_id(first)
    second_key, second_client = demo_key_and_client_id(second)
    assert first_client == second_client
    assert first_key != second_key
    assert Workspace.select().count() == 2 and Client.select().count() == 2  # the demo's, and tenant's
    assert "Revoked the earlier demo key (#" in second.output
    assert list_posts(client, first_key, first_client).status_code == 401
    assert list_posts(client, second_key, first_client).status_code == 200
    third_key, _ = demo_key_and_client_id(herald_cmd("demo"))
    demo = Workspace.get(Workspace.name == "Demo Agency")
    assert ApiKey.select().where((ApiKey.workspace == demo) & ApiKey.revoked_at.is_null()).count() == 1
    assert list_posts(client, third_key, first_client).status_code == 200
    assert list_posts(client, tenant.key, tenant.client.id).status_code == 200  # other workspaces' keys stay


def test_demo_curl_example_creates_a_post(herald_cmd, client):
    result = herald_cmd("demo")
    key, client_id = demo_key_and_client_id(result)
    assert f"-H 'X-API-Key: {key}'" in result.output
    payload = {"action": "create_post", "client_id": client_id, "topic": "Text on design",
               "caption": "Instagram caption", "post_type": "post", "platforms": "instagram"}
    assert f"-d '{json.dumps(payload)}'" in result.output
    response = client.post("/api/webhooks", json=payload, headers={"X-API-Key": key})
    assert response.status_code == 201, response.get_json()


# -- serve, worker and run as processes -----------------------------------------------------------


def descendants(pid: int) -> set[int]:
    """The processes below ``pid``, from the parent ids in /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # exited while we looked
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, pending = set(), [pid]
    while pending:
        for child in children.get(pending.pop(), ()):
            found.add(child)
            pending.append(child)
    return found


def wait_gone(pids: set[int], timeout: float) -> set[int]:
    """Wait (on pidfds, no polling) until every process in ``pids`` has exited; returns those still running."""
    deadline = time.monotonic() + timeout
    running = set()
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            if not select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
                running.add(pid)
        finally:
            os.close(fd)
    return running


def terminate_and_assert_tree_exits(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM the process; it and everything it started must exit, it with status 0."""
    tree = descendants(process.pid)
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"herald did not exit within {timeout} s of SIGTERM:\n{output(process)}")
    assert process.returncode == 0, output(process)
    assert wait_gone(tree, timeout=timeout) == set(), f"children left running:\n{output(process)}"


def list_posts_over_http(port: int, tenant) -> tuple[int, dict]:
    return call(port, "POST", "/api/webhooks", {"action": "list_posts", "client_id": tenant.client.id},
                {"X-API-Key": tenant.key})


def assert_healthy(body: dict) -> None:
    assert body["status"] == "ok", body
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is True


def test_serve_answers_an_authenticated_request_and_stops_on_sigterm(herald_env, start_herald, tenant):
    port = free_port()
    process = start_herald("serve", "--port", port, "--workers", 1, env=herald_env)
    assert_healthy(wait_for_health(process, port))

    status, body = list_posts_over_http(port, tenant)
    assert status == 200, body
    status, body = call(port, "POST", "/api/webhooks", {"action": "list_posts"}, {"X-API-Key": "hrld_live_nope"})
    assert status == 401 and body["error"]["code"] == "unauthorized", body
    terminate_and_assert_tree_exits(process)


@pytest.mark.parametrize("worker_class", [None, "fork"])
def test_worker_runs_a_queued_job_and_stops_on_sigterm(herald_env, start_herald, redis_client, worker_class):
    if worker_class:
        herald_env["HERALD_WORKER_CLASS"] = worker_class
    process = start_herald("worker", env=herald_env)
    # Any importable function with JSON arguments will do: Herald's queues use the JSON serializer.
    job = get_queue(redis_client).enqueue("herald.auth.digest", "hello")
    result = job.latest_result(timeout=int(START_TIMEOUT))  # blocks on the result stream
    assert result is not None, f"the worker did not run the job:\n{output(process)}"
    assert result.type == result.Type.SUCCESSFUL, result.exc_string
    assert result.return_value == digest("hello")
    ran_in = get_queue(redis_client).enqueue("os.getpid").latest_result(timeout=int(START_TIMEOUT)).return_value
    if worker_class == "fork":
        assert ran_in != process.pid  # a forked work-horse ran it
    else:
        assert ran_in == process.pid  # SimpleWorker: the worker process itself
    terminate_and_assert_tree_exits(process)


def test_worker_class_setting():
    assert Config().worker_class == Config.from_env({}).worker_class == "simple"
    assert Config.from_env({"HERALD_WORKER_CLASS": " Fork "}).worker_class == "fork"
    with pytest.raises(ValueError, match="HERALD_WORKER_CLASS"):
        Config.from_env({"HERALD_WORKER_CLASS": "threads"})


# -- console logging ----------------------------------------------------------------------------------

@pytest.fixture
def restore_logging():
    """Put back what a command under test replaced in this process's logging (pytest's handlers, levels)."""
    root = logging.getLogger()
    loggers = [logging.getLogger(name) for name in ("herald", *logs.RQ_LOGGERS)]
    saved = (root.level, list(root.handlers), [(lg.level, list(lg.handlers), lg.propagate) for lg in loggers])
    yield
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]
    for logger, (level, handlers, propagate) in zip(loggers, saved[2], strict=True):
        logger.setLevel(level)
        logger.handlers[:] = handlers
        logger.propagate = propagate


def burst_worker(app, redis_client) -> str:
    """``herald worker --burst`` through the CLI runner after queueing a job that works and one that fails;
    returns what it printed."""
    get_queue(redis_client).enqueue("herald.auth.digest", "hello")
    get_queue(redis_client).enqueue("herald.auth.digest", "too", "many")  # a TypeError
    result = app.test_cli_runner().invoke(cli, ["worker", "--burst"])
    assert result.exit_code == 0, result.output
    return result.output


def test_worker_logs_its_start_and_failures_but_not_rqs_lines_for_every_job(app, redis_client, restore_logging):
    printed = burst_worker(app, redis_client)
    assert "INFO herald.cli: Worker consuming publish, default, webhooks (simple worker, with the scheduler)" in printed
    assert "digest() takes 1 positional argument but 2 were given" in printed  # the failed job's traceback
    assert "herald.auth.digest('hello')" not in printed and "Job OK" not in printed, printed


def flask_state() -> dict:
    """A job: whether it runs inside a Flask application context, and how many Flask applications exist."""
    gc.unfreeze()  # the worker froze what its start-up made: gc.get_objects() lists only what it tracks
    try:
        return {"app_context": flask.has_app_context(),
                "applications": sum(isinstance(thing, flask.Flask) for thing in gc.get_objects())}
    finally:
        gc.freeze()


def test_worker_builds_its_runtime_without_a_flask_application(herald_env, redis_client, restore_logging):
    """``herald worker`` as a console would run it (no application handed in): the runtime is built from
    the environment by Runtime.build, and no Flask application is made for it."""
    job = get_queue(redis_client).enqueue("test_cli.flask_state")
    gc.collect()
    applications = sum(isinstance(thing, flask.Flask) for thing in gc.get_objects())
    result = CliRunner().invoke(cli, ["worker", "--burst"], env=herald_env)
    assert result.exit_code == 0, result.output
    job.refresh()
    assert job.is_finished, result.output
    assert job.return_value() == {"app_context": False, "applications": applications}


def frozen_objects() -> int:
    """A job: how many objects the collector leaves alone (``gc.freeze``)."""
    return gc.get_freeze_count()


def test_worker_freezes_what_its_start_up_made_while_it_runs(herald_env, redis_client, restore_logging):
    """Jobs run with the start-up's objects out of the collector's way, and the process gets its collector
    back when the worker stops."""
    job = get_queue(redis_client).enqueue("test_cli.frozen_objects")
    result = CliRunner().invoke(cli, ["worker", "--burst"], env=herald_env)
    assert result.exit_code == 0, result.output
    job.refresh()
    assert job.return_value() > 10_000  # the modules, plugins and schemas of a whole runtime
    assert gc.get_freeze_count() == 0


def test_freezing_the_start_up_frees_its_garbage_and_moves_the_rest_out_of_the_collectors_way():
    class Cycle:
        pass

    garbage = Cycle()
    garbage.itself = garbage  # freed only by a collection
    collected = weakref.ref(garbage)
    del garbage
    try:
        freeze_start_up()
        assert collected() is None
        assert gc.get_freeze_count() > 10_000  # this process's modules, plugins and app
    finally:
        gc.unfreeze()


def test_a_removed_setting_still_set_is_reported_when_a_command_starts(herald_env, redis_client, restore_logging):
    herald_env["HERALD_TASK_LEASE_SECONDS"] = "90"
    result = CliRunner().invoke(cli, ["worker", "--burst"], env=herald_env)
    assert result.exit_code == 0, result.output
    assert ("WARNING herald.config: HERALD_TASK_LEASE_SECONDS is set but Herald no longer reads it: leases are per "
            "work kind now, fixed when the kind is registered") in result.output
    assert Config.from_env({"HERALD_TASK_LEASE_SECONDS": "90"}).removed_settings == ("HERALD_TASK_LEASE_SECONDS",)
    assert Config.from_env({}).removed_setting_warnings() == []


def test_log_levels_come_from_the_settings(app, build_app, redis_client, restore_logging):
    verbose_rq = build_app(log_level="WARNING", rq_log_level="INFO")
    printed = burst_worker(verbose_rq, redis_client)
    assert "herald.auth.digest('hello')" in printed and "Job OK" in printed
    assert "Worker consuming" not in printed
    assert Config.from_env({"HERALD_LOG_LEVEL": " debug ", "HERALD_RQ_LOG_LEVEL": "info"}).log_level == "DEBUG"
    assert (Config().log_level, Config().rq_log_level) == ("INFO", "WARNING")
    with pytest.raises(ValueError, match="HERALD_RQ_LOG_LEVEL must be one of DEBUG, INFO, WARNING"):
        Config.from_env({"HERALD_RQ_LOG_LEVEL": "loud"})


def test_run_starts_a_private_redis_when_none_answers(herald_env, start_herald, tenant, config):
    redis_port = free_port()
    port = next(port for port in iter(free_port, None) if port != redis_port)
    herald_env["HERALD_REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"  # nothing listens there
    process = start_herald("run", "--port", port, env=herald_env)
    assert_healthy(wait_for_health(process, port))
    assert f"Started a private redis-server at redis://127.0.0.1:{redis_port}/0" in output(process)
    assert f"Herald runs at http://127.0.0.1:{port} (web, a worker per queue, cron)" in output(process)
    assert "redis-server" in {Path(f"/proc/{pid}/comm").read_text().strip() for pid in descendants(process.pid)}
    private = redis.Redis.from_url(herald_env["HERALD_REDIS_URL"], socket_connect_timeout=1)
    assert private.ping()
    assert (config.data_dir / "redis").is_dir()

    status, body = list_posts_over_http(port, tenant)
    assert status == 200, body
    terminate_and_assert_tree_exits(process)
    with pytest.raises(redis.ConnectionError):
        private.ping()  # the private server stopped with the rest


def test_run_without_redis_server_says_what_to_install(herald_env, tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    herald_env.update(PATH=str(empty), HERALD_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    port = free_port()
    result = subprocess.run([*HERALD, "run", "--port", str(port)], env=herald_env, capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "redis-server is not installed" in result.stderr
    assert "apt-get install redis-server" in result.stderr and "brew install redis" in result.stderr
    with pytest.raises(OSError):
        call(port, "GET", "/health")  # it gave up instead of serving without Redis


def test_a_generated_secret_key_is_kept_in_the_data_directory(tmp_path):
    first = Config(data_dir=tmp_path / "var").resolved_secret_key()
    stored = tmp_path / "var" / "secret_key"
    assert stored.read_text().strip() == first and len(first) >= 48
    assert stored.stat().st_mode & 0o777 == 0o600
    assert Config(data_dir=tmp_path / "var").resolved_secret_key() == first  # the next process's view
    assert Config(data_dir=tmp_path / "other").resolved_secret_key() != first
    assert Config(data_dir=tmp_path / "var", secret_key="set").resolved_secret_key() == "set"


def test_the_readme_lists_the_settings_every_plugin_here_declares():
    """README's plugin settings table is what ``herald plugins settings --markdown`` prints for the
    plugins under plugins/ (the tutorial's Mastodon plugin among them)."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    start, end = "<!-- plugin-settings:start -->\n", "\n<!-- plugin-settings:end -->"
    shown = readme[readme.index(start) + len(start):readme.index(end)]
    expected = settings_table(PluginRegistry(get_plugin_manager(shipped_plugins())))
    assert "`HERALD_GRAPH_BASE_URL` | facebook, instagram |" in expected and "HERALD_GEMINI_BASE_URL" in expected
    assert shown == expected, "run `herald plugins settings --markdown` and paste it into README.md"
