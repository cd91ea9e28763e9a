"""``/health`` counts the workers alive by Herald's own heartbeat: a worker whose registration a Redis
flush erased counts again within one heartbeat, and a killed worker stops counting within 30 s
(RQ's registration outlives it by minutes)."""

from __future__ import annotations

import os
import signal
import time

import pytest
from rq import Worker
from serve_drive import START_TIMEOUT, output

from drive import QUEUES, past_last_heartbeat
from herald.config import Config
from herald.work import heartbeat
from herald.work.queue import make_worker
from herald.work.workers import HeraldSimpleWorker


@pytest.fixture
def due_post(app, plugin, client, tenant):
    """A post due now on the scripted platform, that no worker has taken."""
    account = client.post("/v1/accounts", json={"platform": "scripted", "access_token": "tok_live_0001"},
                          headers=tenant.headers).get_json()["id"]
    response = client.post("/v1/publish", json={"content": "Due", "platforms": ["scripted"], "accounts": [account],
                                                "schedule": "now"}, headers=tenant.headers)
    assert response.status_code == 201, response.get_json()


@pytest.fixture
def app(build_app, plugin):
    """The application, with the scripted platform installed before it is built."""
    return build_app()


def queues_check(client) -> tuple[int, dict]:
    response = client.get("/health")
    return response.status_code, response.get_json()["checks"]["queues"]


def test_a_running_worker_counts_again_within_one_heartbeat_after_a_flush(client, due_post, redis_client, clock):
    status, queues = queues_check(client)
    assert status == 503 and queues["error"] == "NoWorker"
    worker = make_worker(redis_client, QUEUES, worker_class=HeraldSimpleWorker)
    worker.register_birth()  # as RQ does when the worker starts
    beats = heartbeat.Heartbeat(redis_client, worker.name, QUEUES, interval=5, clock=clock)
    beats.beat()  # what its thread writes when it starts
    status, queues = queues_check(client)
    assert status == 200 and queues["publish"]["workers"] == 1, queues

    redis_client.flushdb()  # FLUSHALL, on this test's database only: the Redis server is shared
    status, queues = queues_check(client)
    assert status == 503 and queues["error"] == "NoWorker"  # nothing tells yet that the worker lives
    beats.beat()  # its next heartbeat, at most one interval later
    status, queues = queues_check(client)
    assert status == 200 and queues["publish"]["workers"] == 1, queues
    assert Worker.all(connection=redis_client) == []  # RQ's registration never came back by itself
    beats.stop()
    assert queues_check(client)[1]["publish"]["workers"] == 0  # a worker that stops cleanly stops counting


def test_a_killed_worker_stops_counting_within_30_seconds_while_a_post_is_due(
        client, tenant, plugin, herald_env, start_herald, redis_client, clock):
    herald_env["HERALD_WORKER_HEARTBEAT_SECONDS"] = "5"
    process = start_herald("worker", env=herald_env)
    deadline = time.monotonic() + START_TIMEOUT
    # Waiting for the process to start, not for work: its heartbeat starts before RQ registers it.
    while not (heartbeat.live_workers(redis_client, time.time()) and Worker.all(connection=redis_client)):
        assert time.monotonic() < deadline and process.poll() is None, output(process)
        time.sleep(0.05)
    past_last_heartbeat(clock, redis_client, 0)  # the test's clock where the worker's last beat is
    assert queues_check(client)[1]["publish"]["workers"] == 1

    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    account = client.post("/v1/accounts", json={"platform": "scripted", "access_token": "tok_live_0001"},
                          headers=tenant.headers).get_json()["id"]
    assert client.post("/v1/publish", json={"content": "Due", "platforms": ["scripted"], "accounts": [account],
                                            "schedule": "now"}, headers=tenant.headers).status_code == 201
    assert len(Worker.all(connection=redis_client)) == 1  # RQ still has it registered, for minutes
    assert queues_check(client)[0] == 200  # its last heartbeat is still fresh: nothing can tell yet

    past_last_heartbeat(clock, redis_client, 15.1)  # three heartbeats missed
    status, queues = queues_check(client)
    assert status == 503, queues
    assert queues["error"] == "NoWorker" and queues["publish"]["workers"] == 0
    assert "no worker consumes the publish queue" in queues["message"]


def test_a_dead_worker_stops_counting_within_30_seconds_by_default():
    assert Config().worker_heartbeat_seconds * heartbeat.STALE_BEATS <= 30
    assert Config.from_env({"HERALD_WORKER_HEARTBEAT_SECONDS": "2"}).worker_heartbeat_seconds == 2.0


def test_a_worker_dead_for_long_is_forgotten_by_the_next_beat_of_another(redis_client, clock):
    dead = heartbeat.Heartbeat(redis_client, "dead-worker", QUEUES, interval=5, clock=clock)
    alive = heartbeat.Heartbeat(redis_client, "live-worker", QUEUES, interval=5, clock=clock)
    dead.beat()
    clock.advance(5 * heartbeat.FORGET_AFTER_BEATS - 1)
    alive.beat()
    assert set(redis_client.hkeys(heartbeat.REGISTRY)) == {b"dead-worker", b"live-worker"}  # not yet
    assert list(heartbeat.live_workers(redis_client, clock.timestamp())) == ["live-worker"]
    clock.advance(2)
    alive.beat()
    assert redis_client.hkeys(heartbeat.REGISTRY) == [b"live-worker"]
