"""The ``herald`` command."""

from __future__ import annotations

import gc
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import click
import redis
from flask import current_app
from flask.cli import FlaskGroup
from gunicorn.app.base import BaseApplication

from . import logs, readme_tables, sdk_reference, supervise
from .auth import SCOPES, create_api_key, create_user
from .cli_accounts import accounts
from .cli_derived import derived
from .config import WORKER_CLASSES, Config
from .console import command as _command
from .console import command_runtime as _runtime
from .console import create_web_app as _create_app
from .cron import make_cron
from .db.migrate import has_schema
from .db.models import ApiKey, Client, PluginSetting, Workspace, db, set_plugin_enabled
from .errors import HeraldError
from .plugins import PluginRegistry, get_plugin_manager
from .upgrading import upgrade
from .web.serving import BODY_OVERHEAD, ServingLimits
from .work.heartbeat import Heartbeat
from .work.hosts import HostBeacon, SecondHost
from .work.queue import make_worker, queue_names
from .work.workers import worker_class as worker_class_for

log = logging.getLogger("herald.cli")


def _config() -> Config:
    return _runtime().config


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False, add_version_option=False)
def cli():
    """Herald: social-media publishing and content intelligence.

    Settings come from HERALD_* environment variables (see the README).
    """


def _announce_host(runtime) -> HostBeacon:
    """Announce this machine in Redis (herald.work.hosts); stop with one line when a second machine
    shares a SQLite deployment."""
    try:
        return HostBeacon(runtime.redis, runtime.config.resolved_database_url, runtime.clock).start()
    except SecondHost as exc:
        raise click.ClickException(str(exc)) from None


def _require_schema() -> None:
    """Stop with a clear message when the database has no schema yet (before serving or working on it)."""
    if not has_schema(db.obj):
        raise click.ClickException("The database has no schema yet: run `herald init-db` first "
                                   "(`herald run` creates it by itself).")


def _workspace(ref: str):
    workspace = (Workspace.get_or_none(Workspace.id == int(ref)) if ref.isdigit()
                 else Workspace.get_or_none(Workspace.name == ref))
    if workspace is None:
        raise click.ClickException(f"No workspace {ref!r} (give its name or id).")
    return workspace


@_command(cli, "init-db")
def init_db():
    """Create the database schema or upgrade it (safe to run again)."""
    _upgrade_database(say_when_current=True)


def _upgrade_database(say_when_current: bool) -> None:
    """Apply the pending migrations and say which; ``say_when_current`` also says when there were none."""
    applied = upgrade(db.obj, _runtime().pm)
    if applied:
        click.echo(f"Applied migrations: {', '.join(applied)}")
    elif say_when_current:
        click.echo("Database schema is up to date.")


@_command(cli, "create-workspace")
@click.argument("name")
@click.option("--plan", type=click.Choice(["free", "pro"]), default="free", show_default=True)
def create_workspace(name, plan):
    """Create a workspace."""
    if Workspace.get_or_none(Workspace.name == name):
        raise click.ClickException(f"A workspace named {name!r} exists already.")
    workspace = Workspace.create(name=name, plan=plan)
    click.echo(f"Created workspace {workspace.name!r} (id {workspace.id}, plan {plan}).")


@_command(cli, "create-user")
@click.argument("workspace")
@click.argument("email")
@click.option("--role", type=click.Choice(["owner", "admin", "editor", "viewer"]), default="editor",
              show_default=True)
@click.password_option(envvar="HERALD_NEW_USER_PASSWORD", help="The password (prompted when not given).")
def create_user_command(workspace, email, role, password):
    """Create a user who can log in with POST /api/login."""
    try:
        user = create_user(_workspace(workspace), email, password, role)
    except HeraldError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"Created {role} {user.email} in workspace {workspace!r}.")


@_command(cli, "create-key")
@click.argument("workspace")
@click.option("--scope", "scopes", multiple=True, help="Repeat for several; default: every scope.")
@click.option("--name", default="", help="A label to recognise the key by.")
def create_key(workspace, scopes, name):
    """Create an API key; the key is printed alone on the last line (it is shown only once)."""
    try:
        row, key = create_api_key(_workspace(workspace), list(scopes) or SCOPES, name)
    except HeraldError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"Created API key #{row.id} with scopes: {', '.join(row.scopes)}. Store it now: it is not shown again.")
    click.echo(key)


