"""Herald's worker classes: RQ's own, plus the runtime they install for jobs."""

from __future__ import annotations

import pytest
import redis
from redis_server import RedisServer

from drive import QUEUES, work
from herald.auth import digest
from herald.work.queue import get_queue, make_worker
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


def test_herald_worker_classes_change_nothing_of_rqs_but_the_runtime_they_install():
    from rq import SimpleWorker, Worker

    # issue 20: RQ's heartbeats, suspension check and bookkeeping stay RQ's own
    for cls, base in ((HeraldSimpleWorker, SimpleWorker), (HeraldForkWorker, Worker)):
        for klass in cls.__mro__[:cls.__mro__.index(base)]:
            overridden = {name for name, value in vars(klass).items() if callable(value)} & set(dir(base))
            assert overridden <= {"__init__"}, (klass, overridden)


def test_a_job_costs_as_many_round_trips_as_on_rqs_own_worker(redis_client):
    from rq import SimpleWorker

    def commands_per_job(worker_cls) -> float:
        queue = get_queue(redis_client, "publish")
        for _ in range(20):
            queue.enqueue("herald.auth.digest", "x")
        worker = make_worker(redis_client, QUEUES, worker_class=worker_cls)
        worker.work(burst=True, max_jobs=1, with_scheduler=False, logging_level="WARNING")  # registration
        before = _commands(redis_client)
        worker.work(burst=True, with_scheduler=False, logging_level="WARNING")
        return (_commands(redis_client) - before) / 19

    assert commands_per_job(HeraldSimpleWorker) == commands_per_job(SimpleWorker)


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
