"""``herald intelligence``: the stored per-post insights (:mod:`herald.intelligence.insights`).

``herald intelligence rebuild`` computes every post's caption features and current engagement again
and stores them, and forgets the results computed from them (:mod:`herald.intelligence.results`);
the reads do this by themselves for a post whose row is missing or stale, so this
is for after a bulk import or to warm a restored database in one go.
"""

from __future__ import annotations

import click
from flask.cli import AppGroup

from .console import command
from .db.models import Workspace
from .intelligence import insights, results


@click.group("intelligence", cls=AppGroup)
def intelligence():
    """Content intelligence kept in the database: rebuild it."""


@command(intelligence, "rebuild")
@click.argument("workspace", required=False)
def rebuild(workspace):
    """Compute every post's stored insights again (of WORKSPACE, a name or id; default: all), and
    forget the stored results computed from them."""
    workspace_id = None
    if workspace is not None:
        found = (Workspace.get_or_none(Workspace.id == int(workspace)) if workspace.isdigit()
                 else Workspace.get_or_none(Workspace.name == workspace))
        if found is None:
            raise click.ClickException(f"No workspace {workspace!r} (give its name or id).")
        workspace_id = found.id
    done = insights.rebuild(workspace_id)
    results.forget(workspace_id)
    click.echo(f"Rebuilt the insights of {done} post{'s' if done != 1 else ''}.")
