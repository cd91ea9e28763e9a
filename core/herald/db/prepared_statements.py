"""Statements peewee renders once and runs many times: the data layer's answer for a measured hot path.

Peewee renders a query's SQL anew on every call, and for the one-row statements of the action
endpoint that costs ten times what SQLite takes to run them. Measured on the 2-core development VM
(2026-12-06, CPU per call in one process, the same minute): a client lookup through
``Client.get_or_none`` 218 us against 20 us prepared; ``create_post``'s three inserts and commit
(post, version row, event) 839 us against 283 us. ``bench/action_breakdown.py`` puts a whole
``create_post`` request at about 0.8 ms, so rendering each time would cost it most of a half again,
where the goal allows 15 %. The health scores' figures (:mod:`herald.intelligence.period_figures`) are
prepared too: five statements of sums whose rendering through peewee cost more than running them. Only
such statements are prepared: everything else is an ordinary query.

A :class:`Prepared` statement is an ordinary peewee query whose values are :func:`Prepared.param`
placeholders: peewee renders it (once per kind of database), the database runs it with each value
converted by its field's ``db_value``, and rows become model instances through each field's
``python_value``, as peewee converts any query's rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import peewee as pw

from .models import db


class _Slot:
    """Where a named value goes in a rendered statement, and the field that converts it."""

    __slots__ = ("field", "name")

    def __init__(self, field: pw.Field, name: str | None = None):
        self.field = field
        self.name = name or field.name


def _param(field: pw.Field, name: str | None = None) -> pw.Value:
    return pw.Value(_Slot(field, name), converter=False)  # kept as is by peewee: replaced when the statement runs


class Prepared:
    """A peewee query of ``model`` rendered once per kind of database, run with new values.

    ``build(param)`` returns the query; ``param(field, name=None)`` stands for the value named
    ``name`` (by default ``field.name``) given when the statement runs, converted by ``field``.
    """

    def __init__(self, model: type[pw.Model], build: Callable[..., pw.Query]):
        self.model = model
        self._build = build
        self._rendered: dict[type, tuple[str, list]] = {}

    def _render(self) -> tuple[str, list]:
        """The SQL and its parameters: a :class:`_Slot` for each placeholder, the value peewee rendered
        for each constant of the query (a LIMIT, a literal compared with)."""
        kind = type(db.obj)
        rendered = self._rendered.get(kind)
        if rendered is None:
            sql, params = self._build(_param).sql()
            rendered = self._rendered[kind] = (sql, list(params))
        return rendered

    def execute(self, **values: Any):
        """Run the statement with ``values`` (by field name); the database cursor."""
        sql, params = self._render()
        return db.execute_sql(sql, [param.field.db_value(values[param.name]) if isinstance(param, _Slot) else param
                                    for param in params])

    def rows(self, **values: Any) -> list[pw.Model]:
        """Run the statement with ``values``; the rows it returns, as instances of the model, each
        column converted by its field's ``python_value`` as peewee converts a query's rows."""
        cursor = self.execute(**values)
        fields = [self.model._meta.columns[column[0]] for column in cursor.description]
        return [_instance(self.model, fields, row) for row in cursor.fetchall()]


def _instance(model: type[pw.Model], fields: list[pw.Field], row) -> pw.Model:
    return model(**{field.name: field.python_value(value) for field, value in zip(fields, row, strict=True)})


class PreparedInsert:
    """The one-row INSERT of ``model`` (every column but the key), prepared; returns the new instance.

    Fields not given get their defaults, as ``Model.create`` gives them.
    """

    def __init__(self, model: type[pw.Model]):
        self.model = model
        key = model._meta.primary_key
        self.fields = [field for field in model._meta.sorted_fields if field is not key]
        self.statement = Prepared(model, lambda param: model.insert({field: param(field) for field in self.fields})
                                  .returning(key))

    def __call__(self, **values: Any) -> pw.Model:
        """Insert one row with ``values`` (field names; a foreign key as the related row's id)."""
        for field in self.fields:
            if field.name not in values:
                values[field.name] = field.default() if callable(field.default) else field.default
        [(row_id,)] = self.statement.execute(**values).fetchall()
        return self.model(**{self.model._meta.primary_key.name: row_id}, **values)


class PreparedUpdate:
    """``UPDATE`` of ``model`` rows by id, prepared once for each set of fields and number of ids."""

    def __init__(self, model: type[pw.Model]):
        self.model = model
        self._statements: dict[tuple[tuple[str, ...], int], Prepared] = {}

    def __call__(self, row_ids: int | list[int], **values: Any) -> None:
        """Set ``values`` (field names) on the row ``row_ids`` (an id, or a list of them)."""
        ids = [row_ids] if isinstance(row_ids, int) else list(row_ids)
        if not ids:
            return
        shape = (tuple(values), len(ids))
        statement = self._statements.get(shape)
        if statement is None:
            statement = self._statements[shape] = self._prepare(*shape)
        statement.execute(**values, **{f"row_id_{index}": row_id for index, row_id in enumerate(ids)})

    def _prepare(self, names: tuple[str, ...], count: int) -> Prepared:
        model, key, fields = self.model, self.model._meta.primary_key, self.model._meta.fields
        return Prepared(model, lambda param: model.update({fields[name]: param(fields[name]) for name in names})
                        .where(key.in_([param(key, f"row_id_{index}") for index in range(count)])))


def by_id(model: type[pw.Model]) -> Callable[[int], pw.Model | None]:
    """A prepared lookup of ``model`` by id: a function of the id returning the row or None."""
    key = model._meta.primary_key
    statement = Prepared(model, lambda param: model.select().where(key == param(key, "row_id")))

    def get(row_id: int) -> pw.Model | None:
        rows = statement.rows(row_id=row_id)
        return rows[0] if rows else None

    return get
