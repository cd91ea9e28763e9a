"""The one registry of derived data: what Herald computes from its rows and keeps beside them.

Each family (:data:`REGISTRY`) is kept by database triggers in the transaction of every write, so every
write path counts, and each can be checked against a recomputation and rebuilt from scratch:

- ``counters``: the post counters behind the lists' ``total`` (:mod:`herald.db.post_counts`);
- ``figures``: the per-day and per-hour figures and the tasks per client and account the health scores and the
  analytics export read (:mod:`herald.db.daily_figures`);
- ``engagement``: the per-hour engagement sums ``GET /v1/analytics`` and the client portal's stats and
  chart read (:mod:`herald.db.engagement_hours`);
- ``intelligence``: the per-client revisions that say when a stored intelligence result is stale and the
  posts that changed at each (:mod:`herald.db.intelligence_revisions`), the stored results
  (:mod:`herald.intelligence.results`) and the per-post insights (:mod:`herald.intelligence.insights`).
  The insights and results are compared with the live rows at every read, so its check looks at its
  triggers only; its rebuild records a change of every post, so nothing held is reused.

A trigger can go missing without an error (SQLite drops a table's triggers when a migration rebuilds the
table by copying it; a restore may leave them out): :meth:`Derived.check` reports each missing trigger
beside the data that differs, and :meth:`Derived.rebuild` installs missing triggers before it recomputes.
``herald derived list|check|rebuild`` (:mod:`herald.cli_derived`) and ``herald cron``'s
:func:`repair` (every ``HERALD_DERIVED_CHECK_INTERVAL_SECONDS``) run them; :func:`suspended` drops every
trigger for a bulk load and rebuilds everything after it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
from collections.abc import Callable, Iterator

import peewee as pw

from .db import daily_figures, engagement_hours, intelligence_revisions, post_counts, triggers
from .intelligence import insights, results

log = logging.getLogger("herald.derived")


@dataclasses.dataclass(frozen=True)
class Difference:
    """One thing :meth:`Derived.check` found: ``workspace_id`` is None when it is not one workspace's
    (a missing trigger)."""

    name: str
    workspace_id: int | None
    message: str


@dataclasses.dataclass(frozen=True)
class Derived:
    """One family of derived data: its triggers (names per backend, from the module that owns them), how
    to install and drop them, what differs from a recomputation, and how to recompute it."""

    name: str
    description: str
    trigger_names: Callable[[pw.Database], tuple[str, ...]]
    install: Callable[[pw.Database], None]
    uninstall: Callable[[pw.Database], None]
    drift: Callable[[pw.Database, int | None], list[tuple[int, str]]]  # (workspace_id, what differs)
    recompute: Callable[[pw.Database, int | None], int]  # returns how many rows (or posts) it wrote

    def missing_triggers(self, database: pw.Database, present: set[str] | None = None) -> list[str]:
        """The triggers of this family that ``database`` lacks (``present``: the triggers it has, if known)."""
        present = triggers.existing(database) if present is None else present
        return [name for name in self.trigger_names(database) if name not in present]

    def check(self, database: pw.Database, workspace_id: int | None = None) -> list[Difference]:
        """Every missing trigger, then what differs from a recomputation (of one workspace, or all)."""
        found = [Difference(self.name, None, f"trigger {name} is missing")
                 for name in self.missing_triggers(database)]
        return found + [Difference(self.name, workspace, message)
                        for workspace, message in self.drift(database, workspace_id)]

    def rebuild(self, database: pw.Database, workspace_id: int | None = None) -> int:
        """Recompute the data (of one workspace, or all) from scratch; returns what :attr:`recompute` wrote.

        When a trigger is missing, the triggers are installed first (in one transaction, so no write
        falls between dropping and creating them) and every workspace is recomputed, whatever
        ``workspace_id`` says: any of them may have been written without the trigger. The triggers go
        before the recomputation, so a write that lands meanwhile is counted either way."""
        if self.missing_triggers(database):
            with database.atomic():
                self.install(database)
            workspace_id = None
        return self.recompute(database, workspace_id)


def _counter_drift(database: pw.Database, workspace_id: int | None) -> list[tuple[int, str]]:
    return [(row["workspace_id"], f"client {row['client_id']} campaign {row['campaign_id']} {row['status']}: "
                                  f"stored {row['stored']}, counted {row['counted']}")
            for row in post_counts.drift(database, workspace_id)]


def _compared(names: tuple[str, ...], stored: tuple | None, recomputed: tuple | None) -> str:
    """``likes: stored 53, recomputed 50; …`` for the values that differ (a row missing counts as zeros)."""
    stored, recomputed = stored or (0,) * len(names), recomputed or (0,) * len(names)
    return "; ".join(f"{name}: stored {have}, recomputed {want}"
                     for name, have, want in zip(names, stored, recomputed, strict=True) if have != want)


def _figure_drift(database: pw.Database, workspace_id: int | None) -> list[tuple[int, str]]:
    found = []
    pairs = [(bucket.column, daily_figures.COUNTS, functools.partial(daily_figures.stored, bucket=bucket),
              functools.partial(daily_figures.recompute, bucket=bucket)) for bucket in daily_figures.BUCKETS]
    pairs.append(("account", ("tasks",), daily_figures.stored_accounts, daily_figures.recompute_accounts))
    for label, names, stored, recomputed in pairs:
        have = {row[:3]: row[3:] for row in stored(database, workspace_id)}
        want = {row[:3]: row[3:] for row in recomputed(database, workspace_id)}
        for key in sorted(have.keys() | want.keys()):
            if have.get(key) != want.get(key):
                found.append((key[0], f"client {key[1]} {label} {key[2]}: "
                                      f"{_compared(names, have.get(key), want.get(key))}"))
    return found


def _rebuild_figures(database: pw.Database, workspace_id: int | None) -> int:
    return sum(daily_figures.rebuild(database, workspace_id).values())


def _no_drift(database: pw.Database, workspace_id: int | None) -> list[tuple[int, str]]:
    return []  # insights and results are compared with the live rows at every read


def _refresh_intelligence(database: pw.Database, workspace_id: int | None) -> int:
    done = insights.rebuild(workspace_id)
    with database.atomic():  # what was computed or held at revisions that may not have followed every write
        intelligence_revisions.invalidate(database, workspace_id)
        results.forget(workspace_id)
    return done


REGISTRY: tuple[Derived, ...] = (
    Derived("counters", "The post counters behind the lists' totals (per workspace, client, campaign, status).",
            post_counts.TRIGGERS.names, post_counts.TRIGGERS.install, post_counts.TRIGGERS.uninstall, _counter_drift,
            post_counts.rebuild),
    Derived("figures", "The per-day and per-hour figures and per-account task counts the health scores and "
                       "analytics read.",
            daily_figures.triggers, daily_figures.install, daily_figures.uninstall, _figure_drift,
            _rebuild_figures),
    Derived("engagement", "The per-hour engagement sums (per owner, per post, gains, per status) that /v1/analytics "
                          "and the client portal's stats and chart read.",
            engagement_hours.triggers, engagement_hours.install, engagement_hours.uninstall, engagement_hours.drift,
            engagement_hours.rebuild),
    Derived("intelligence", "The per-client revisions that make stored intelligence results stale, the stored "
                            "results and the per-post insights (compared with live rows at every read).",
            intelligence_revisions.ALL_TRIGGERS.names, intelligence_revisions.ALL_TRIGGERS.install,
            intelligence_revisions.ALL_TRIGGERS.uninstall,
            _no_drift, _refresh_intelligence),
)


def named(name: str | None) -> tuple[Derived, ...]:
    """The entry called ``name`` (every entry when None); ``KeyError`` naming the known ones otherwise."""
    if name is None:
        return REGISTRY
    for entry in REGISTRY:
        if entry.name == name:
            return (entry,)
    raise KeyError(f"no derived data called {name!r} (known: {', '.join(entry.name for entry in REGISTRY)})")


def missing_triggers(database: pw.Database) -> list[str]:
    """Every trigger of every entry that ``database`` lacks, in one query (``/health``)."""
    present = triggers.existing(database)
    return [name for entry in REGISTRY for name in entry.missing_triggers(database, present)]


def repair(database: pw.Database) -> list[Difference]:
    """Check every entry and rebuild what differs (``herald cron``): an entry with a missing trigger as a
    whole, otherwise only the workspaces whose data differ. Returns what it repaired, each logged."""
    repaired = []
    for entry in REGISTRY:
        found = entry.check(database)
        for difference in found:
            log.warning("derived data %s: %s%s: repairing", entry.name, difference.message,
                        "" if difference.workspace_id is None else f" (workspace {difference.workspace_id})")
        workspaces = {difference.workspace_id for difference in found}
        for workspace_id in [None] if None in workspaces else sorted(workspaces):
            entry.rebuild(database, workspace_id)
        repaired += found
    return repaired


def analyze(database: pw.Database) -> None:
    """Refresh the query planner's statistics of every table (``ANALYZE``), after a bulk load changed
    them by far more than the planner's last look at them assumed."""
    database.execute_sql("ANALYZE")


@contextlib.contextmanager
def suspended(database: pw.Database) -> Iterator[None]:
    """Drop every trigger of every entry for a bulk load (each row then goes in without them), and on
    exit, even after an error, install them again, ``ANALYZE``, rebuild everything from scratch (so the
    derived data describe exactly the rows there are) and ``ANALYZE`` again (the derived tables' new
    rows). Loading 1M posts through the triggers took about 12 min on SQLite and 25 on PostgreSQL;
    nothing else may write while the triggers are off.

    The first ``ANALYZE`` is what keeps the rebuild in minutes: after 1M posts went into an empty
    PostgreSQL database (no statistics, autovacuum off or not yet round) the planner took the tables
    for nearly empty and the per-owner engagement rebuild ran for over 25 minutes."""
    with database.atomic():
        for entry in REGISTRY:
            entry.uninstall(database)
    try:
        yield
    finally:
        with database.atomic():
            for entry in REGISTRY:
                entry.install(database)
        analyze(database)
        for entry in REGISTRY:
            entry.recompute(database, None)
        analyze(database)

