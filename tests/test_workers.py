"""Herald's worker classes: RQ's, with the round trips that would change nothing left out."""

from __future__ import annotations

import random

import pytest
import redis
from redis_server import RedisServer
from rq.exceptions import StopRequested

from drive import work
from herald.auth import digest
from herald.work import workers
from herald.work.queue import QUEUE_NAMES, get_queue, make_worker
from herald.work.workers import HeraldForkWorker, HeraldSimpleWorker, worker_class


@pytest.fixture(scope="module")
def private_redis():
    """A redis-server of this module's own: the tests count the commands the server processed, which
    other test processes (pytest-xdist workers) would add to on the shared one."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_client(private_redis):
    """The private server's database, emptied before the test."""
    client = redis.Redis.from_url(private_redis.url)
    client.flushdb()
    yield client
    client.close()


def _commands(redis_client) -> int:
    return int(redis_client.info("stats")["total_commands_processed"])


@pytest.fixture
def worker(redis_client):
    worker = make_worker(redis_client, QUEUE_NAMES, worker_class=HeraldSimpleWorker)
    worker.register_birth()
    yield worker
    worker.register_death()


def test_a_repeated_heartbeat_is_not_sent(worker, redis_client):
    worker.heartbeat()
    stamped = redis_client.hget(worker.key, "last_heartbeat")
    before = _commands(redis_client)
    worker.heartbeat()
    worker.heartbeat()
    assert _commands(redis_client) - before == 1  # the INFO call itself: nothing else reached Redis
    assert redis_client.hget(worker.key, "last_heartbeat") == stamped
    assert redis_client.ttl(worker.key) >= worker.worker_ttl + 58


def test_a_heartbeat_that_would_lengthen_the_key_life_is_sent(worker, redis_client):
    with redis_client.pipeline() as pipeline:  # what RQ does before a job: the job's own, shorter TTL
        worker.heartbeat(40, pipeline=pipeline)
        pipeline.execute()
    assert redis_client.ttl(worker.key) <= 40
    worker.heartbeat()
    assert redis_client.ttl(worker.key) >= worker.worker_ttl + 58


def test_the_worker_key_never_lives_shorter_than_any_heartbeat_asked(worker, redis_client):
    rng = random.Random(7)
    for _ in range(200):
        timeout = rng.choice([None, 30, 90, 400, 1000])
        if rng.random() < 0.3:
            with redis_client.pipeline() as pipeline:
                worker.heartbeat(timeout, pipeline=pipeline)
                pipeline.execute()
            continue
        worker.heartbeat(timeout)
        asked = timeout or worker.worker_ttl + 60
        assert redis_client.ttl(worker.key) >= asked - 2  # 1 s of tolerance, 1 s of TTL rounding


def test_a_long_running_worker_checks_for_suspension_at_most_once_a_second(worker, redis_client, monkeypatch):
    from rq.suspension import resume, suspend

    clock = [1000.0]
    monkeypatch.setattr(workers.time, "monotonic", lambda: clock[0])
    worker.check_for_suspension(False)
    before = _commands(redis_client)
    worker.check_for_suspension(False)
    assert _commands(redis_client) - before == 1  # the INFO call itself
    suspend(redis_client)
    try:
        worker.check_for_suspension(False)  # within the second: not seen yet
        with pytest.raises(StopRequested):
            worker.check_for_suspension(True)  # a burst worker checks before every job
    finally:
        resume(redis_client)
    clock[0] += workers.SUSPENSION_CHECK_SECONDS
    before = _commands(redis_client)
    worker.check_for_suspension(False)
    assert _commands(redis_client) - before > 1  # a second later it asks Redis again


def test_a_job_costs_fewer_round_trips_than_on_rqs_own_worker(redis_client):
    from rq import SimpleWorker

    def commands_per_job(worker_cls) -> float:
        queue = get_queue(redis_client, "publish")
        for _ in range(20):
            queue.enqueue("herald.auth.digest", "x")
        worker = make_worker(redis_client, QUEUE_NAMES, worker_class=worker_cls)
        worker.work(burst=True, max_jobs=1, with_scheduler=False, logging_level="WARNING")  # registration
        before = _commands(redis_client)
        worker.work(burst=True, with_scheduler=False, logging_level="WARNING")
        return (_commands(redis_client) - before) / 19

    assert commands_per_job(HeraldSimpleWorker) <= commands_per_job(SimpleWorker) - 5


def test_herald_worker_classes_are_rqs():
    from rq import SimpleWorker, Worker

    assert worker_class("simple") is HeraldSimpleWorker and issubclass(HeraldSimpleWorker, SimpleWorker)
    assert worker_class("fork") is HeraldForkWorker and issubclass(HeraldForkWorker, Worker)
    assert HeraldSimpleWorker.__mro__.index(SimpleWorker) > 0


def test_jobs_still_run_on_the_herald_worker(redis_client):
    queue = get_queue(redis_client, "default")
    job = queue.enqueue("herald.auth.digest", "hello")
    assert work(redis_client) == 1
    job.refresh()
    assert job.is_finished and job.return_value() == digest("hello")
