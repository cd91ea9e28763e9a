"""Computed intelligence results reused while the client's revision is unchanged.

The freshness rule: a client's revision (``intelligence_revision``, migration 0032) is bumped by
database triggers in the transaction of every write that can change what the reads see. A result is
stored with the revision it was computed at and served while the revision is the same; the first read
of a kind after a change computes it again (:func:`herald.intelligence.lookups.compute`, from the items
:mod:`herald.intelligence.items` holds and brings up to date) and stores it. Results are stored only when the
revision read before the computation is still the one after it, so a write that commits while it runs
can never leave a result stored under a revision it does not describe.

Results live in the database (``intelligence_result``, one row per client and kind), not in Redis: every
web machine shares them, they need no second connection in the scoring context, and a result is never
older than the rows it was read beside. They are few (a handful per client) and replaced in place.

A result also records :data:`VERSION` (Herald's version, the feature extractor's and the analyses'):
after an upgrade that may answer differently, every result is computed again on its next read.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import peewee as pw

from .. import __version__
from ..db.models import Client, IntelligenceResult, IntelligenceRevision, write_transaction
from .insights import FEATURES_VERSION

ANALYSES_VERSION = "3"  # raise when a stored result (lookups.compute: memory, openers, ...) changes shape or answer
VERSION = f"{__version__}/{FEATURES_VERSION}/{ANALYSES_VERSION}"
# A stored body is ``{"version":VERSION,"result":RESULT}`` (compact JSON): the result's text is what
# follows this prefix, up to the closing brace.
_PREFIX = '{"version":' + json.dumps(VERSION) + ',"result":'
computations = 0  # how many results were computed rather than read (for tests and benchmarks)


class Json(str):
    """A result that is JSON text already (stored and spliced as it is, never encoded again)."""


def revision(client_id: int) -> int:
    """The client's current revision (0 before any write counted)."""
    row = (IntelligenceRevision.select(IntelligenceRevision.revision)
           .where(IntelligenceRevision.client_id == client_id).tuples().first())
    return row[0] if row else 0


def cached_texts(client_id: int, kinds: tuple[str, ...], compute: Callable[[tuple[str, ...]], dict[str, Any]]
                 ) -> dict[str, str]:
    """The results ``kinds`` of the client as the JSON texts that were stored (nothing decoded: a document
    that includes a large result, such as the export's scores, splices it in as it is). Those stored at the
    client's current revision are read; the others are computed together by ``compute(missing kinds)``,
    which answers them and maybe others computed with them (JSON-serialisable, by kind), all stored when no
    write came in while it ran. A read answers the same whether it computed or not (the JSON form)."""
    global computations
    current = revision(client_id)
    found = {kind: body[len(_PREFIX):-1] for kind, stored_at, body in
             IntelligenceResult.select(IntelligenceResult.kind, IntelligenceResult.revision, IntelligenceResult.body)
             .where((IntelligenceResult.client_id == client_id) & IntelligenceResult.kind.in_(kinds)).tuples()
             if stored_at == current and body.startswith(_PREFIX)}  # another version: computed again
    missing = tuple(kind for kind in kinds if kind not in found)
    if missing:
        computations += 1
        texts = {name: result if isinstance(result, Json) else json.dumps(result, separators=(",", ":"))
                 for name, result in compute(missing).items()}
        if revision(client_id) == current:
            with write_transaction():
                (IntelligenceResult.insert_many([{"client_id": client_id, "kind": name, "revision": current,
                                                  "body": f"{_PREFIX}{text}}}"} for name, text in texts.items()])
                 .on_conflict(conflict_target=[IntelligenceResult.client_id, IntelligenceResult.kind],
                              preserve=[IntelligenceResult.revision, IntelligenceResult.body]).execute())
        found.update(texts)
    return {kind: found[kind] for kind in kinds}


def stale_clients(limit: int) -> list[int]:
    """Up to ``limit`` clients with a stored result computed at an older revision than their current one
    (the longest stale first): clients someone read intelligence for and whose data changed since.
    Clients never read, or deleted, are not listed: nothing is computed for a reader who may never come
    (and a deleted client listed forever would take a place in every batch)."""
    query = (IntelligenceResult.select(IntelligenceResult.client_id, pw.fn.MIN(IntelligenceResult.revision))
             .join(IntelligenceRevision, on=(IntelligenceRevision.client_id == IntelligenceResult.client_id))
             .join(Client, on=(Client.id == IntelligenceResult.client_id))
             .where(Client.deleted_at.is_null() & (IntelligenceResult.revision != IntelligenceRevision.revision))
             .group_by(IntelligenceResult.client_id)
             .order_by(pw.fn.MIN(IntelligenceResult.revision), IntelligenceResult.client_id).limit(limit))
    return [client_id for client_id, _ in query.tuples()]


def forget(workspace_id: int | None = None) -> int:
    """Delete the stored results (of one workspace's clients, or all): each is computed again when next
    read. Returns how many were deleted."""
    query = IntelligenceResult.delete()
    if workspace_id is not None:
        query = query.where(IntelligenceResult.client_id.in_(
            Client.select(Client.id).where(Client.workspace == workspace_id)))
    with write_transaction():
        return query.execute()
