"""Machines announce themselves in Redis (herald.work.hosts): a SQLite deployment refuses a second host.

The second host is faked the way a real one shows itself: its entry in the Redis hash ``herald:hosts``.
"""

from __future__ import annotations

import json
import socket
import time

from serve_drive import START_TIMEOUT, output

from herald.db.models import open_database
from herald.upgrading import upgrade
from herald.work import hosts


def announce_other_host(redis_client, database: str, seconds_ago: float = 0.0, name: str = "other-machine.example"):
    """What another machine's ``herald`` process writes (hosts.HostBeacon.announce)."""
    redis_client.hset(hosts.REGISTRY, name, json.dumps({"at": time.time() - seconds_ago, "database": database,
                                                        "pid": 4242}))


def sqlite_env(herald_env, tmp_path) -> dict[str, str]:
    """``herald_env`` on a migrated SQLite database of the test (whichever database the suite runs on)."""
    url = f"sqlite:///{tmp_path / 'single.db'}"
    database = open_database(url)
    upgrade(database)
    database.close_all()
    return {**herald_env, "HERALD_DATABASE_URL": url}


def test_sqlite_worker_refuses_to_start_beside_another_host(herald_env, start_herald, redis_client, tmp_path):
    announce_other_host(redis_client, "sqlite")
    worker = start_herald("worker", "--burst", env=sqlite_env(herald_env, tmp_path))
    assert worker.wait(timeout=START_TIMEOUT) == 1
    lines = [line for line in output(worker).splitlines() if "Refusing to start" in line]
    assert len(lines) == 1, output(worker)
    assert "host other-machine.example uses the same Redis" in lines[0]
    assert "this machine's database is SQLite" in lines[0] and "PostgreSQL" in lines[0]
    assert socket.gethostname().encode() not in redis_client.hkeys(hosts.REGISTRY)  # it did not announce itself


def test_sqlite_web_server_refuses_a_host_on_postgresql_too(herald_env, start_herald, redis_client, tmp_path):
    announce_other_host(redis_client, "postgresql")
    server = start_herald("serve", "--port", "1", env=sqlite_env(herald_env, tmp_path))
    assert server.wait(timeout=START_TIMEOUT) == 1
    assert "Refusing to start: host other-machine.example" in output(server)


def test_a_host_silent_for_longer_than_the_stale_limit_does_not_count(herald_env, start_herald, redis_client,
                                                                       tmp_path):
    announce_other_host(redis_client, "sqlite", seconds_ago=hosts.STALE_AFTER_SECONDS + 5)
    worker = start_herald("worker", "--burst", env=sqlite_env(herald_env, tmp_path))
    assert worker.wait(timeout=START_TIMEOUT) == 0, output(worker)
    mine = json.loads(redis_client.hget(hosts.REGISTRY, socket.gethostname()))
    assert mine["database"] == "sqlite" and abs(mine["at"] - time.time()) < START_TIMEOUT


def test_postgresql_hosts_share_one_redis_and_refuse_a_sqlite_newcomer(redis_client):
    now = time.time()
    announce_other_host(redis_client, "postgresql", name="web-1")
    announce_other_host(redis_client, "postgresql", name="worker-1")
    assert hosts.refusal(redis_client, "web-2", "postgresql", now) is None
    assert hosts.refusal(redis_client, "web-1", "postgresql", now) is None  # itself, restarted
    assert "Refusing to start: host web-1" in hosts.refusal(redis_client, "laptop", "sqlite", now)
    announce_other_host(redis_client, "sqlite", name="laptop")
    assert "laptop runs on SQLite" in hosts.refusal(redis_client, "web-2", "postgresql", now)


def test_the_same_host_restarting_on_sqlite_is_not_a_second_host(redis_client):
    announce_other_host(redis_client, "sqlite", name="solo")
    assert hosts.refusal(redis_client, "solo", "sqlite", time.time()) is None
    redis_client.hset(hosts.REGISTRY, "garbage", b"not json")  # not Herald's entry: ignored
    assert hosts.refusal(redis_client, "solo", "sqlite", time.time()) is None