@_command(cli, "revoke-key")
@click.argument("workspace")
@click.argument("key_id", type=int)
def revoke_key(workspace, key_id):
    """Revoke an API key by its id."""
    if not _runtime().auth.revoke_key(_workspace(workspace).id, key_id):
        raise click.ClickException(f"No active key #{key_id} in workspace {workspace!r}.")
    click.echo(f"Revoked key #{key_id}.")


@cli.group()
def plugins():
    """List installed plugins and enable or disable them per workspace."""


@_command(plugins, "list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def plugins_list(as_json):
    """Every installed plugin: version, hooks, what it provides and where it is disabled."""
    runtime = _runtime()
    registry, registry_config = runtime.registry, runtime.config
    rows = registry.describe()
    initialised = has_schema(db.obj)  # before `herald init-db` nothing can be disabled yet
    for row in rows:
        settings = (PluginSetting.select(PluginSetting, Workspace).join(Workspace)
                    .where(PluginSetting.plugin == row["name"])) if initialised else []
        row["disabled_in"] = sorted(s.workspace.name for s in settings if not s.enabled)
        row["settings"] = [{"env": setting.env, "value": setting.shown(registry_config),
                            "default": None if setting.secret else setting.default, "meaning": setting.meaning}
                           for setting in registry.settings_of(row["name"])]
        row["enabled"] = "everywhere" if row["builtin"] else (
            "everywhere" if not row["disabled_in"] else "all workspaces except " + ", ".join(row["disabled_in"]))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        kind = "built-in" if row["builtin"] else (row["version"] or "")
        click.echo(f"{row['name']} {kind}")
        click.echo(f"  hooks: {', '.join(row['hooks']) or '-'}")
        for what, names in row["provides"].items():
            click.echo(f"  {what}: {', '.join(names)}")
        for setting in row["settings"]:
            click.echo(f"  setting {setting['env']} = {setting['value']}: {setting['meaning']}")
        click.echo(f"  enabled: {row['enabled']}")


@_command(plugins, "settings")
@click.option("--markdown", is_flag=True, help="Print the README's table.")
def plugins_settings(markdown):
    """Every setting the loaded plugins declare: variable, default, meaning (and value, without --markdown)."""
    runtime = _runtime()
    if markdown:
        click.echo(readme_tables.settings_table(runtime.registry))
        return
    for setting in sorted((reg.obj for reg in runtime.registry.settings.values()), key=lambda s: s.env):
        click.echo(f"{setting.env}={setting.shown(runtime.config)}  ({setting.meaning})")


def _set_plugin(workspace, name, enabled):
    runtime = _runtime()
    registry = runtime.registry
    if name not in registry.plugin_names():
        raise click.ClickException(f"No plugin named {name!r}. Installed: {', '.join(registry.plugin_names())}.")
    if registry.is_builtin(name):
        raise click.ClickException(f"{name!r} is built into Herald and is always enabled.")
    ws = _workspace(workspace)
    set_plugin_enabled(ws.id, name, enabled, runtime.clock.now())
    click.echo(f"{'Enabled' if enabled else 'Disabled'} {name} for workspace {ws.name!r}.")


@_command(plugins, "enable")
@click.argument("workspace")
@click.argument("name")
def plugins_enable(workspace, name):
    """Enable plugin NAME for WORKSPACE."""
    _set_plugin(workspace, name, True)


@_command(plugins, "disable")
@click.argument("workspace")
@click.argument("name")
def plugins_disable(workspace, name):
    """Disable plugin NAME for WORKSPACE: its actions answer 403 feature_disabled there."""
    _set_plugin(workspace, name, False)


cli.add_command(accounts)  # herald accounts list|refresh (herald.cli_accounts)
cli.add_command(derived)  # herald derived list|check|rebuild (herald.cli_derived)


@cli.command("docs", with_appcontext=False)
@click.argument("document", type=click.Path(exists=True, dir_okay=False), default="README.md")
@click.option("--check", is_flag=True, help="Change nothing; exit 1 when the document is not current.")
def docs(document, check):
    """Write the generated sections of DOCUMENT: the README's tables (plugin settings, error codes,
    event types), or the SDK reference of docs/plugins.md (from the SDK's docstrings).

    Every installed plugin's settings, codes and types are included in the README's tables (only those
    HERALD_PLUGINS names, when it is set). Sections are
    marked ``<!-- error-codes:start -->`` … ``<!-- error-codes:end -->`` (and plugin-settings,
    event-types; in docs/plugins.md sdk-platform, sdk-values, sdk-settings, sdk-errors, sdk-http, sdk-hooks).
    """
    path = Path(document)
    text = path.read_text(encoding="utf-8")
    try:
        if readme_tables.has_section(text, next(iter(sdk_reference.SECTIONS))):
            current = readme_tables.rewrite_sections(text, sdk_reference.SECTIONS)
        else:
            current = readme_tables.rewrite(text, PluginRegistry(get_plugin_manager(Config.from_env().plugins)))
    except readme_tables.MissingSection as exc:
        raise click.ClickException(str(exc)) from None
    if current == text:
        click.echo(f"{document} is current.")
        return
    if check:
        raise click.ClickException(f"{document} is not current: run `herald docs {document}`.")
    path.write_text(current, encoding="utf-8")
    click.echo(f"{document} rewritten.")


def freeze_start_up() -> None:
    """Move what a serving process's start-up built (modules, plugins, schemas, the app and runtime: it lives
    as long as the process) out of the collector's generations, after freeing the start-up's garbage: the
    full collections that a request's or a job's allocations set off (a page of cards, a CSV batch of
    thousands of tuples) then stop walking it, and fork work-horses do not copy the pages a collection
    would touch (Python's advice for ``gc.freeze``)."""
    gc.collect()
    gc.freeze()


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=None, help="Default: HERALD_PORT or 5000.")
@click.option("--workers", type=int, default=2, show_default=True, help="Processes.")
@click.option("--threads", type=int, default=4, show_default=True, help="Connections each process serves at once.")
@click.option("--timeout", type=int, default=30, show_default=True,
              help="Seconds a worker process may stop answering gunicorn before it is restarted "
                   "(not a limit on a request: a long download is not cut).")
