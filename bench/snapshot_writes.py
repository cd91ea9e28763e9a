"""What the derived-data triggers cost an engagement snapshot's insert, through the engagement pull's own
code path (:func:`herald.intelligence.pull.record`'s transaction around
:func:`herald.publishing.posts.record_engagements`, in batches of the pull's size).

Run: ``.venv/bin/python bench/snapshot_writes.py [--db sqlite|postgres|both] [--snapshots 5000]
[--posts 500] [--postgres URL]``. Each backend gets a database of its own per mode (a temporary SQLite
file; a PostgreSQL database created and dropped), the same posts (published, an Instagram and a Facebook
task each) with one snapshot per platform already, then the measured snapshots: each the newest of its
post and platform (what a pull writes). Modes: ``all`` (every trigger), ``no-engagement`` (the
``engagement`` family's triggers dropped: the difference is their share), ``none`` (every trigger dropped,
as :func:`herald.derived.suspended` does). The figures are ms per snapshot (median of ``--runs`` runs):
wall time and, on SQLite, this process's CPU time (on a shared machine the steadier measure of SQLite's
work, done in this process).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

import peewee as pw
import psycopg2

from herald import derived
from herald.db import models
from herald.intelligence.pull import BATCH
from herald.publishing.posts import EngagementReading, record_engagements
from herald.upgrading import upgrade

PG_DATABASE = "herald_bench_snapshot_writes"
MODES = ("all", "no-engagement", "none")
START = dt.datetime(2026, 11, 1, 9)


def _postgres_url(admin_url: str, create: bool) -> str:
    connection = psycopg2.connect(admin_url, connect_timeout=3)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
        if create:
            cursor.execute(f"CREATE DATABASE {PG_DATABASE}")
    connection.close()
    return admin_url.rsplit("/", 1)[0] + f"/{PG_DATABASE}"


def _load(posts: int) -> tuple[int, list[tuple[int, str]]]:
    """A workspace with ``posts`` published posts, a task on Instagram and on Facebook each and one snapshot
    per platform; returns the workspace's id and the ``(post, platform)`` pairs."""
    workspace = models.Workspace.create(name="Bench", plan="pro")
    client = models.Client.create(workspace=workspace, name="Client")
    accounts = [models.Account.create(workspace=workspace, platform=platform, external_id=platform,
                                      username=platform, token_encrypted="x") for platform in ("instagram", "facebook")]
    pairs = []
    with models.write_transaction():
        for number in range(posts):
            post = models.Post.create(workspace=workspace, client=client, caption="c", status="published",
                                      platforms=["instagram", "facebook"],
                                      published_at=START - dt.timedelta(hours=number % 200))
            for account in accounts:
                models.PublishTask.create(workspace=workspace, post=post, account=account, platform=account.platform,
                                          status="published", platform_post_id=f"{account.platform}_{post.id}")
                pairs.append((post.id, account.platform))
        record_engagements([EngagementReading(workspace.id, post_id, {"likes": 1, "reach": 10}, platform, START)
                            for post_id, platform in pairs])
    return workspace.id, pairs


def _measure(workspace_id: int, pairs: list[tuple[int, str]], snapshots: int, mode: str) -> dict[str, float]:
    """ms per snapshot to record ``snapshots`` newest snapshots in the pull's batches, in ``mode``: wall
    time and, on SQLite, this process's CPU time (SQLite's work included)."""
    database = models.db.obj
    entries = {"all": (), "no-engagement": ("engagement",), "none": tuple(e.name for e in derived.REGISTRY)}[mode]
    with database.atomic():
        for entry in derived.REGISTRY:
            if entry.name in entries:
                entry.uninstall(database)
    readings = [EngagementReading(workspace_id, post_id, {"likes": 2 + number, "reach": 20 + number}, platform,
                                  START + dt.timedelta(minutes=1 + number))
                for number, (post_id, platform) in enumerate((pairs * (snapshots // len(pairs) + 1))[:snapshots])]
    started, cpu = time.perf_counter(), time.process_time()
    for first in range(0, len(readings), BATCH):
        with models.write_transaction():
            record_engagements(readings[first:first + BATCH])
    figures = {"wall": time.perf_counter() - started}
    if not isinstance(database, pw.PostgresqlDatabase):  # PostgreSQL works in its own processes
        figures["cpu"] = time.process_time() - cpu
    return {name: value * 1000 / snapshots for name, value in figures.items()}


def run(backend: str, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """ms per snapshot in each mode on ``backend`` (a fresh database per mode and run), per measure."""
    figures: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    for _ in range(args.runs):
        for mode in MODES:
            with tempfile.TemporaryDirectory(prefix="herald-snapshots-") as directory:
                url = (f"sqlite:///{Path(directory) / 'herald.db'}" if backend == "sqlite"
                       else _postgres_url(args.postgres, create=True))
                database = models.bind_database(url)
                upgrade(database)
                with database.connection_context():
                    workspace_id, pairs = _load(args.posts)
                    figures[mode].append(_measure(workspace_id, pairs, args.snapshots, mode))
                database.close_all()
                if backend == "postgres":
                    _postgres_url(args.postgres, create=False)
    return {mode: {name: statistics.median(run[name] for run in runs) for name in runs[0]}
            for mode, runs in figures.items()}


def main() -> None:
    """Print ms per snapshot insert, per backend and mode, and the engagement triggers' share."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--snapshots", type=int, default=5000)
    parser.add_argument("--posts", type=int, default=500)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    for backend in ("sqlite", "postgres") if args.db == "both" else (args.db,):
        figures = run(backend, args)
        for name in figures["all"]:
            shown = ", ".join(f"{mode} {values[name]:.3f}" for mode, values in figures.items())
            print(f"{backend} {name}: ms per snapshot ({args.snapshots} snapshots, {args.posts} posts): {shown}; "
                  f"engagement triggers {figures['all'][name] - figures['no-engagement'][name]:.3f}, "
                  f"all triggers {figures['all'][name] - figures['none'][name]:.3f}")


if __name__ == "__main__":
    main()
