"""Webhook fan-out: deliveries per second against raw RQ no-op jobs, and p95 delivery latency to
healthy receivers with and without a dead (never-answering) receiver.

Everything runs on this machine in one run: a SQLite database, the Redis at ``--redis`` (its
database is FLUSHED), ``--workers`` real ``herald worker`` processes, and local receivers
(tests/fakes/receiver.py). Every measurement starts the workers first and waits until each is
idle, consuming its queues, so no figure includes worker start-up. Goals (issue #4): delivery rate
>= 0.5 x the no-op job rate; p95 latency to a healthy receiver while a fourth receiver times out
within 2 x the p95 without it.

- Rates: ``--events`` events to 3 receivers (3 x ``--events`` deliveries) against as many raw RQ
  no-op jobs run by as many ``rq worker`` processes (RQ's own ``SimpleWorker``), each timed from
  the first enqueue/emit to the last job's end/receipt; ``--repeat`` pairs, interleaved, and the
  medians are reported (a shared machine is noisy).
- Latency: events at ``--rate`` per second for about 15 s, below capacity (by default half the
  measured delivery rate), first to the 3 healthy receivers, then with a 4th that accepts
  connections and never answers (every attempt to it times out after 15 s); ``--repeat`` such
  pairs, interleaved (the 4th endpoint is made inactive, then active again), and the median of
  the pairs' p95 ratios is reported.

    .venv/bin/python bench/webhook_fanout.py [--events 300] [--workers 4] [--repeat 3] [--rate EVENTS_PER_S]
        [--timeline] [--redis redis://127.0.0.1:6379/8]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rq import Worker
from rq.job import Job
from rq.registry import FinishedJobRegistry
from rq.serializers import JSONSerializer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import stock_rq  # noqa: E402  (beside this script)

from fakes.receiver import Receiver, Reply  # noqa: E402
from herald import events  # noqa: E402
from herald.config import Config  # noqa: E402
from herald.db.models import Workspace, db, open_database, write_transaction  # noqa: E402
from herald.upgrading import upgrade  # noqa: E402
from herald.web.app import create_app  # noqa: E402
from herald.work.queue import (  # noqa: E402
    CORE_QUEUES,  # noqa: E402
    DEFAULT_QUEUE,
    get_queue,
)
from herald_webhooks import endpoints as webhook_endpoints  # noqa: E402
from herald_webhooks.jobs import QUEUE as WEBHOOKS_QUEUE  # noqa: E402
from herald_webhooks.models import WebhookDelivery, WebhookEndpoint  # noqa: E402

QUEUES = CORE_QUEUES + (WEBHOOKS_QUEUE,)  # the core's queues and the webhooks plugin's

HERALD = Path(sys.executable).parent / "herald"
POLL = 0.01  # seconds between looks at Redis / the receivers while the workers run (not part of any figure)


def start_workers(runtime, env: dict, count: int, stock: bool = False) -> list[subprocess.Popen]:
    """Start ``count`` ``herald worker`` processes (with ``stock``, RQ's own ``rq worker`` with RQ's
    ``SimpleWorker`` on the same queues, serializer, scheduler and log level) and return once every
    one is idle, consuming its queues.

    Nothing is measured until then, so no figure includes the workers' start-up (imports, app creation).
    """
    command = stock_rq.worker_command(env["HERALD_REDIS_URL"], QUEUES) if stock else [str(HERALD), "worker"]
    processes = [subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL) for _ in range(count)]
    pids = {process.pid for process in processes}
    deadline = time.monotonic() + 120
    while True:
        idle = {worker.pid for worker in Worker.all(connection=runtime.redis) if worker.get_state() == "idle"}
        if pids <= idle:
            return processes
        if time.monotonic() > deadline or any(process.poll() is not None for process in processes):
            stop_workers(processes)
            raise RuntimeError("the workers did not start")
        time.sleep(POLL)


def stop_workers(processes: list[subprocess.Popen]) -> None:
    """Stop the workers: a warm shutdown, then a cold one for a worker stuck in a (15 s) attempt."""
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.terminate()  # RQ's second SIGTERM kills the running work-horse
            process.wait(timeout=30)


def wait_for(done, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        time.sleep(POLL)


def noop_rate(runtime, env, jobs: int, workers: int) -> float:
    """Jobs per second of raw RQ no-op jobs (``json.dumps``, imported in every worker already) on RQ's own
    ``rq worker``: from the first enqueue to the last job's end."""
    q = get_queue(runtime.redis, DEFAULT_QUEUE)
    finished = FinishedJobRegistry(queue=q)
    before = finished.count
    processes = start_workers(runtime, env, workers, stock=True)
    try:
        started = time.time()
        ids = [q.enqueue("json.dumps", "bench", result_ttl=600).id for _ in range(jobs)]
        wait_for(lambda: finished.count >= before + jobs, 600)
    finally:
        stop_workers(processes)
    ended = max(job.ended_at for job in Job.fetch_many(ids, connection=runtime.redis, serializer=JSONSerializer))
    return jobs / (ended.replace(tzinfo=dt.UTC).timestamp() - started)