@click.option("--request-timeout", type=float, default=10.0, show_default=True,
              help="Seconds a request may take to arrive (headers complete, and no pause that long in its body) "
                   "before its connection is closed.")
def serve(host, port, workers, threads, timeout, request_timeout):
    """Serve the API with gunicorn (threaded workers reading whole requests, herald.web.serving)."""

    config = current_app.extensions["herald"].config  # the web command runs in its application's context
    logs.configure(config)
    _require_schema()
    _announce_host(current_app.extensions["herald"])
    port = port or config.port

    class HeraldServer(BaseApplication):
        # Read by each HeraldWorker: the largest body Herald accepts is an upload, with its form's framing.
        limits = ServingLimits(request_timeout=request_timeout, body_limit=config.max_upload_bytes + BODY_OVERHEAD)

        def load_config(self):
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("worker_class", "herald.web.serving.HeraldWorker")  # threaded; its own refusals in JSON
            self.cfg.set("threads", threads)
            self.cfg.set("timeout", timeout)
            # gunicorn's control socket (gunicornc) is one path per user by default: a second herald serve
            # on the host removed the first one's. Herald does not use it.
            self.cfg.set("control_socket_disable", True)
            self.cfg.set("accesslog", "-")
            self.cfg.set("logger_class", "herald.web.serving.HeraldLogger")  # no portal or media token in a line
            self.cfg.set("loglevel", config.log_level.lower())  # its start-up lines are Herald's

        def load(self):  # in each worker process
            app = _create_app()
            freeze_start_up()  # the portal page at 10k posts: p95 66-74 -> 38 ms (a full collection took 31)
            return app

    HeraldServer().run()


@_command(cli, "worker")
@click.option("--queue", "queues", multiple=True, help="Queues to consume (default: all).")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option("--worker-class", type=click.Choice(WORKER_CLASSES), default=None,
              help="simple: jobs run in this process; fork: each job in a forked work-horse "
                   "(default: HERALD_WORKER_CLASS, else simple).")
