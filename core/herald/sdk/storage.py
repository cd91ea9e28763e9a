"""Tables of a plugin's own: the base model, field types, the core tables a plugin may refer to,
transactions, prepared statements, migration helpers and encryption of stored secrets.

A plugin declares its migrations with ``register_migrations`` (``herald init-db`` applies them after
the core's); its models subclass :class:`BaseModel` and write inside :func:`write_transaction`, the
one write lock every Herald process shares.
"""

from __future__ import annotations

from ..crypto import InvalidToken, decrypt, encrypt
from ..db.migrate import never_reuse_ids
from ..db.models import BaseModel, Event, JSONField, Workspace, db, isoformat, utcnow, write_transaction
from ..db.prepared_statements import Prepared, PreparedInsert, PreparedUpdate, by_id

__all__ = ["BaseModel", "Event", "InvalidToken", "JSONField", "Prepared", "PreparedInsert", "PreparedUpdate",
           "Workspace", "by_id", "db", "decrypt", "encrypt", "isoformat", "never_reuse_ids", "utcnow",
           "write_transaction"]
