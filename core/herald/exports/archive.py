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

import collections
import datetime as dt
import json
import zipfile
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import peewee as pw

from ..db.models import DERIVED_TABLES, MODELS, Media, Workspace, db, isoformat
from ..media.store import MediaNotStored, MediaStore
from .rows import REDACTED, SECRET_WORDS, batch_encoder, is_secret_name, selected_as_text
from .rows import json_value as json_value  # re-exported: the archive's value rules, as tests read them
from .rows import redact_json as redact_json

FORMAT = "herald-account-export"
FORMAT_VERSION = 1
# Columns whose name does not say "secret" but whose content can be one.
ALWAYS_REDACTED = {
    ("idempotency_record", "response_body"): "the stored response can hold an API key or a webhook secret "
                                             "that was shown once",
}
BATCH = 5000  # rows a batch: each is one keyset query (plain tuples, a few MB at most)
FLUSH_BYTES = 256 * 1024
MEDIA_CHUNK = 1024 * 1024
COMPRESS_LEVEL = 1


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


def scoped_query(model: type[pw.Model], path: list[pw.ForeignKeyField], workspace_id: int, *columns) -> pw.ModelSelect:
    """The rows of ``model`` that belong to the workspace, joined along ``path`` (``columns``: all by default).

    On SQLite the joins are ``CROSS JOIN``: SQLite then walks ``model``'s own table by primary key
    (a batch ``WHERE id > last ORDER BY id LIMIT n`` reads its n rows and looks each parent up by its
    key), where its planner would otherwise start from the workspace's index on the far table and
    join and sort the whole workspace for every batch (353 ms a batch of versions at 1M posts).
    PostgreSQL's planner finds the keyed walk itself (and plans a ``CROSS JOIN`` as the product it says).
    """
    query = model.select(*(columns or model._meta.sorted_fields))
    if not path:
        return query.where(model._meta.primary_key == workspace_id)
    cross = isinstance(db.obj, pw.SqliteDatabase)
    for key in path[:-1]:
        if cross:  # peewee takes no ON with a CROSS JOIN: the join's condition goes in WHERE
            query = query.join_from(key.model, key.rel_model, pw.JOIN.CROSS).where(key == key.rel_field)
        else:
            query = query.join_from(key.model, key.rel_model, on=(key == key.rel_field))
    return query.where(path[-1] == workspace_id)


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
        self.encode = batch_encoder(self.fields, self.redacted)

    def batches(self, workspace_id: int) -> Iterator[list[tuple]]:
        """The workspace's rows as the driver returns them (columns in ``fields`` order), in primary-key
        order, a batch at a time: keyset pagination on the table's own key (``WHERE id > last ORDER BY
        id LIMIT n``), read as plain tuples (no model objects, no conversions: :meth:`lines` does its own)."""
        query = scoped_query(self.model, self.path, workspace_id,
                             *(selected_as_text(field, db.obj) for field in self.fields))
        key = self.model._meta.primary_key
        if isinstance(key, pw.Field) and not isinstance(key, pw.CompositeKey):
            index = self.fields.index(key)
            last = None
            while True:
                batch = query if last is None else query.where(key > last)
                rows = db.execute(batch.order_by(key).limit(BATCH)).fetchall()
                if rows:
                    yield rows
                if len(rows) < BATCH:
                    return
                last = rows[-1][index]
        else:  # no single-column key to page on: one pass, fetched a batch at a time
            cursor = db.execute(query)
            while rows := cursor.fetchmany(BATCH):
                yield rows

    def lines(self, workspace_id: int) -> Iterator[tuple[str, int]]:
        """The workspace's rows as JSON lines (``tables/<table>.jsonl``), a batch at a time: the text of
        the batch's lines and how many rows it holds."""
        for batch in self.batches(workspace_id):
            yield self.encode(batch), len(batch)

    def count(self, workspace_id: int) -> int:
        """How many rows of the table belong to the workspace."""
        return scoped_query(self.model, self.path, workspace_id, self.model._meta.primary_key).count()


def plan_tables() -> tuple[list[TablePlan], list[dict[str, str]]]:
    """What is exported (tables that exist and reach the workspace) and what is not, with the reason."""
    existing = set(db.get_tables())
    plans, skipped = [], []
    for model in bound_models():
        table = model._meta.table_name
        if table not in existing:
            continue
        path = workspace_path(model)
        if table in DERIVED_TABLES:
            skipped.append({"table": table, "reason": "computed from exported tables (a cache), not data of its own"})
        elif path is None:
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


