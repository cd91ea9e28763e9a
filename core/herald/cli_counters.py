"""``herald counters``: the post counters behind the lists' ``total`` (:mod:`herald.db.post_counts`).

``herald counters check`` recounts every post and prints the counters that differ (exit status 1 when
any does); ``herald counters rebuild`` sets them all from a recount. ``herald cron`` runs the check daily
and rebuilds when it finds drift (:func:`herald.chores.repair_post_counts`).
"""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from .console import command
from .db import post_counts


@click.group("counters", cls=AppGroup)
def counters():
    """The post counters behind the lists' totals: check them, rebuild them."""


@command(counters, "check")
@click.option("--json", "as_json", is_flag=True, help="Print the differing counters as JSON.")
def check(as_json):
    """Recount every post and print the counters that differ (exit status 1 when any does)."""
    differing = post_counts.drift()
    if as_json:
        click.echo(json.dumps(differing, indent=2))
    elif not differing:
        click.echo("Every post counter is exact.")
    for row in [] if as_json else differing:
        click.echo(f"workspace {row['workspace_id']} client {row['client_id']} campaign {row['campaign_id']} "
                   f"{row['status']}: stored {row['stored']}, counted {row['counted']}")
    if differing:
        raise SystemExit(1)


@command(counters, "rebuild")
def rebuild():
    """Set every post counter from a recount of the posts."""
    click.echo(f"Rebuilt the post counters ({post_counts.rebuild()} rows).")
