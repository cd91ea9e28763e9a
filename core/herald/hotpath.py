"""Cached SQL for the few statements every write request runs.

Peewee builds each statement's SQL text anew on every call, which costs more than running the
statement on SQLite (about 0.5 ms against 0.02 ms for a one-row select on a 2-core machine). The
statements on the hot path of the action endpoint (a client lookup, the inserts of a new post,
its version row and its event) are built here once per shape and database, then only executed.
Values still go through each field's ``db_value``/``python_value``, so JSON and datetime fields
behave exactly as they do through the ORM.
"""

from __future__ import annotations

import functools
from typing import Any

import peewee as pw

from .models import db


def _database() -> pw.Database:
    return db.obj


def _quote(database: pw.Database, name: str) -> str:
    opening, closing = database.quote  # the database's identifier quotes, e.g. '""'
    return f"{opening}{name}{closing}"


@functools.lru_cache(maxsize=256)
def _insert_sql(model: type[pw.Model], columns: tuple[str, ...], database_class: type) -> str:
    database = _database()
    table = _quote(database, model._meta.table_name)
    names = ", ".join(_quote(database, model._meta.fields[name].column_name) for name in columns)
    params = ", ".join(database.param for _ in columns)
    return f"INSERT INTO {table} ({names}) VALUES ({params}) RETURNING {_quote(database, 'id')}"


@functools.lru_cache(maxsize=256)
def _defaults(model: type[pw.Model]) -> tuple[tuple[str, Any], ...]:
    """``(field name, default)`` of the fields with a default (a value or a callable), id excluded."""
    return tuple((name, field.default) for name, field in model._meta.fields.items()
                 if name != "id" and field.default is not None)


@functools.lru_cache(maxsize=256)
def _db_values(model: type[pw.Model], columns: tuple[str, ...]) -> tuple:
    return tuple(model._meta.fields[name].db_value for name in columns)


def insert(model: type[pw.Model], **values: Any) -> pw.Model:
    """Insert one row of ``model`` with ``values`` (field names) and return the new instance.

    Field defaults that are not given are applied as the ORM would apply them. A foreign key is given
    as the related row's id (or the row); the instance holds the id, as one read from the database does.
    """
    for name, default in _defaults(model):
        if name not in values:
            values[name] = default() if callable(default) else default
    values = {name: _id_of(value) for name, value in values.items()}
    columns = tuple(values)
    sql = _insert_sql(model, columns, type(_database()))
    params = [convert(values[name]) for convert, name in zip(_db_values(model, columns), columns, strict=True)]
    values["id"] = _database().execute_sql(sql, params).fetchone()[0]
    instance = model(__no_default__=True)
    instance.__data__ = values  # as from_row builds rows: nothing dirty, no setattr per field
    return instance


def _id_of(value: Any) -> Any:
    return value.id if isinstance(value, pw.Model) else value


@functools.lru_cache(maxsize=256)
def _select_sql(model: type[pw.Model], columns: tuple[str, ...], null_columns: tuple[str, ...],
                limit: int | None, fields: tuple[str, ...] | None, database_class: type) -> str:
    database = _database()
    table = _quote(database, model._meta.table_name)
    names = ", ".join(_quote(database, field.column_name) for field in _fields(model, fields))
    conditions = [f"{_quote(database, model._meta.fields[name].column_name)} = {database.param}" for name in columns]
    conditions += [f"{_quote(database, model._meta.fields[name].column_name)} IS NULL" for name in null_columns]
    sql = f"SELECT {names} FROM {table} WHERE {' AND '.join(conditions)} ORDER BY {_quote(database, 'id')}"
    return sql if limit is None else f"{sql} LIMIT {int(limit)}"


def _fields(model: type[pw.Model], names: tuple[str, ...] | None) -> list[pw.Field]:
    return model._meta.sorted_fields if names is None else [model._meta.fields[name] for name in names]