def emit(runtime, workspace_id: int, number: int) -> None:
    """Record one ``post.created`` event and dispatch it (as a web request does after its commit)."""
    with db.connection_context(), events.collecting() as recorded, write_transaction():
        events.record(workspace_id, "post.created", {"post": {"id": number, "caption": f"bench {number}"}})
    with db.connection_context():
        events.dispatch(runtime.pm, recorded)


def delivery_rate(runtime, env, workspace_id: int, count: int, workers: int, receivers: list[Receiver]) -> float:
    """Deliveries per second: from the first event emitted to the last delivery received."""
    processes = start_workers(runtime, env, workers)
    try:
        started = time.time()
        for number in range(count):
            emit(runtime, workspace_id, number)
        wait_for(lambda: all(len(r.received()) >= count for r in receivers), 600)
    finally:
        stop_workers(processes)
    received = [request for receiver in receivers for request in receiver.received()]
    if len(received) != count * len(receivers) or any(request.status != 200 for request in received):
        return float("nan")
    return len(received) / (max(request.received_at for request in received) - started)


def latency_run(runtime, env, workspace_id: int, healthy: list[Receiver], count: int, workers: int,
                rate: float) -> list[tuple[float, float]]:
    """Emit ``count`` events at ``rate`` per second to idle workers; for every delivery to ``healthy``,
    (seconds from the first event to its event, seconds from its event to its receipt)."""
    sent: dict[str, float] = {}
    processes = start_workers(runtime, env, workers)
    try:
        begin = time.time()
        for number in range(count):
            pause = begin + number / rate - time.time()
            if pause > 0:
                time.sleep(pause)  # the load generator's pace, not waiting for work
            sent[f"bench {number}"] = time.time()
            emit(runtime, workspace_id, number)
        wait_for(lambda: sum(len(r.received()) for r in healthy) >= count * len(healthy), 120)
    finally:
        stop_workers(processes)
    samples = []
    for receiver in healthy:
        for request in receiver.received():
            at = sent[json.loads(request.body)["data"]["post"]["caption"]]
            samples.append((at - begin, request.received_at - at))
    return samples if len(samples) == count * len(healthy) else []


def p95(values: list[float]) -> float:
    values = sorted(values)
    return values[math.ceil(len(values) * 0.95) - 1] if values else float("nan")


