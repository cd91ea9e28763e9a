"""Webhook fan-out: deliveries per second against raw RQ no-op jobs, and p95 delivery latency to
healthy receivers with and without a dead (never-answering) receiver.

Everything runs on this machine in one run: a SQLite database, the Redis at ``--redis`` (its
database is FLUSHED), ``--workers`` real ``herald worker --burst`` processes, and local receivers
(tests/fakes/receiver.py). Goals (issue #4): delivery rate >= 0.5 x the no-op job rate; p95
latency to a healthy receiver while a fourth receiver times out within 2 x the p95 without it.

    .venv/bin/python bench/webhook_fanout.py [--events 300] [--workers 4] [--redis redis://127.0.0.1:6379/8]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fakes.receiver import Receiver, Reply  # noqa: E402
from herald import events  # noqa: E402
from herald.app import create_app  # noqa: E402
from herald.config import Config  # noqa: E402
from herald.migrate import upgrade  # noqa: E402
from herald.models import Workspace, db, open_database, write_transaction  # noqa: E402
from herald.queue import DEFAULT_QUEUE, get_queue  # noqa: E402
from herald_webhooks import endpoints as webhook_endpoints  # noqa: E402
from herald_webhooks.models import WebhookDelivery  # noqa: E402

HERALD = Path(sys.executable).parent / "herald"


def start_workers(env: dict, count: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([str(HERALD), "worker", "--burst"], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL) for _ in range(count)]


def wait(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.wait(timeout=600)


def noop_rate(state, env, jobs: int, workers: int) -> float:
    q = get_queue(state.redis, DEFAULT_QUEUE)
    for _ in range(jobs):
        q.enqueue("herald.models.utcnow", result_ttl=0)
    started = time.perf_counter()
    wait(start_workers(env, workers))
    return jobs / (time.perf_counter() - started)


def emit(state, workspace_id: int, count: int) -> None:
    for number in range(count):
        with db.connection_context(), events.collecting() as recorded, write_transaction():
            events.record(workspace_id, "post.created", {"post": {"id": number, "caption": f"bench {number}"}})
        with db.connection_context():
            events.dispatch(state.pm, recorded)


def delivered() -> int:
    with db.connection_context():
        return WebhookDelivery.select().where(WebhookDelivery.status == "succeeded").count()


def delivery_rate(state, env, workspace_id: int, count: int, workers: int, receivers: int) -> float:
    emit(state, workspace_id, count)
    started = time.perf_counter()
    wait(start_workers(env, workers))
    elapsed = time.perf_counter() - started
    return delivered() / elapsed if delivered() == count * receivers else float("nan")


def latency_p95(state, env, workspace_id: int, healthy: list[Receiver], count: int, workers: int,
                rate: float) -> float:
    """Emit ``count`` events at ``rate`` per second while workers run; p95 seconds from emit to receipt."""
    sent: dict[str, float] = {}
    processes = [subprocess.Popen([str(HERALD), "worker"], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL) for _ in range(workers)]
    try:
        for number in range(count):
            sent[f"bench {number}"] = time.time()
            with db.connection_context(), events.collecting() as recorded, write_transaction():
                events.record(workspace_id, "post.created", {"post": {"id": number, "caption": f"bench {number}"}})
            with db.connection_context():
                events.dispatch(state.pm, recorded)
            time.sleep(1 / rate)  # the load generator's pace, not waiting for work
        deadline = time.time() + 60
        while time.time() < deadline and sum(len(r.received()) for r in healthy) < count * len(healthy):
            time.sleep(0.05)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
    import json

    latencies = sorted(r.received_at - sent[json.loads(r.body)["data"]["post"]["caption"]]
                       for receiver in healthy for r in receiver.received())
    return latencies[int(len(latencies) * 0.95) - 1] if latencies else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rate", type=float, default=20.0, help="events per second in the latency runs")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/8")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="herald-bench-"))
    config = Config(data_dir=tmp, redis_url=args.redis, secret_key="bench-secret", webhook_allow_private=True)
    database = open_database(config.resolved_database_url)
    upgrade(database)
    database.close_all()
    env = dict(os.environ, HERALD_DATA_DIR=str(tmp), HERALD_REDIS_URL=args.redis, HERALD_SECRET_KEY="bench-secret",
               HERALD_WEBHOOK_ALLOW_PRIVATE="1")
    state = create_app(config).extensions["herald"]
    state.redis.flushdb()

    jobs_per_s = noop_rate(state, env, args.events * 3, args.workers)
    receivers = [Receiver().__enter__() for _ in range(3)]
    with db.connection_context():
        workspace = Workspace.create(name="bench")
    for receiver in receivers:
        with db.connection_context():
            webhook_endpoints.create(state, workspace.id, {"url": receiver.url(), "events": ["post.created"]})
    deliveries_per_s = delivery_rate(state, env, workspace.id, args.events, args.workers, 3)
    print(f"raw RQ no-op jobs:  {jobs_per_s:8.1f} jobs/s ({args.workers} workers)")
    print(f"webhook deliveries: {deliveries_per_s:8.1f} deliveries/s to 3 receivers "
          f"(ratio {deliveries_per_s / jobs_per_s:.2f}, goal >= 0.5)")

    latency_events = max(20, int(args.rate * 5))
    for receiver in receivers:
        receiver.requests.clear()
    base = latency_p95(state, env, workspace.id, receivers, latency_events, args.workers, args.rate)
    dead = Receiver(Reply(delay=3600)).__enter__()  # accepts, never answers: every attempt times out (15 s)
    with db.connection_context():
        webhook_endpoints.create(state, workspace.id, {"url": dead.url(), "events": ["post.created"]})
    for receiver in receivers:
        receiver.requests.clear()
    with_dead = latency_p95(state, env, workspace.id, receivers, latency_events, args.workers, args.rate)
    print(f"p95 latency, healthy receivers:             {base * 1000:8.1f} ms")
    print(f"p95 latency, healthy, a 4th receiver dead:  {with_dead * 1000:8.1f} ms "
          f"({with_dead / base:.2f} x, goal <= 2)")


if __name__ == "__main__":
    main()
