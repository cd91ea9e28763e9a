"""Cached SQL for the statements every delivery attempt runs (see :mod:`herald.hotpath`).

Peewee builds a statement's SQL anew on every call, which costs more than running it; a delivery
attempt used to build five (two reads, an insert, two updates). The shapes here are built once per
database class and only executed afterwards; values still go through each field's
``db_value``/``python_value``.
"""

from __future__ import annotations

import datetime as dt
import functools

from herald import hotpath
from herald.models import db, write_transaction

from .models import WebhookDelivery, WebhookEndpoint

_D = functools.partial(hotpath.column, WebhookDelivery)
_E = functools.partial(hotpath.column, WebhookEndpoint)


def _prefixed(model, alias: str) -> str:
    return ", ".join(f"{alias}.{hotpath.column(model, field.name)}" for field in model._meta.sorted_fields)


@functools.lru_cache(maxsize=4)
def _load_sql(database_class: type) -> str:
    return (f"SELECT {_prefixed(WebhookDelivery, 'd')}, {_prefixed(WebhookEndpoint, 'e')} "
            f"FROM {hotpath.table(WebhookDelivery)} d JOIN {hotpath.table(WebhookEndpoint)} e "
            f"ON e.{_E('id')} = d.{_D('endpoint')} WHERE d.{_D('id')} = {hotpath.param()}")


def load(delivery_id: int) -> tuple[WebhookDelivery, WebhookEndpoint] | None:
    """The delivery and its endpoint in one query; None when the delivery is gone."""
    row = db.execute_sql(_load_sql(type(db.obj)), [delivery_id]).fetchone()
    if row is None:
        return None
    split = len(WebhookDelivery._meta.sorted_fields)
    return hotpath.from_row(WebhookDelivery, row[:split]), hotpath.from_row(WebhookEndpoint, row[split:])


def bump_step(delivery_id: int) -> int | None:
    """Give the delivery a new step (so its next job gets a new id) and return it; None when it is gone.

    Runs in its own transaction unless the caller has one open.
    """
    with write_transaction():
        return hotpath.increment(WebhookDelivery, "step", delivery_id)


@functools.lru_cache(maxsize=4)
def _clear_failing_sql(database_class: type) -> str:
    return (f"UPDATE {hotpath.table(WebhookEndpoint)} SET {_E('failing_since')} = NULL "
            f"WHERE {_E('id')} = {hotpath.param()} AND {_E('failing_since')} IS NOT NULL")


def clear_failing(endpoint_id: int) -> None:
    """The endpoint answered: it is no longer failing (a write only when it was)."""
    db.execute_sql(_clear_failing_sql(type(db.obj)), [endpoint_id])


_AFTER_ATTEMPT = ("status", "next_attempt_at", "last_status_code", "last_error", "updated_at")


@functools.lru_cache(maxsize=4)
def _after_attempt_sql(database_class: type) -> str:
    p = hotpath.param()
    assignments = ", ".join(f"{_D(name)} = {p}" for name in _AFTER_ATTEMPT)
    return (f"UPDATE {hotpath.table(WebhookDelivery)} SET {_D('attempts')} = {_D('attempts')} + 1, "
            f"{_D('trigger')} = 'scheduled', {_D('step')} = {_D('step')} + {p}, {assignments} "
            f"WHERE {_D('id')} = {p} AND {_D('step')} = {p} RETURNING {_D('step')}")


def after_attempt(delivery_id: int, step: int, *, status: str, next_attempt_at: dt.datetime | None,
                  last_status_code: int | None, last_error: str | None, updated_at: dt.datetime,
                  new_step: bool) -> int | None:
    """Count an attempt of ``step`` and set what follows it, when ``step`` is still the delivery's;
    returns the delivery's step afterwards, or None (someone asked for a re-send meanwhile)."""
    values = {"status": status, "next_attempt_at": next_attempt_at, "last_status_code": last_status_code,
              "last_error": last_error, "updated_at": updated_at}
    params = [1 if new_step else 0]
    params += [WebhookDelivery._meta.fields[name].db_value(values[name]) for name in _AFTER_ATTEMPT]
    row = db.execute_sql(_after_attempt_sql(type(db.obj)), [*params, delivery_id, step]).fetchone()
    return row[0] if row else None


@functools.lru_cache(maxsize=4)
def _count_attempt_sql(database_class: type) -> str:
    return (f"UPDATE {hotpath.table(WebhookDelivery)} SET {_D('attempts')} = {_D('attempts')} + 1 "
            f"WHERE {_D('id')} = {hotpath.param()}")


def count_attempt(delivery_id: int) -> None:
    """Count an attempt of a superseded step (the newer job decides the schedule)."""
    db.execute_sql(_count_attempt_sql(type(db.obj)), [delivery_id])