def _select(model: type[pw.Model], null: tuple[str, ...], limit: int | None, equal: dict[str, Any],
            fields: tuple[str, ...] | None = None) -> list[pw.Model]:
    columns = tuple(equal)
    sql = _select_sql(model, columns, tuple(null), limit, fields, type(_database()))
    params = [model._meta.fields[name].db_value(_id_of(equal[name])) for name in columns]
    return [from_row(model, row, fields) for row in _database().execute_sql(sql, params).fetchall()]


def select_one(model: type[pw.Model], *, null: tuple[str, ...] = (), **equal: Any) -> pw.Model | None:
    """The first row (lowest id) of ``model`` whose fields equal ``equal`` and whose ``null`` fields are NULL."""
    rows = _select(model, null, 1, equal)
    return rows[0] if rows else None


def select_all(model: type[pw.Model], *, null: tuple[str, ...] = (), fields: tuple[str, ...] | None = None,
               **equal: Any) -> list[pw.Model]:
    """Every row of ``model`` (by id) whose fields equal ``equal`` and whose ``null`` fields are NULL.

    With ``fields``, only those fields are read (the instances hold nothing else).
    """
    return _select(model, null, None, equal, fields)


@functools.lru_cache(maxsize=64)
def _increment_sql(model: type[pw.Model], name: str, database_class: type) -> str:
    database = _database()
    target = _quote(database, model._meta.fields[name].column_name)
    return (f"UPDATE {_quote(database, model._meta.table_name)} SET {target} = {target} + 1 "
            f"WHERE {_quote(database, 'id')} = {database.param} RETURNING {target}")


def increment(model: type[pw.Model], name: str, row_id: int) -> int | None:
    """Add 1 to field ``name`` of ``model``'s row ``row_id`` in one statement; the new value, or None
    when the row is gone. Runs in the caller's transaction (or autocommits)."""
    row = _database().execute_sql(_increment_sql(model, name, type(_database())), [row_id]).fetchone()
    return row[0] if row else None


def column_list(model: type[pw.Model]) -> str:
    """Every column of ``model``, quoted, in the order :func:`from_row` expects."""
    database = _database()
    return ", ".join(_quote(database, field.column_name) for field in model._meta.sorted_fields)


def column(model: type[pw.Model], name: str) -> str:
    """The quoted column of ``model``'s field ``name``."""
    return _quote(_database(), model._meta.fields[name].column_name)


def table(model: type[pw.Model]) -> str:
    """The quoted table name of ``model``."""
    return _quote(_database(), model._meta.table_name)


def param() -> str:
    """The database driver's parameter placeholder."""
    return _database().param


@functools.lru_cache(maxsize=256)
def _converters(model: type[pw.Model], fields: tuple[str, ...] | None) -> tuple:
    return tuple((field.name, field.python_value) for field in _fields(model, fields))


def from_row(model: type[pw.Model], row: tuple, fields: tuple[str, ...] | None = None) -> pw.Model:
    """An instance of ``model`` from a row of :func:`column_list`'s columns (or of ``fields``).

    Built as peewee builds query results (no defaults, nothing dirty), but without a ``setattr``
    per field: the converted values go straight into the instance's data.
    """
    instance = model(__no_default__=True)
    instance.__data__ = {name: convert(value)
                         for (name, convert), value in zip(_converters(model, fields), row, strict=True)}
    return instance


@functools.lru_cache(maxsize=256)
def _update_sql(model: type[pw.Model], columns: tuple[str, ...], id_count: int, database_class: type) -> str:
    database = _database()
    table = _quote(database, model._meta.table_name)
    assignments = ", ".join(f"{_quote(database, model._meta.fields[name].column_name)} = {database.param}"
                            for name in columns)
    ids = ", ".join(database.param for _ in range(id_count))
    return f"UPDATE {table} SET {assignments} WHERE {_quote(database, 'id')} IN ({ids})"


def update_by_ids(model: type[pw.Model], ids: list[int], **values: Any) -> None:
    """Set ``values`` on the rows of ``model`` whose id is in ``ids``."""
    if not ids:
        return
    columns = tuple(values)
    sql = _update_sql(model, columns, len(ids), type(_database()))
    params = [model._meta.fields[name].db_value(values[name]) for name in columns] + list(ids)
    _database().execute_sql(sql, params)
