"""The intelligence reads as lookups: brand memory, ranked openers, patterns, the learned scorer's client
model, the stored scores and the audit's timeline of a client are computed together from ONE walk of its
history (:func:`herald.intelligence.history.load`) once per client revision, and read back while nothing
they depend on changed (:mod:`herald.intelligence.results`). The audit and the report depend on "now":
they are made at each read from the stored timeline (:mod:`herald.intelligence.timeline`) and results."""

from __future__ import annotations

import bisect
import datetime as dt
import json

from ..db.models import Client
from . import audit as audits
from . import items, learned_model, memory, openers, patterns, results, timeline
from . import report as reports

REFRESH_BATCH = 50  # clients refreshed per run of the chore (about 0.3 s each at 200k posts)

# kind -> the tally that keeps it up to date one changed post at a time (its batch function is the same tally
# made from the posts); the timeline, which lists every post, is made from the items each time
TALLIES = {"learned_model": learned_model.Tally, "memory": memory.Tally, "patterns": patterns.Tally,
           "hooks": openers.Tally, "scores": reports.ScoresTally}
KINDS = (*TALLIES, "timeline")  # every stored result of a client
REPORT_KINDS = ("memory", "hooks", "patterns", "scores")  # the stored results the report is made of


def compute(workspace_id: int, client: Client, kinds=KINDS) -> dict:
    """The results ``kinds`` (every kind by default) of the client: from their tallies (:data:`TALLIES`),
    and the timeline from the items (:func:`herald.intelligence.items.items`: held by this process and
    brought up to date, or loaded)."""
    computed = {kind: items.result(workspace_id, client, kind, TALLIES[kind]) for kind in kinds if kind in TALLIES}
    if "timeline" in kinds:
        computed["timeline"] = timeline.build(items.items(workspace_id, client))
    return computed


def _texts(workspace_id: int, client: Client, kinds: tuple[str, ...]) -> dict[str, str]:
    """The stored results ``kinds`` as JSON text; those stale are computed together."""
    return results.cached_texts(client.id, kinds, lambda missing: compute(workspace_id, client, missing))


def _stored(workspace_id: int, client: Client, kind: str):
    return json.loads(_texts(workspace_id, client, (kind,))[kind])


def refresh_stale(limit: int = REFRESH_BATCH) -> int:
    """Compute again every stored result of up to ``limit`` clients whose data changed since a result of
    theirs was stored (:func:`herald.intelligence.results.stale_clients`), so that their next reads are
    lookups (``herald cron``'s :func:`herald.chores.refresh_intelligence`). Reads stay exact without it:
    a read of a stale result computes. Returns how many clients were refreshed."""
    stale = results.stale_clients(limit)
    for client in Client.select().where(Client.id.in_(stale)):
        _texts(client.workspace_id, client, KINDS)
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
    from the posts of that period and the one before (all the audit reads): taken from the items this
    process holds (brought up to date), else from the stored timeline."""
    start = now - dt.timedelta(days=2 * period_days)
    if items.holds(client):
        held = items.items(workspace_id, client)
        moments = held[bisect.bisect_left(held, start, key=_when):bisect.bisect_left(held, now, key=_when)]
    else:
        moments = timeline.window(_stored(workspace_id, client, "timeline"), start, now)
    return audits.run(client, moments, period_days, now)


def _when(item) -> dt.datetime:
    return item.when


def report(workspace_id: int, client: Client, period_days: int, now: dt.datetime) -> dict:
    """:func:`herald.intelligence.report.build` of the client's history, from the stored results."""
    return json.loads(report_json(workspace_id, client, period_days, now))


def report_json(workspace_id: int, client: Client, period_days: int, now: dt.datetime) -> str:
    """:func:`report` as JSON text. The ``scores`` section, which lists every scored post, is the stored
    result's text spliced in as it is (decoding and encoding it again was most of the export's time)."""
    texts = _texts(workspace_id, client, REPORT_KINDS)  # the stale ones computed together
    document = reports.assemble(client, now, memory=json.loads(texts["memory"]),
                                hooks=openers.report(workspace_id, client, json.loads(texts["hooks"])),
                                patterns=patterns.winners(json.loads(texts["patterns"]), patterns.MIN_SAMPLE),
                                audit=audit(workspace_id, client, period_days, now), scores=None)
    del document["scores"]  # goes last, as in the report
    return f'{json.dumps(document, separators=(",", ":"))[:-1]},"scores":{texts["scores"]}}}'