def worker(queues, burst, worker_class):
    """Run an RQ worker (with the scheduler) on Herald's queues."""
    runtime = _runtime()
    logs.configure(runtime.config)
    _require_schema()
    beacon = _announce_host(runtime)
    supervise.forks_die_with_parent()  # RQ's scheduler child and fork work-horses end with this process
    # Forked work-horses must not inherit an open database connection from this process.
    db.close_all()
    kind = worker_class or runtime.config.worker_class
    chosen = worker_class_for(kind)
    names = queues or queue_names(runtime)
    log.info("Worker consuming %s (%s worker, with the scheduler)%s", ", ".join(names), kind,
             " until the queues are empty" if burst else "")
    rq_worker = make_worker(runtime.redis, names, worker_class=chosen, runtime=runtime)  # installs it for jobs
    freeze_start_up()  # the 1/50 client's posts CSV at 1M posts on PostgreSQL: 381-398 -> 355-383 ms
    try:
        with beacon, Heartbeat(runtime.redis, rq_worker.name, names, runtime.config.worker_heartbeat_seconds):
            rq_worker.work(with_scheduler=True, burst=burst)
    finally:
        gc.unfreeze()  # a caller that goes on in this process (a test's CLI runner) gets its collector back


@_command(cli, "cron")
def cron():
    """Run the periodic jobs (task reconciler, token health checks) on RQ's cron scheduler."""
    runtime = _runtime()
    config = runtime.config
    logs.configure(config)
    _require_schema()
    beacon = _announce_host(runtime)
    log.info("Cron: task reconciler every %s, token health every %s, engagement pull every %s, derived data "
             "check every %s, intelligence refresh every %s", _every(config.reconcile_interval_seconds),
             _every(config.token_check_interval_seconds), _every(config.engagement_pull_interval_seconds),
             _every(config.derived_check_interval_seconds), _every(config.intelligence_refresh_interval_seconds))
    with beacon:
        make_cron(runtime.redis, config).start()


def _every(seconds: int) -> str:
    """``30 s``, ``6 h``: an interval as people say it."""
    return f"{seconds // 3600} h" if seconds >= 3600 and seconds % 3600 == 0 else f"{seconds} s"


