"""No secret of a URL in any log line of a real ``herald serve`` (portal link tokens, signed media
links, secret query values), and SQLite's files readable by their owner only."""

from __future__ import annotations

import os
import stat
import subprocess

import pytest
from portal_support import make_link, upload_png
from redis_server import free_port
from serve_drive import HERALD, output, request, wait_for_health

from herald.db import writelock
from herald.db.models import Media, db, open_database
from herald.media import public_links
from herald.net.redaction import redact

QUERY_SECRET = "qs-secret-4f1e9a"


def get(port: int, path: str, headers=None) -> int:
    """``GET path`` on a new connection; the status (the body is dropped)."""
    return request(port, "GET", path, headers=headers)[0]


def test_no_token_of_a_portal_or_media_link_is_logged(herald_env, start_herald, app, client, tenant):
    _, page = make_link(client, tenant, "view")
    token = page.removeprefix("/portal/")
    media_id = upload_png(client, tenant)
    with db.connection_context():
        media = Media.get_by_id(int(media_id.removeprefix("med_")) if isinstance(media_id, str) else media_id)
    media_path = public_links.signed_path(app.config["SECRET_KEY"], media)
    media_token = media_path.split("/")[2]

    port = free_port()
    process = start_herald("serve", "--port", port, "--workers", 1,
                           env={**herald_env, "HERALD_LOG_LEVEL": "DEBUG"})
    wait_for_health(process, port)
    assert get(port, page) == 200
    assert get(port, f"{page}?from=mail", headers={"Referer": f"http://127.0.0.1:{port}{page}"}) == 200
    assert get(port, page + "x") == 404  # an unknown token is a secret too
    assert get(port, media_path) == 200
    assert get(port, f"/health?access_token={QUERY_SECRET}&sig={QUERY_SECRET}") == 200
    process.terminate()  # the arbiter stops its workers: every access line is written
    process.wait(timeout=30)

    log = output(process)
    assert log.count("\"GET /portal/[redacted]") == 3 and "\"GET /media/[redacted]/" in log, log  # access lines
    for secret in (token, token[:16], media_token, media_token[:16], QUERY_SECRET):
        assert secret not in log, (secret, [line for line in log.splitlines() if secret in line])


def modes(path) -> dict[str, int]:
    """The permission bits of the SQLite files at ``path`` (database, WAL, shared memory, write lock)."""
    return {suffix: stat.S_IMODE(os.stat(f"{path}{suffix}").st_mode)
            for suffix in ("", "-wal", "-shm", "-writelock") if os.path.exists(f"{path}{suffix}")}


def test_only_query_parameters_named_as_secrets_are_redacted():
    line = "GET /cb?design=blue&encoding=utf8&author=ann&access_token=S1&X-Amz-Signature=S2&code=S3 HTTP/1.1"
    assert redact(line) == ("GET /cb?design=blue&encoding=utf8&author=ann&access_token=[redacted]"
                            "&X-Amz-Signature=[redacted]&code=[redacted] HTTP/1.1")


@pytest.mark.parametrize(("group_readable", "expected"), [(False, 0o600), (True, 0o640)])
def test_sqlite_files_are_created_for_their_owner_only(tmp_path, group_readable, expected):
    previous = os.umask(0o022)  # the common default, under which SQLite created 0644 files
    try:
        path = tmp_path / "herald.db"
        database = open_database(f"sqlite:///{path}", group_readable=group_readable)
        database.connect()
        lock = writelock.lock_path(str(path))
        with writelock.SerialisedWrite(lock, database.atomic(lock_type="IMMEDIATE"), timeout=5):
            database.execute_sql("CREATE TABLE note (body TEXT)")
        got = modes(path)
        database.close_all()
    finally:
        os.umask(previous)
    assert got == {"": expected, "-wal": expected, "-shm": expected, "-writelock": expected}


def test_init_db_creates_the_database_for_its_owner_only(tmp_path, herald_env):
    env = {name: value for name, value in herald_env.items() if name != "HERALD_DATABASE_URL"}
    env["HERALD_DATA_DIR"] = str(tmp_path / "data")
    subprocess.run([*HERALD, "init-db"], env=env, check=True, capture_output=True, umask=0o022)
    assert modes(tmp_path / "data" / "herald.db")[""] == 0o600