Progress = Callable[[str, int, int | None], None]


def _no_progress(phase: str, done: int, total: int | None) -> None:
    pass


def archive_chunks(workspace_id: int, store: MediaStore, exported_at: dt.datetime) -> Iterator[bytes]:
    """The zip archive of the workspace, in pieces of about 256 KiB (see the module docstring);
    ``exported_at`` (the runtime clock's time of the request) goes in the manifest."""
    sink = _Sink()
    for _ in _build(sink, workspace_id, store, exported_at, _no_progress):
        if sink.size >= FLUSH_BYTES:
            yield sink.take()
    yield sink.take()


def write_archive(out: BinaryIO, workspace_id: int, store: MediaStore, exported_at: dt.datetime,
                  progress: Progress = _no_progress) -> int:
    """Write the archive :func:`archive_chunks` streams into the file ``out`` (an export job's);
    ``progress(phase, rows done, total rows)`` is called after every batch. Returns the rows written."""
    return collections.deque(_build(out, workspace_id, store, exported_at, progress), maxlen=1)[0]


def count_rows(plans: list[TablePlan], workspace_id: int) -> int:
    """How many rows the archive of the workspace will hold (its progress's total)."""
    return sum(plan.count(workspace_id) for plan in plans)


def _build(out, workspace_id: int, store: MediaStore, exported_at: dt.datetime, progress: Progress) -> Iterator[int]:
    """Write the archive into ``out``, yielding the rows written so far after every batch."""
    workspace = Workspace.get_by_id(workspace_id)
    plans, skipped = plan_tables()
    manifest: dict[str, Any] = {
        "format": FORMAT, "version": FORMAT_VERSION, "exported_at": isoformat(exported_at),
        "workspace": {"id": workspace.id, "name": workspace.name},
        "redaction": {"value": REDACTED, "secret_words": sorted(SECRET_WORDS),
                      "always_redacted": [f"{table}.{column}" for table, column in ALWAYS_REDACTED]},
        "tables": [], "not_exported": skipped,
    }
    total = count_rows(plans, workspace_id) if progress is not _no_progress else None
    done = 0
    # Level 1: most of the time goes to deflate at the default level 6, for a few percent of size.
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL) as archive:
        for plan in plans:
            name = f"tables/{plan.table}.jsonl"
            count = 0
            progress(name, done, total)
            with archive.open(name, "w", force_zip64=True) as entry:
                for text, rows in plan.lines(workspace_id):
                    entry.write(text.encode())
                    count += rows
                    done += rows
                    progress(name, done, total)
                    yield done
            manifest["tables"].append({"table": plan.table, "model": f"{plan.model.__module__}.{plan.model.__name__}",
                                       "file": name, "rows": count, "scope": describe_path(plan.model, plan.path),
                                       "redacted": plan.redacted})
        progress("media", done, total)
        for _ in _add_media(archive, workspace_id, store, manifest):
            yield done
        archive.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
    progress("done", done, total)
    yield done


def _add_media(archive: zipfile.ZipFile, workspace_id: int, store: MediaStore, manifest: dict) -> Iterator[None]:
    files, total, missing, written = 0, 0, [], set()
    rows = list(Media.select(Media.id, Media.path).where(Media.workspace == workspace_id).order_by(Media.id)
                .tuples())
    for media_id, relative in rows:
        if relative in written:  # identical uploads share one stored file
            continue
        found = store.stat(relative)
        try:
            source = store.open(relative) if found is not None else None
        except MediaNotStored:
            source = None
        if source is None:
            missing.append(media_id)
            continue
        info = zipfile.ZipInfo(f"media/{relative}", date_time=_zip_time(found.modified))
        info.compress_type = zipfile.ZIP_STORED  # images and videos are compressed already
        info.file_size = found.size
        with archive.open(info, "w") as out, source:
            while chunk := source.read(MEDIA_CHUNK):
                out.write(chunk)
                total += len(chunk)
                yield
        written.add(relative)
        files += 1
    manifest["media"] = {"files": files, "bytes": total, "missing_media_ids": missing}


def _zip_time(stamp: dt.datetime) -> tuple[int, int, int, int, int, int]:
    stamp = stamp.astimezone(dt.UTC)
    return (max(1980, stamp.year), stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second)
