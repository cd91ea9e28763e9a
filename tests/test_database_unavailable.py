"""A database that cannot be used right now is a 503 ``database_unavailable`` with Retry-After, logged
as one warning line; a mistake in SQL stays a 500 ``internal_error`` with its traceback."""

from __future__ import annotations

import logging
import sqlite3

import peewee as pw
import pytest
from redis_server import free_port

from conftest import assert_error
from herald.db import availability
from herald.db.models import db


@pytest.mark.parametrize("where", ["postgresql", "sqlite"])
def test_requests_to_a_database_that_does_not_answer_are_503_with_retry_after(build_app, tenant, tmp_path, caplog,
                                                                              where):
    url = (f"postgresql://postgres@127.0.0.1:{free_port()}/herald" if where == "postgresql"
           else f"sqlite:///{tmp_path / 'no-such-directory' / 'herald.db'}")
    client = build_app(database_url=url).test_client()
    caplog.set_level(logging.WARNING, logger="herald")
    calls = [("POST", "/api/webhooks", {"action": "list_posts", "client_id": 1}),
             ("POST", "/api/webhooks", {"action": "create_post", "client_id": 1, "caption": "Waiting"}),
             ("GET", "/v1/posts", None), ("GET", "/api/clients", None)]
    for method, path, body in calls:
        response = client.open(path, method=method, json=body, headers=tenant.headers)
        error = assert_error(response, 503, "database_unavailable")
        assert response.headers["Retry-After"] == str(availability.RETRY_AFTER_SECONDS)
        assert "Retry in" in error["message"]
    warnings = [record for record in caplog.records if record.name == "herald.errors"]
    assert len(warnings) == len(calls) and all(record.levelno == logging.WARNING for record in warnings)
    assert not any(record.exc_info for record in caplog.records), "no traceback for an unavailable database"
    health = client.get("/health")
    assert health.status_code == 503 and health.get_json()["checks"]["database"]["ok"] is False


def test_a_mistake_in_sql_is_still_a_500_with_its_traceback(app, tenant, caplog):
    app.add_url_rule("/api/boom", "boom", lambda: db.execute_sql("SELEC 1"))
    caplog.set_level(logging.ERROR, logger="herald")
    response = app.test_client().get("/api/boom", headers=tenant.headers)
    assert_error(response, 500, "internal_error")
    assert any(record.exc_info for record in caplog.records)


def wrapped(original: BaseException) -> pw.DatabaseError:
    """``original`` as peewee raises it (its ExceptionWrapper passes the driver's error first, kept as ``orig``)."""
    kind = pw.InterfaceError if isinstance(original, sqlite3.InterfaceError) else pw.OperationalError
    return kind(original, *original.args)


def sqlite_error(code: int, message: str) -> sqlite3.OperationalError:
    error = sqlite3.OperationalError(message)
    error.sqlite_errorcode = code
    return error


def test_which_errors_mean_unavailable():
    with pytest.raises(sqlite3.OperationalError) as syntax:
        sqlite3.connect(":memory:").execute("SELEC 1")
    with pytest.raises(sqlite3.OperationalError) as no_table:
        sqlite3.connect(":memory:").execute("SELECT * FROM nowhere")
    import psycopg2

    with pytest.raises(psycopg2.OperationalError) as refused:
        psycopg2.connect(host="127.0.0.1", port=free_port(), user="postgres", connect_timeout=2)
    assert availability.is_unavailable(wrapped(refused.value))
    assert availability.is_unavailable(wrapped(sqlite_error(5, "database is locked")))  # SQLITE_BUSY
    assert availability.is_unavailable(wrapped(sqlite_error(13 | (1 << 8), "database or disk is full")))
    assert not availability.is_unavailable(wrapped(syntax.value))
    assert not availability.is_unavailable(wrapped(no_table.value))
    assert not availability.is_unavailable(pw.OperationalError("Connection already opened."))  # peewee's own: a bug
    assert not availability.is_unavailable(pw.IntegrityError(sqlite3.IntegrityError("UNIQUE constraint failed")))
