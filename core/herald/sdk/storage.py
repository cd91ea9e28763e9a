"""Tables of a plugin's own: the base model, field types, the core tables a plugin may refer to,
transactions, prepared statements, migration helpers and encryption of stored secrets.

A plugin declares its migrations with ``register_migrations`` (``herald init-db`` applies them after
the core's); its models subclass :class:`BaseModel` and write inside :func:`write_transaction`, the
one write lock every Herald process shares. A work kind's table declares :func:`active_due_index`
(its active rows by ``due_at``, partial on :func:`status_in` of the kind's active statuses), through
which the reconciler finds the rows due soon.
"""

from __future__ import annotations

from ..crypto import InvalidToken, decrypt, encrypt
from ..db.migrate import never_reuse_ids
from ..db.models import (
    BaseModel,
    Event,
    JSONField,
    Workspace,
    active_due_index,
    db,
    isoformat,
    status_in,
    utcnow,
    write_transaction,
)
from ..db.prepared_statements import Prepared, PreparedInsert, PreparedUpdate, by_id

__all__ = ["BaseModel", "Event", "InvalidToken", "JSONField", "Prepared", "PreparedInsert", "PreparedUpdate",
           "Workspace", "active_due_index", "by_id", "db", "decrypt", "encrypt", "isoformat", "never_reuse_ids",
           "status_in", "utcnow", "write_transaction"]
