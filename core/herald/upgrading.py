"""Upgrading a whole installation's schema (``herald init-db``): the core's migrations
(:mod:`herald.db.migrate`), then those of every installed plugin, each plugin with its own history."""

from __future__ import annotations

import logging

import peewee as pw
from playhouse.migrations import Runner

from .db.migrate import HISTORY_TABLE, runner
from .plugins import PluginRegistry, get_plugin_manager


def plugin_runners(database: pw.Database, pm=None) -> list[tuple[str, Runner]]:
    """``(name, runner)`` for each plugin's migrations (plugins of ``pm``, default: all installed)."""
    registry = PluginRegistry(pm or get_plugin_manager())
    return [(name, Runner(database, directory=str(directory), table_name=f"{HISTORY_TABLE}_{name}"))
            for name, directory in registry.migrations()]


def upgrade(database: pw.Database, pm=None) -> list[str]:
    """Apply every pending migration, the core's then the plugins'; returns the names applied.

    Plugin migrations are named ``<plugin>:<migration>``. Empty when everything is up to date.
    """
    logging.getLogger("peewee.migrations").setLevel(logging.WARNING)
    with database.connection_context():
        applied = runner(database).up()
        for name, plugin_runner in plugin_runners(database, pm):
            applied += [f"{name}:{migration}" for migration in plugin_runner.up()]
    return applied


def pending(database: pw.Database, pm=None) -> list[str]:
    """Names of migrations not yet applied (the core's, then ``<plugin>:<migration>``)."""
    with database.connection_context():
        names = [m.name for m in runner(database).status() if not m.applied]
        for name, plugin_runner in plugin_runners(database, pm):
            names += [f"{name}:{m.name}" for m in plugin_runner.status() if not m.applied]
    return names