def timeline(samples: list[tuple[float, float]]) -> str:
    """The p95 latency (ms) of the events sent in each second of a run."""
    seconds: dict[int, list[float]] = {}
    for at, latency in samples:
        seconds.setdefault(int(at), []).append(latency)
    return " ".join(f"{second}s:{p95(values) * 1000:.0f}" for second, values in sorted(seconds.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rate", type=float, default=None,
                        help="events per second in the latency runs (default: half the measured delivery "
                             "capacity, i.e. 0.5 x deliveries/s / 3 receivers)")
    parser.add_argument("--repeat", type=int, default=3, help="no-op/delivery rate pairs to take the median of")
    parser.add_argument("--timeline", action="store_true", help="also print each latency run's p95 second by second")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/8")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="herald-bench-"))
    config = Config(data_dir=tmp, redis_url=args.redis, secret_key="bench-secret", webhook_allow_private=True)
    database = open_database(config.resolved_database_url)
    upgrade(database)
    database.close_all()
    env = dict(os.environ, HERALD_DATA_DIR=str(tmp), HERALD_REDIS_URL=args.redis, HERALD_SECRET_KEY="bench-secret",
               HERALD_WEBHOOK_ALLOW_PRIVATE="1")
    runtime = create_app(config).extensions["herald"]
    runtime.redis.flushdb()

    receivers = [Receiver().__enter__() for _ in range(3)]
    with db.connection_context():
        workspace = Workspace.create(name="bench")
    for receiver in receivers:
        with db.connection_context():
            webhook_endpoints.create(runtime, workspace.id, {"url": receiver.url(), "events": ["post.created"]})
    pairs = []
    for _ in range(args.repeat):
        jobs_per_s = noop_rate(runtime, env, args.events * len(receivers), args.workers)
        for receiver in receivers:
            receiver.requests.clear()
        pairs.append((jobs_per_s, delivery_rate(runtime, env, workspace.id, args.events, args.workers, receivers)))
        print(f"  no-op {pairs[-1][0]:.1f} jobs/s, deliveries {pairs[-1][1]:.1f}/s: ratio "
              f"{pairs[-1][1] / pairs[-1][0]:.2f}", flush=True)
    jobs_per_s = statistics.median(jobs for jobs, _ in pairs)
    deliveries_per_s = statistics.median(deliveries for _, deliveries in pairs)
    ratio = statistics.median(deliveries / jobs for jobs, deliveries in pairs)
    print(f"raw RQ no-op jobs:  {jobs_per_s:8.1f} jobs/s ({args.workers} workers; median of {args.repeat})")
    print(f"webhook deliveries: {deliveries_per_s:8.1f} deliveries/s to {len(receivers)} receivers "
          f"(ratio {ratio:.2f}, median of {args.repeat}; goal >= 0.5)", flush=True)

    # Below capacity: at or above it the queue grows for as long as events come, and the p95 measures
    # that backlog (with or without a dead receiver), not how deliveries to one endpoint hold up others.
    rate = args.rate or round(0.5 * deliveries_per_s / len(receivers), 1)
    latency_events = max(100, int(rate * 15))  # about 15 s of events
    print(f"latency runs: {latency_events} events at {rate:g} events/s "
          f"({rate * len(receivers):g} healthy deliveries/s, {args.workers} workers)", flush=True)
    dead = Receiver(Reply(delay=3600)).__enter__()  # accepts, never answers: every attempt times out (15 s)
    with db.connection_context():
        dead_endpoint, _ = webhook_endpoints.create(runtime, workspace.id,
                                                 {"url": dead.url(), "events": ["post.created"]})
    # Interleaved pairs, as for the rates: without the dead receiver (its endpoint inactive), then with it.
    base, with_dead, ratios = [], [], []
    for _ in range(args.repeat):
        pair = []
        for active in (False, True):
            with db.connection_context():
                WebhookEndpoint.update(active=active).where(WebhookEndpoint.id == dead_endpoint.id).execute()
            for receiver in receivers:
                receiver.requests.clear()
            pair.append(latency_run(runtime, env, workspace.id, receivers, latency_events, args.workers, rate))
        base += pair[0]
        with_dead += pair[1]
        ratios.append(p95([latency for _, latency in pair[1]]) / p95([latency for _, latency in pair[0]]))
        print(f"  p95 {p95([latency for _, latency in pair[0]]) * 1000:.1f} ms, with a dead receiver "
              f"{p95([latency for _, latency in pair[1]]) * 1000:.1f} ms: {ratios[-1]:.2f} x", flush=True)
    base_p95, dead_p95 = p95([latency for _, latency in base]), p95([latency for _, latency in with_dead])
    print(f"p95 latency, healthy receivers:             {base_p95 * 1000:8.1f} ms (all {args.repeat} runs)")
    print(f"p95 latency, healthy, a 4th receiver dead:  {dead_p95 * 1000:8.1f} ms (all {args.repeat} runs; "
          f"{statistics.median(ratios):.2f} x, median of {args.repeat}; goal <= 2)")
    with db.connection_context():  # every job of a delivery takes two steps (its claim, its outcome)
        rows = list(WebhookDelivery.select().where(WebhookDelivery.endpoint == dead_endpoint.id))
    print(f"dead receiver: {len(dead.received())} attempts begun for {len(rows)} deliveries, which were "
          f"deferred {sum(row.step // 2 - row.attempts for row in rows)} times (cancelled once it was inactive: "
          f"{sum(row.status == 'cancelled' for row in rows)})")
    if args.timeline:
        print("p95 ms by second, healthy:   ", timeline(base))
        print("p95 ms by second, with dead: ", timeline(with_dead))

if __name__ == "__main__":
    main()
