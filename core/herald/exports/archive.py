"""The GDPR export: everything a workspace holds, as a zip archive produced while it is sent.

What goes in is found, not listed: every peewee model bound to Herald's database (the core's and
every loaded plugin's, found as subclasses of ``peewee.Model`` whose database is
:data:`herald.db.models.db`) whose table exists, scoped to the workspace through its shortest chain
of foreign keys to ``Workspace`` (``post_version.post_id → post.workspace_id``). A table added
later by the core or a plugin is exported without any change here. Tables with no such chain
(global tables, migration histories) are listed in the manifest as not exported, with the reason.

Archive layout::

    manifest.json            format, workspace, each table with its file, row count, scope and
                             redacted columns; tables left out and why; media totals
    tables/<table>.jsonl     one JSON object per row (column name -> value), ordered by primary key
    media/<path>             the uploaded files, at the ``path`` their ``media`` rows name

Secrets are replaced by ``"[redacted]"`` (NULL stays null): every column, and every key inside a
JSON column, whose name's last ``_``-separated word is one of :data:`SECRET_WORDS`
(``digest``, ``password_hash``, ``token_encrypted``, ``secret_encrypted``, ``api_key`` …), plus
the columns of :data:`ALWAYS_REDACTED`.
"""

from __future__ import annotations

import base64
import collections
import datetime as dt
import decimal
import json
import uuid
import zipfile
from collections.abc import Iterator
from typing import Any

import peewee as pw

from ..db.models import MODELS, Media, Workspace, db, isoformat
from ..media.store import MediaNotStored, MediaStore

FORMAT = "herald-account-export"
FORMAT_VERSION = 1
REDACTED = "[redacted]"
SECRET_WORDS = frozenset({"password", "passphrase", "secret", "token", "digest", "hash", "encrypted", "key",
                          "credentials"})
# Columns whose name does not say "secret" but whose content can be one.
ALWAYS_REDACTED = {
    ("idempotency_record", "response_body"): "the stored response can hold an API key or a webhook secret "
                                             "that was shown once",
}
BATCH = 1000
FLUSH_BYTES = 256 * 1024
MEDIA_CHUNK = 1024 * 1024


def is_secret_name(name: str) -> bool:
    """Whether a column or JSON key named ``name`` holds a secret (by its last word: ``token_encrypted``)."""
    return name.lower().rsplit("_", 1)[-1] in SECRET_WORDS


def redact_json(value: Any) -> Any:
    """``value`` (parsed JSON) with the values of secret-named keys replaced, at any depth."""
    if isinstance(value, dict):
        return {key: (REDACTED if value[key] is not None and is_secret_name(str(key)) else redact_json(value[key]))
                for key in value}
    if isinstance(value, list):
        return [redact_json(item) for item in value]
    return value


def bound_models() -> list[type[pw.Model]]:
    """Every model class bound to Herald's database, one per table (the core's class wins a shared table)."""
    found: dict[str, type[pw.Model]] = {model._meta.table_name: model for model in MODELS}
    stack = list(pw.Model.__subclasses__())
    others = []
    while stack:
        model = stack.pop()
        stack.extend(model.__subclasses__())
        if model._meta.database is db and model not in MODELS:
            others.append(model)
    for model in sorted(others, key=lambda m: (m.__module__, m.__qualname__)):
        found.setdefault(model._meta.table_name, model)
    return list(found.values())


def workspace_path(model: type[pw.Model]) -> list[pw.ForeignKeyField] | None:
    """The shortest chain of foreign keys from ``model`` to ``Workspace`` (not-null keys first); None when none.

    ``[]`` for ``Workspace`` itself.
    """
    queue = collections.deque([(model, [])])
    seen = {model}
    while queue:
        current, path = queue.popleft()
        if current is Workspace:
            return path
        keys = sorted((field for field in current._meta.sorted_fields if isinstance(field, pw.ForeignKeyField)),
                      key=lambda field: (field.null, field.name))
        for key in keys:
            if key.rel_model not in seen:
                seen.add(key.rel_model)
                queue.append((key.rel_model, [*path, key]))
    return None


def describe_path(model: type[pw.Model], path: list[pw.ForeignKeyField]) -> str:
    """``post_version.post_id → post.workspace_id`` (how a table's rows are tied to the workspace)."""
    if not path:
        return f"{model._meta.table_name}.id"
    return " → ".join(f"{key.model._meta.table_name}.{key.column_name}" for key in path)


def scoped_query(model: type[pw.Model], path: list[pw.ForeignKeyField], workspace_id: int) -> pw.ModelSelect:
    """The rows of ``model`` that belong to the workspace, joined along ``path``."""
    query = model.select(*model._meta.sorted_fields)
    if not path:
        return query.where(model._meta.primary_key == workspace_id)
    for key in path[:-1]:
        query = query.join_from(key.model, key.rel_model, on=(key == key.rel_field))
    return query.where(path[-1] == workspace_id)


