"""The intelligence reads as lookups: brand memory, ranked openers, patterns, the learned scorer's client
model, the stored scores and the audit's timeline of a client are computed together from ONE walk of its
history (:func:`herald.intelligence.history.load`) once per client revision, and read back while nothing
they depend on changed (:mod:`herald.intelligence.results`). The audit and the report depend on "now":
they are made at each read from the stored timeline (:mod:`herald.intelligence.timeline`) and results."""

from __future__ import annotations

import datetime as dt

from ..db.models import Client
from . import audit as audits
from . import history, learned_model, memory, openers, patterns, results, timeline
from . import report as reports

REFRESH_BATCH = 50  # clients refreshed per run of the chore (about 0.3 s each at 200k posts)


def compute(workspace_id: int, client: Client) -> dict:
    """Every stored result of the client, by kind, from one walk of its history."""
    items = history.load(workspace_id, client)
    return {"memory": memory.build(client, items), "hooks": openers.top(items),
            "patterns": patterns.analyse(items), "learned_model": learned_model.model(items),
            "scores": reports.scores(items), "timeline": timeline.build(items)}


def _stored(workspace_id: int, client: Client, kind: str):
    return results.cached(client.id, kind, lambda: compute(workspace_id, client))


def refresh_stale(limit: int = REFRESH_BATCH) -> int:
    """Compute again the stored results of up to ``limit`` clients whose data changed since they were
    stored (:func:`herald.intelligence.results.stale_clients`), so that their next read is a lookup
    rather than the walk (``herald cron``'s :func:`herald.chores.refresh_intelligence`). Reads stay exact
    without it: a read of a stale client computes. Returns how many clients were refreshed."""
    stale = results.stale_clients(limit)
    for client in Client.select().where(Client.id.in_(stale)):
        _stored(client.workspace_id, client, results.STALENESS_KIND)
    return len(stale)


def brand_memory(workspace_id: int, client: Client) -> dict:
    """:func:`herald.intelligence.memory.build` of the client's history."""
    return _stored(workspace_id, client, "memory")


def top_openers(workspace_id: int, client: Client, limit: int = 50) -> dict:
    """:func:`herald.intelligence.openers.build` of the client's history (the AI-generated openers are
    read every time: they are not part of the revision)."""
    return openers.report(workspace_id, client, _stored(workspace_id, client, "hooks"), limit)


def top_patterns(workspace_id: int, client: Client, min_sample: int = patterns.MIN_SAMPLE) -> dict:
    """:func:`herald.intelligence.patterns.analyse` of the client's history with ``min_sample``."""
    return patterns.winners(_stored(workspace_id, client, "patterns"), min_sample)


def client_model(workspace_id: int, client: Client) -> dict:
    """:func:`herald.intelligence.learned_model.model` of the client's history."""
    return _stored(workspace_id, client, "learned_model")


def audit(workspace_id: int, client: Client, period_days: int, now: dt.datetime) -> dict:
    """:func:`herald.intelligence.audit.run` of the client's history over the ``period_days`` before ``now``,
    from the posts of the stored timeline in that period and the one before (all the audit reads)."""
    start = now - dt.timedelta(days=2 * period_days)
    moments = timeline.window(_stored(workspace_id, client, "timeline"), start, now)
    return audits.run(client, moments, period_days, now)


def report(workspace_id: int, client: Client, period_days: int, now: dt.datetime) -> dict:
    """:func:`herald.intelligence.report.build` of the client's history, from the stored results."""
    return reports.assemble(client, now, memory=brand_memory(workspace_id, client),
                            hooks=top_openers(workspace_id, client), patterns=top_patterns(workspace_id, client),
                            audit=audit(workspace_id, client, period_days, now),
                            scores=_stored(workspace_id, client, "scores"))
