"""What a ``herald`` sub-command runs on, for the core's commands and plugins' (``register_commands``).

A command made with :func:`command` gets the invocation's runtime (:func:`command_runtime`: its
database bound, its clock, Redis, the plugin registry) before its body runs, with no Flask
application or application context. An invoker that hands the command an application of its own
(Flask's CLI test runner) has that application's runtime used instead.
"""

from __future__ import annotations

import functools

import click
from flask.cli import AppGroup, ScriptInfo

from .config import Config
from .intelligence import items as intelligence_items
from .runtime import Runtime
from .web.app import create_app

_RUNTIME = "herald.runtime"  # where a command invocation keeps its runtime (ScriptInfo.data)


def create_web_app():
    """The web application, for the web command (``herald serve``): built from the environment."""
    return create_app(Config.from_env())


def command_runtime() -> Runtime:
    """The runtime a command works with, made once per invocation.

    Built from the environment with :meth:`Runtime.build`: no Flask application is made for a
    command that does not serve the web (``worker``, ``cron``, ``init-db``, ...). An invoker that
    hands the command an application of its own (Flask's CLI test runner) has that application's
    runtime used instead, so the command works on the test's database and clock.
    """
    info = click.get_current_context().ensure_object(ScriptInfo)
    if _RUNTIME not in info.data:
        supplied = info.create_app is not None and info.create_app is not create_web_app
        if supplied:
            info.data[_RUNTIME] = info.load_app().extensions["herald"]
        else:
            info.data[_RUNTIME] = Runtime.build(Config.from_env())
            intelligence_items.configure(info.data[_RUNTIME].config.intelligence_cache_posts)
    return info.data[_RUNTIME]


def command(group: click.Group, name: str):
    """Register a command that does not serve the web: it runs on :func:`command_runtime` (which binds
    the database before the command's body runs), with no Flask application or application context."""

    def decorate(function):
        @functools.wraps(function)
        def run(*args, **kwargs):
            command_runtime()
            return function(*args, **kwargs)

        # A Flask group would push an application context for its commands; these need none.
        options = {"with_appcontext": False} if isinstance(group, AppGroup) else {}
        return group.command(name, **options)(run)

    return decorate


def progress(line: str) -> None:
    """Say one step of a long operation as it happens (one line, flushed at once)."""
    click.echo(line)