def _redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5).ping())
    except redis.RedisError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_private_redis(config: Config) -> tuple[subprocess.Popen, str]:
    """Start a ``redis-server`` for this install under ``<data_dir>/redis``; returns it and its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise click.ClickException(
            f"No Redis answers at {config.redis_url} and redis-server is not installed. Install it "
            "(Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) or point HERALD_REDIS_URL "
            "at a running Redis.")
    parsed = urlparse(config.redis_url)
    port = parsed.port or 6379
    if parsed.hostname not in ("127.0.0.1", "localhost", None) or not _port_free(port):
        port = _free_port()
    directory = (config.data_dir / "redis").resolve()
    directory.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(directory), "--appendonly", "yes",
         "--save", "", "--maxmemory-policy", "noeviction", "--logfile", str(directory / "redis.log")],
        preexec_fn=supervise.die_with_parent)
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(100):
        if _redis_answers(url):
            return process, url
        time.sleep(0.05)
    process.terminate()
    raise click.ClickException(f"redis-server did not start; see {directory / 'redis.log'}.")


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@_command(cli, "run")
@click.option("--port", type=int, default=None, help="Default: HERALD_PORT or 5000.")
def run(port):
    """Run everything on one machine: web (gunicorn), a worker per queue (with the scheduler), cron, and Redis if
    needed.

    Creates or upgrades the database schema first. A process that dies is started again (see
    herald.supervise); every process ends with this one.
    """
    config = _config()
    logs.configure(config)
    env = dict(os.environ)
    redis_server: subprocess.Popen | None = None
    children: list[supervise.Child] = []

    stopping = threading.Event()

    def stop(status: int = 0):
        supervise.stop_processes([child.process for child in children])
        supervise.stop_process(redis_server)  # last: the others may still be writing to it
        sys.exit(status)

    # Installed before anything starts, so a signal during start-up leaves no orphan behind. The handler
    # only asks for the stop: run inside a Popen (a child being started or restarted), stopping there
    # would miss that child, which is not in the list yet.
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    _upgrade_database(say_when_current=False)
    db.obj.close_all()  # the children open their own connections
    if not _redis_answers(config.redis_url):
        redis_server, url = start_private_redis(config)
        env["HERALD_REDIS_URL"] = url
        click.echo(f"Started a private redis-server at {url} (data in {config.data_dir / 'redis'}).")
    herald = [sys.executable, "-m", "herald.cli"]
    port = port or config.port
    workers = [(f"{name} worker", ["worker", "--queue", name]) for name in queue_names(_runtime())]
    for name, command in (*workers, ("cron", ["cron"]), ("web server", ["serve", "--port", str(port)])):
        children.append(supervise.Child(name, [*herald, *command], env))
        children[-1].start()
    click.echo(f"Herald runs at http://127.0.0.1:{port} (web, a worker per queue, cron); Ctrl-C stops it. "
               f"Logs: Herald's at {config.log_level} (HERALD_LOG_LEVEL), "
               f"RQ's at {config.rq_log_level} (HERALD_RQ_LOG_LEVEL).")
    while not stopping.is_set() and (redis_server is None or redis_server.poll() is None):
        for child in children:
            if not stopping.is_set():
                child.check()
        stopping.wait(0.5)
    if stopping.is_set():
        stop(0)
    click.echo("The private redis-server stopped; shutting Herald down.", err=True)
    stop(1)  # a supervisor must see that something failed


DEMO_KEY_NAME = "demo"


@_command(cli, "demo")
def demo():
    """Create (or reuse) the demo workspace and client, and print a fresh API key with curl examples.

    Keys are kept as digests only, so an earlier demo key cannot be shown again: each run revokes the
    demo keys it made before, leaving one full-scope demo key, the one printed.
    """
    workspace, created = Workspace.get_or_create(name="Demo Agency", defaults={"plan": "pro"})
    client = (Client.select().where((Client.workspace == workspace) & Client.deleted_at.is_null())
              .order_by(Client.id).first())
    if client is None:
        client = Client.create(workspace=workspace, name="Demo Client", brand_voice="Friendly, concise, no jargon.")
    earlier = [row.id for row in ApiKey.select(ApiKey.id).where(
        (ApiKey.workspace == workspace) & (ApiKey.name == DEMO_KEY_NAME) & ApiKey.revoked_at.is_null())]
    auth = _runtime().auth
    for key_id in earlier:
        auth.revoke_key(workspace.id, key_id)
    _, key = create_api_key(workspace, name=DEMO_KEY_NAME)
    base = f"http://127.0.0.1:{_config().port}"
    click.echo(f"{'Created' if created else 'Reusing'} workspace {workspace.name!r} (id {workspace.id}) "
               f"with client {client.name!r} (client_id {client.id}).")
    if earlier:
        click.echo(f"Revoked the earlier demo key{'s' * (len(earlier) > 1)} (#{', #'.join(map(str, earlier))}): "
                   "only the key below works now.")
    click.echo(f"\nAPI key (shown once): {key}\n")
    examples = [
        {"action": "create_post", "client_id": client.id, "topic": "Text on design",
         "caption": "Instagram caption", "post_type": "post", "platforms": "instagram"},
        {"action": "list_posts", "client_id": client.id},
        {"action": "update_engagement", "post_id": 1, "likes": 150, "comments": 23, "saves": 45, "shares": 12,
         "reach": 5000},
    ]
    click.echo("Try it:")
    for example in examples:
        click.echo(f"  curl -s {base}/api/webhooks -H 'X-API-Key: {key}' -H 'Content-Type: application/json' "
                   f"-d '{json.dumps(example)}'")
    click.echo("Publishing API (connect an account with its access token, then publish to it):")
    click.echo(f"  curl -s {base}/v1/accounts -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' "
               "-d '{\"platform\": \"facebook\", \"access_token\": \"<Page access token>\"}'")
    click.echo(f"  curl -s {base}/v1/publish -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' "
               "-H 'Idempotency-Key: demo-1' -d '{\"content\": \"Hello from Herald\", \"accounts\": [\"acc_1\"], "
               "\"schedule\": \"now\"}'")
    click.echo(f"  curl -s {base}/v1/posts -H 'Authorization: Bearer {key}'")
    click.echo(f"  curl -s {base}/health\n  curl -s {base}/openapi.json\n")


def main():
    """Entry point of the ``herald`` console script: loads plugin commands, then runs."""
    config = Config.from_env()
    get_plugin_manager(config.plugins, config.trace_plugins).hook.register_commands(cli=cli)
    cli.main(prog_name="herald")


if __name__ == "__main__":
    main()
