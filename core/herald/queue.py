"""RQ queues with the JSON serializer (job arguments are ids and plain values, never pickles)."""

from __future__ import annotations

import redis
from rq import Queue, Worker
from rq.serializers import JSONSerializer

QUEUE_NAMES = ("default",)


def get_queue(connection: redis.Redis, name: str = "default") -> Queue:
    """The named queue, using the JSON serializer."""
    return Queue(name, connection=connection, serializer=JSONSerializer)


def make_worker(connection: redis.Redis, queue_names=QUEUE_NAMES, worker_class=Worker, **kwargs) -> Worker:
    """A worker for ``queue_names`` using the JSON serializer (``SimpleWorker`` in tests)."""
    queues = [get_queue(connection, name) for name in queue_names]
    return worker_class(queues, connection=connection, serializer=JSONSerializer, **kwargs)
