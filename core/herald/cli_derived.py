"""``herald derived``: the derived data Herald keeps beside its rows (:mod:`herald.derived`).

``herald derived list`` names each family, what it holds and whether its triggers are all there;
``herald derived check [NAME] [--workspace W]`` compares them with a recomputation and reports missing
triggers (exit status 1 when anything differs); ``herald derived rebuild [NAME] [--workspace W]``
installs missing triggers and recomputes. ``herald cron`` checks and repairs them on its own
(:func:`herald.derived.repair`); these are for an operator who changed rows behind the triggers.
"""

from __future__ import annotations

import json
import time

import click
from flask.cli import AppGroup

from . import derived as registry
from .cli_accounts import _workspace_id
from .console import command
from .db.models import db


@click.group("derived", cls=AppGroup)
def derived():
    """Derived data kept by triggers (post counters, daily figures, intelligence): list, check, rebuild."""


def _entries(name: str | None) -> tuple[registry.Derived, ...]:
    try:
        return registry.named(name)
    except KeyError as exc:
        raise click.ClickException(exc.args[0]) from None


@command(derived, "list")
def list_derived():
    """Each family of derived data, what it holds, and its triggers (missing ones named)."""
    for entry in registry.REGISTRY:
        names, missing = entry.trigger_names(db.obj), entry.missing_triggers(db.obj)
        state = f"missing {', '.join(missing)}" if missing else "all present"
        click.echo(f"{entry.name}: {entry.description}\n  triggers ({len(names)}): {state}")


@command(derived, "check")
@click.argument("name", required=False)
@click.option("--workspace", "workspace", default=None, help="Only this workspace's data (name or id).")
@click.option("--json", "as_json", is_flag=True, help="Print the differences as JSON.")
def check(name, workspace, as_json):
    """Compare derived data (NAME, default: all) with a recomputation and report missing triggers; exit
    status 1 when anything differs."""
    workspace_id = _workspace_id(workspace)
    found = [difference for entry in _entries(name) for difference in entry.check(db.obj, workspace_id)]
    if as_json:
        click.echo(json.dumps([{"name": d.name, "workspace_id": d.workspace_id, "message": d.message}
                               for d in found], indent=2))
    else:
        for difference in found:
            where = "" if difference.workspace_id is None else f" workspace {difference.workspace_id}"
            click.echo(f"{difference.name}{where}: {difference.message}")
        if not found:
            click.echo("Every derived value agrees with a recomputation and every trigger is installed.")
    if found:
        raise SystemExit(1)


@command(derived, "rebuild")
@click.argument("name", required=False)
@click.option("--workspace", "workspace", default=None, help="Only this workspace's data (name or id).")
def rebuild(name, workspace):
    """Recompute derived data (NAME, default: all) from scratch; a family with a missing trigger gets its
    triggers installed and every workspace recomputed."""
    workspace_id = _workspace_id(workspace)
    for entry in _entries(name):
        started = time.perf_counter()
        missing = entry.missing_triggers(db.obj)
        rows = entry.rebuild(db.obj, workspace_id)
        reinstalled = (f", reinstalled {len(missing)} missing trigger(s) and recomputed every workspace"
                       if missing else "")
        click.echo(f"Rebuilt {entry.name} ({rows} rows{reinstalled}) in {time.perf_counter() - started:.1f} s.")
