"""The scheduler at scale (issue 25, item 5): with N posts scheduled over the coming four weeks, the
reconciler's tick, Redis's memory and ``GET /health`` against the same with an empty schedule.

For each size (0 first: the baseline), a fresh database gets N queued publish tasks (up to 1,000
posts to 1,000 accounts each, so that a million load in minutes), due from one minute to 28 days
ahead (``--days``), evenly spread (so the few due within the lookahead are the realistic few), each
handed to ``herald.work.enqueue`` as ``POST /v1/publish`` hands its tasks.
Then it measures, on one 2-core machine with everything else on it:

- ``tick``: ``herald.work.reconcile`` (what ``herald cron`` runs every 30 s), the first run (it hands
  over the rows entering the window) and the median / p95 of ``--repeat`` runs after it;
- ``redis``: ``INFO memory`` ``used_memory`` after the posts were scheduled, minus an empty database's;
- ``restore``: Redis emptied (``FLUSHDB``), the next tick: its time and how many jobs it gave back;
- ``health``: median / p95 of ``--repeat`` ``GET /health`` (Flask's test client, no HTTP server);
- the plan of the tick's queries and of ``/health``'s oldest-due query (``EXPLAIN``).

    .venv/bin/python bench/scheduler_scale.py [--sizes 100000,1000000] [--repeat 30]
        [--database sqlite | postgresql://postgres@127.0.0.1:5432/herald_sched_bench]
        [--redis-url redis://127.0.0.1:6379/4] [--lookahead 300]

A PostgreSQL database named in ``--database`` is dropped and created again for every size.
``--lookahead`` past four weeks (``2419200``) puts every post in RQ at once, as Herald did before.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import statistics
import tempfile
import time
import types
from pathlib import Path
from urllib.parse import urlparse

import psycopg2
import redis
from rq.registry import ScheduledJobRegistry

from herald import work
from herald.clock import FakeClock, system_now
from herald.config import Config
from herald.db.models import Account, Post, PublishTask, Workspace, db, status_in
from herald.publishing import publish_work, tasks
from herald.runtime import Runtime
from herald.upgrading import upgrade
from herald.web.app import create_app
from herald.work.queue import PUBLISH_QUEUE, get_queue

FIRST_DUE = dt.timedelta(minutes=1)
CHUNK = 1000


def fresh_database(database: str, directory: Path) -> str:
    """The URL of an empty database: a new SQLite file, or the PostgreSQL database dropped and made again."""
    if database == "sqlite":
        path = Path(tempfile.mkdtemp(prefix="herald-sched-", dir=directory)) / "herald.db"
        return f"sqlite:///{path}"
    name = urlparse(database).path.lstrip("/")
    admin = psycopg2.connect(database.rsplit("/", 1)[0] + "/postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    return database


def load(size: int, now: dt.datetime, spread: dt.timedelta) -> list[tuple[int, int, dt.datetime]]:
    """``size`` queued publish tasks due between one minute and ``spread`` from ``now``, evenly spread
    (the scheduler's rows; to load a million in minutes, up to 1,000 posts go to 1,000 accounts
    each); the ``(id, step, due_at)`` of each task."""
    posts = min(size, CHUNK)
    with db.atomic():
        workspace = Workspace.create(name="bench")
        accounts = [Account.create(workspace=workspace, platform="facebook", external_id=str(number),
                                   token_encrypted="x").id for number in range(-(-size // max(posts, 1)))]
        post_ids = [Post.create(workspace=workspace, caption=f"post {number}", status="queued").id
                    for number in range(posts)]
    fields = [PublishTask.workspace, PublishTask.post, PublishTask.account, PublishTask.platform, PublishTask.status,
              PublishTask.due_at, PublishTask.created_at, PublishTask.updated_at]
    rows = []
    step = (spread - FIRST_DUE) / max(size, 1)
    for start in range(0, size, CHUNK):
        count = min(CHUNK, size - start)
        dues = [now + FIRST_DUE + step * (start + number) for number in range(count)]
        values = [(workspace.id, post_ids[(start + number) % posts], accounts[(start + number) // posts], "facebook",
                   tasks.QUEUED, due, now, now) for number, due in enumerate(dues)]
        with db.atomic():
            inserted = PublishTask.insert_many(values, fields=fields).returning(PublishTask.id).tuples().execute()
            rows += [(task_id, 0, due) for (task_id,), due in zip(inserted, dues, strict=True)]
    return rows


def timed(function, repeat: int) -> list[float]:
    """Milliseconds of each of ``repeat`` calls of ``function``."""
    spent = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        spent.append((time.perf_counter() - started) * 1000)
    return spent


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(len(values) * 0.95) - 1)]


def plans(runtime: Runtime) -> list[str]:
    """The plan of each query of the tick (publish kind) and of /health's oldest due task."""
    now = runtime.clock.now()
    horizon = now + work.lookahead(runtime)
    model = PublishTask
    columns = (model.id, model.status, model.step, model.due_at, model.lease_until)
    active = status_in(publish_work.KIND.statuses.active)
    queries = {
        "tick, due now": model.select(*columns).where(active & model.due_at.is_null()).order_by(model.id).limit(5000),
        "tick, due soon": model.select(*columns).where(active & (model.due_at <= horizon))
        .order_by(model.due_at, model.id).limit(5000),
        "health, oldest due": model.select(model.due_at).where(active & (model.status != tasks.PUBLISHING)
                                                               & (model.due_at <= now)).order_by(model.due_at).limit(1),
    }
    sqlite = "sqlite" in type(db.obj).__name__.lower()
    lines = []
    for label, query in queries.items():
        sql, params = query.sql()
        if sqlite:
            found = db.execute_sql("EXPLAIN QUERY PLAN " + sql, params).fetchall()
            lines.append(f"  {label}: " + " | ".join(row[-1] for row in found))
        else:
            found = db.execute_sql("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + sql, params).fetchall()
            lines.append(f"  {label}: " + " | ".join(row[0].strip() for row in found))
    return lines


def measure(size: int, args, directory: Path) -> dict:
    """Load ``size`` scheduled posts into a fresh database and take every measure."""
    connection = redis.Redis.from_url(args.redis_url)
    connection.flushdb()
    config = Config(data_dir=directory, database_url=fresh_database(args.database, directory), redis_url=args.redis_url,
                    secret_key="bench", schedule_lookahead_seconds=args.lookahead)
    # The clock stands still while the posts load (minutes, for a million): the schedule is measured
    # as it stands the moment they are all in, not with the first minutes of it come due meanwhile.
    runtime = Runtime.build(config, clock=FakeClock(system_now()))
    upgrade(db.obj)
    app = create_app(runtime)
    empty_memory = connection.info("memory")["used_memory"]
    now = runtime.clock.now()
    with db.connection_context():
        started = time.perf_counter()
        rows = load(size, now, dt.timedelta(days=args.days))
        loaded = time.perf_counter() - started
        if "postgres" in type(db.obj).__name__.lower():
            db.execute_sql("ANALYZE")
        started = time.perf_counter()
        for task_id, step, due in rows:  # what POST /v1/publish does after its commit
            work.enqueue(runtime, publish_work.KIND, types.SimpleNamespace(id=task_id, step=step, due_at=due))
        enqueue_seconds = time.perf_counter() - started
    memory = connection.info("memory")["used_memory"] - empty_memory
    first = timed(lambda: work.reconcile(runtime), 1)[0]
    ticks = timed(lambda: work.reconcile(runtime), args.repeat)
    queue = get_queue(connection, PUBLISH_QUEUE)
    in_redis = len(ScheduledJobRegistry(queue=queue)) + len(queue)
    client = app.test_client()
    health = timed(lambda: client.get("/health"), args.repeat)
    connection.flushdb()
    counts: dict = {}
    restore = timed(lambda: counts.update(work.reconcile(runtime)), 1)[0]
    with db.connection_context():
        plan = plans(runtime)
    db.close_all()
    return {"size": size, "loaded": loaded, "enqueue": enqueue_seconds, "memory": memory, "first": first,
            "ticks": ticks, "in_redis": in_redis, "health": health, "restore": restore,
            "restored": counts.get("publish", 0), "plan": plan}


def main() -> None:
    """Measure the empty schedule, then each size, and print the figures with ratios to the empty one."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--days", type=float, default=28.0, help="posts are due over this many days")
    parser.add_argument("--database", default="sqlite")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/4")
    parser.add_argument("--lookahead", type=int, default=Config().schedule_lookahead_seconds)
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="herald-sched-bench-"))
    try:
        results = [measure(size, args, directory) for size in [0] + [int(size) for size in args.sizes.split(",")]]
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    base = results[0]
    label = "SQLite" if args.database == "sqlite" else "PostgreSQL"
    print(f"scheduler_scale: {label}, posts due over {args.days:g} days, lookahead {args.lookahead} s, "
          f"{args.repeat} runs each, "
          f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
    print("| scheduled posts | in Redis | Redis used_memory (vs empty) | tick p50/p95 ms (first) "
          "| after FLUSHDB: tick ms, jobs restored | /health p50/p95 ms |")
    print("|---|---|---|---|---|---|")
    for result in results:
        tick, health = statistics.median(result["ticks"]), statistics.median(result["health"])
        ratio = "" if result is base else (f" ({tick / statistics.median(base['ticks']):.1f}×, "
                                           f"/health {health / statistics.median(base['health']):.2f}×)")
        print(f"| {result['size']:,} | {result['in_redis']:,} | {result['memory'] / 1e6:+.2f} MB "
              f"| {tick:.2f}/{p95(result['ticks']):.2f} ({result['first']:.1f}){ratio} "
              f"| {result['restore']:.1f}, {result['restored']:,} | {health:.2f}/{p95(result['health']):.2f} |")
    for result in results[1:]:
        print(f"loaded {result['size']:,} in {result['loaded']:.0f} s; work.enqueue of each: "
              f"{result['enqueue']:.1f} s; plans:")
        print("\n".join(result["plan"]))


if __name__ == "__main__":
    main()