def json_value(value: Any) -> Any:
    """A column value as JSON: times as ``…Z`` strings, decimals and UUIDs as text, bytes as ``{"base64"}``."""
    if isinstance(value, dt.datetime):
        return isoformat(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return {"base64": base64.b64encode(bytes(value)).decode()}
    return value


class TablePlan:
    """How one table is exported: its model, its path to the workspace and its redacted columns."""

    def __init__(self, model: type[pw.Model], path: list[pw.ForeignKeyField]):
        self.model = model
        self.path = path
        self.table = model._meta.table_name
        self.fields = list(model._meta.sorted_fields)
        self.redacted = [field.column_name for field in self.fields
                         if is_secret_name(field.name) or is_secret_name(field.column_name)
                         or (self.table, field.column_name) in ALWAYS_REDACTED]

    def rows(self, workspace_id: int) -> Iterator[dict[str, Any]]:
        """The workspace's rows as JSON-ready dicts, redacted, in primary-key order, read in batches."""
        query = scoped_query(self.model, self.path, workspace_id)
        key = self.model._meta.primary_key
        if isinstance(key, pw.Field) and not isinstance(key, pw.CompositeKey):
            index = self.fields.index(key)
            last = None
            while True:
                batch = query if last is None else query.where(key > last)
                rows = list(batch.order_by(key).limit(BATCH).tuples())
                yield from (self._row(row) for row in rows)
                if len(rows) < BATCH:
                    return
                last = rows[-1][index]
        else:  # no single-column key to page on: one pass
            yield from (self._row(row) for row in query.tuples().iterator())

    def _row(self, values) -> dict[str, Any]:
        row = {}
        for field, value in zip(self.fields, values, strict=True):
            if value is not None and field.column_name in self.redacted:
                value = REDACTED
            elif isinstance(value, dict | list):
                value = redact_json(value)
            row[field.column_name] = json_value(value)
        return row


def plan_tables() -> tuple[list[TablePlan], list[dict[str, str]]]:
    """What is exported (tables that exist and reach the workspace) and what is not, with the reason."""
    existing = set(db.get_tables())
    plans, skipped = [], []
    for model in bound_models():
        table = model._meta.table_name
        if table not in existing:
            continue
        path = workspace_path(model)
        if path is None:
            skipped.append({"table": table, "reason": "no foreign-key path to workspace: not workspace data"})
        else:
            plans.append(TablePlan(model, path))
    modelled = {plan.table for plan in plans} | {entry["table"] for entry in skipped}
    for table in sorted(existing - modelled):
        skipped.append({"table": table, "reason": "no loaded model describes this table (migration history, "
                                                  "or a plugin that is not installed)"})
    plans.sort(key=lambda plan: plan.table)
    return plans, skipped


class _Sink:
    """A write-only stream that keeps what ``zipfile`` writes until the generator hands it on."""

    def __init__(self):
        self.parts: list[bytes] = []
        self.size = 0

    def write(self, data) -> int:
        self.parts.append(bytes(data))
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        self.size = 0
        return data


def archive_chunks(workspace_id: int, store: MediaStore, exported_at: dt.datetime) -> Iterator[bytes]:
    """The zip archive of the workspace, in pieces of about 256 KiB (see the module docstring);
    ``exported_at`` (the runtime clock's time of the request) goes in the manifest."""
    sink = _Sink()
    workspace = Workspace.get_by_id(workspace_id)
    plans, skipped = plan_tables()
    manifest: dict[str, Any] = {
        "format": FORMAT, "version": FORMAT_VERSION, "exported_at": isoformat(exported_at),
        "workspace": {"id": workspace.id, "name": workspace.name},
        "redaction": {"value": REDACTED, "secret_words": sorted(SECRET_WORDS),
                      "always_redacted": [f"{table}.{column}" for table, column in ALWAYS_REDACTED]},
        "tables": [], "not_exported": skipped,
    }
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for plan in plans:
            name = f"tables/{plan.table}.jsonl"
            count = 0
            with archive.open(name, "w", force_zip64=True) as out:
                for row in plan.rows(workspace_id):
                    out.write(json.dumps(row, ensure_ascii=False).encode() + b"\n")
                    count += 1
                    if sink.size >= FLUSH_BYTES:
                        yield sink.take()
            manifest["tables"].append({"table": plan.table, "model": f"{plan.model.__module__}.{plan.model.__name__}",
                                       "file": name, "rows": count, "scope": describe_path(plan.model, plan.path),
                                       "redacted": plan.redacted})
        yield from _add_media(archive, sink, workspace_id, store, manifest)
        archive.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
    yield sink.take()


def _add_media(archive: zipfile.ZipFile, sink: _Sink, workspace_id: int, store: MediaStore,
               manifest: dict) -> Iterator[bytes]:
    files, total, missing, written = 0, 0, [], set()
    rows = Media.select(Media.id, Media.path).where(Media.workspace == workspace_id).order_by(Media.id)
    for row in rows:
        if row.path in written:  # identical uploads share one stored file
            continue
        found = store.stat(row.path)
        try:
            source = store.open(row.path) if found is not None else None
        except MediaNotStored:
            source = None
        if source is None:
            missing.append(row.id)
            continue
        info = zipfile.ZipInfo(f"media/{row.path}", date_time=_zip_time(found.modified))
        info.compress_type = zipfile.ZIP_STORED  # images and videos are compressed already
        info.file_size = found.size
        with archive.open(info, "w") as out, source:
            while chunk := source.read(MEDIA_CHUNK):
                out.write(chunk)
                total += len(chunk)
                if sink.size >= FLUSH_BYTES:
                    yield sink.take()
        written.add(row.path)
        files += 1
    manifest["media"] = {"files": files, "bytes": total, "missing_media_ids": missing}


def _zip_time(stamp: dt.datetime) -> tuple[int, int, int, int, int, int]:
    stamp = stamp.astimezone(dt.UTC)
    return (max(1980, stamp.year), stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second)
