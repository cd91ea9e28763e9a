"""The intelligence reads as lookups: brand memory, ranked openers and patterns of a client, computed
from its history (:func:`herald.intelligence.history.load`) once per client revision and read back
while nothing they depend on changed (:mod:`herald.intelligence.results`)."""

from __future__ import annotations

from ..db.models import Client
from . import history, memory, openers, patterns, results


def brand_memory(workspace_id: int, client: Client) -> dict:
    """:func:`herald.intelligence.memory.build` of the client's history."""
    return results.cached(client.id, "memory", lambda: memory.build(client, history.load(workspace_id, client)))


def top_openers(workspace_id: int, client: Client, limit: int = 50) -> dict:
    """:func:`herald.intelligence.openers.build` of the client's history (the AI-generated openers are
    read every time: they are not part of the revision)."""
    ranked = results.cached(client.id, "hooks", lambda: openers.ranked(history.load(workspace_id, client)))
    return openers.report(workspace_id, client, ranked, limit)


def top_patterns(workspace_id: int, client: Client, min_sample: int = patterns.MIN_SAMPLE) -> dict:
    """:func:`herald.intelligence.patterns.analyse` of the client's history (one result per ``min_sample``)."""
    return results.cached(client.id, f"patterns:{min_sample}",
                          lambda: patterns.analyse(history.load(workspace_id, client), min_sample=min_sample))
