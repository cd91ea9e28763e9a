"""``herald figures``: the per-day and per-hour figures the reports read (:mod:`herald.db.daily_figures`).

``herald figures rebuild`` recomputes them from scratch (every workspace, or one); ``herald figures
check`` compares them with a recomputation and exits 1 when they differ. The triggers keep them up to
date; these are for an operator who changed rows behind them.
"""

from __future__ import annotations

import time

import click
from flask.cli import AppGroup

from .cli_accounts import _workspace_id
from .console import command
from .db import daily_figures
from .db.models import Workspace, db


@click.group("figures", cls=AppGroup)
def figures():
    """The per-day and per-hour figures health scores and analytics read: rebuild them, check them."""


@command(figures, "rebuild")
@click.option("--workspace", "workspace", default=None, help="Only this workspace (name or id).")
def rebuild(workspace):
    """Recompute the figures from the posts, tasks and engagement, in one transaction."""
    started = time.perf_counter()
    rows = daily_figures.rebuild(db.obj, _workspace_id(workspace))
    click.echo(f"Rebuilt {rows['day']} rows of daily figures and {rows['hour']} of hourly figures "
               f"in {time.perf_counter() - started:.1f} s.")


@command(figures, "check")
@click.option("--workspace", "workspace", default=None, help="Only this workspace (name or id).")
def check(workspace):
    """Compare the figures with a recomputation; exit 1 when any workspace's differ."""
    wanted = _workspace_id(workspace)
    ids = [wanted] if wanted is not None else [row.id for row in Workspace.select(Workspace.id)]
    differing = [workspace_id for workspace_id in ids if not daily_figures.agrees(db.obj, workspace_id)]
    if differing:
        raise click.ClickException(f"Figures differ from a recomputation in workspace(s) "
                                   f"{', '.join(map(str, differing))}: run `herald figures rebuild`.")
    click.echo(f"Figures agree with a recomputation in {len(ids)} workspace(s).")
