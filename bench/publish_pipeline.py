"""Throughput and punctuality of the publishing pipeline: RQ workers publishing through a fake Graph API.

Part 1, throughput. ``--posts`` posts, each for one Instagram account and one Facebook Page with
one small JPEG (two publish tasks per post), are published end to end by ``--workers`` real
``herald worker`` processes (Herald's default worker class: RQ's ``SimpleWorker`` as it is, see
``herald.work.workers``; with the scheduler and the JSON serializer): claim, token
decryption, the Instagram container flow (create, status, quota, publish, permalink) and the
Facebook photo post over real HTTP to the fake Graph server (``tests/fakes/graph.py``, answering at
once, in this process), every step committed to SQLite, events recorded and dispatched. In the same
run, as many raw RQ no-op jobs (``json.dumps("bench")``) as there are tasks are consumed by as many
``rq worker`` processes: RQ as its users run it, with RQ's own worker class of the same kind, the
same serializer, scheduler, log level, number of queues listened to, result bookkeeping and Redis.
The figure that matters is the ratio herald/raw (goal: at least 0.5): the share of raw RQ's job
rate that Herald keeps while it does its work per task. The same no-op jobs also run on ``herald
worker``, printed beside them, so the part of the figure that is the ``herald worker`` command shows.
``--repeat`` (default 3) rounds run one after the other, and the median of their ratios is
reported, so one noisy stretch of a shared machine does not decide the figure. Both sides run on
the same machine in the same run, so most of the machine's speed cancels out; not all of it (the
raw side is mostly RQ's bookkeeping and Redis round trips, Herald's side mostly Python, SQLite and
HTTP), and a busy machine makes both figures noisy: a warning is printed when the load average is
above 0.5 at the start.

Both sides are timed the same way. The jobs are enqueued while no worker runs and taken off their
queue; the workers are started and left to become idle; the jobs are put back in one command and
the clock runs until every task is ``published``/``failed`` (the database is polled every 50 ms) or
every no-op job is in RQ's finished registry. The posts are created beforehand through
``POST /v1/publish`` (Flask test client, in this process): the pipeline is measured, not HTTP
(``bench/action_throughput.py`` does that). Also printed: RQ's mean time per job in the work-horse
and the CPU time per job or task of the workers (horses included) and of this process (the fake).

Part 2, lateness. ``--late-posts`` posts (default 1,000), each for the Facebook Page only (text,
one task per post), are all scheduled for the same whole second, with 2 workers running with the
scheduler (RQ moves due jobs to the queue once a second). A task's lateness is its
``published_at`` minus that instant; p50, p99 and max are printed (goal: p99 at most 5 s). Then, as
the baseline, as many raw RQ no-op jobs are scheduled with ``enqueue_at`` for one whole second and
run by 2 ``rq worker`` processes the same way: their lateness (``ended_at`` minus that second) is what RQ's
scheduler and per-job bookkeeping cost before Herald does anything.

    .venv/bin/python bench/publish_pipeline.py [--posts 200] [--workers 2] [--repeat 3] [--late-posts 1000]

Experiments: ``--worker-class fork`` runs both sides of both parts on forking workers (a
work-horse process per job: RQ's ``Worker``, and Herald's with ``HERALD_WORKER_CLASS=fork``); ``--graph-latency 0.3``
makes the fake wait before every answer, as the real Graph API does. Needs the Redis at
``--redis-url`` (default ``redis://127.0.0.1:6379/7``, flushed at the start and at the end);
everything else (data directory, SQLite database, the fake, the workers) is temporary. Exits 1
when a task failed or did not finish.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import io
import logging
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "tests"))  # the fake Graph API lives with the tests

import peewee as pw  # noqa: E402
import redis  # noqa: E402
import stock_rq  # noqa: E402  (beside this script)
from rq import Worker  # noqa: E402
from rq.registry import FailedJobRegistry, FinishedJobRegistry  # noqa: E402

from fakes.graph import FB_USER_TOKEN, IG_TOKEN, IG_USER_ID, PAGE_ID, FakeGraph  # noqa: E402
from herald.auth import create_api_key  # noqa: E402
from herald.config import Config  # noqa: E402
from herald.db.models import PublishTask, Workspace, db, utcnow  # noqa: E402
from herald.publishing.publish import tasks  # noqa: E402
from herald.web.app import create_app  # noqa: E402
from herald.work.queue import (  # noqa: E402
    CORE_QUEUES,  # noqa: E402
    PUBLISH_QUEUE,
    get_queue,
)
from herald_webhooks.jobs import QUEUE as WEBHOOKS_QUEUE  # noqa: E402

QUEUES = CORE_QUEUES + (WEBHOOKS_QUEUE,)  # the core's queues and the webhooks plugin's

SECRET = "bench-secret-key"
# The public media host. Workers (not in testing mode) refuse loopback and private addresses, and resolve a host
# name for every task with media; a global address literal (example.com's) needs no DNS. Nothing fetches from it:
# the fake Graph server never downloads media.
PUBLIC_URL = "https://93.184.215.14"
NOOP_QUEUE = "bench-noop"
# The raw side listens on as many queues as `herald worker` does (the same BLPOP), all but one empty.
IDLE_QUEUES = tuple(f"bench-idle-{number}" for number in range(1, len(QUEUES)))
NOOP_FUNC = "json.dumps"  # already imported in every worker (RQ's JSON serializer): no first-job import
POLL = 0.05
# A 2×2 grey baseline JFIF JPEG (as in tests/test_graph_plugins.py).
JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5"
    "PTgyPC4zNDL/wAALCAACAAIBAREA/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQR"
    "BRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4"
    "eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/9oACAEB"
    "AAA/ACv/2Q==")


class Failure(RuntimeError):
    """The benchmark could not run (a broken setup, not a slow result)."""


class LogCollector(logging.Handler):
    """Keeps what Herald logs in this process (warnings and errors) out of the figures, counted for the end."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


# -- worker processes -------------------------------------------------------------------------

class Workers:
    """Worker subprocesses, each leading its own process group (with its work-horses and scheduler)."""

    def __init__(self, env: dict, logs: Path, worker_class: str):
        self.env = env
        self.logs = logs
        self.worker_class = worker_class
        self.procs: list[subprocess.Popen] = []
        self.started = 0

    def start(self, count: int, queues: tuple[str, ...] = (), stock: bool = False) -> None:
        """Start ``count`` ``herald worker`` processes, or with ``stock`` RQ's own ``rq worker`` with RQ's
        worker class (same queues, serializer, scheduler and log level): raw RQ as its users run it."""
        if stock:
            args = stock_rq.worker_command(self.env["HERALD_REDIS_URL"], queues, self.worker_class)
        else:
            args = [str(BIN / "herald"), "worker", "--worker-class", self.worker_class]
            for name in queues:
                args += ["--queue", name]
        for _ in range(count):
            self.started += 1
            with open(self.logs / f"worker-{self.started}.log", "wb") as log:
                self.procs.append(subprocess.Popen(args, env=self.env, cwd=ROOT, stdout=log,
                                                   stderr=subprocess.STDOUT, start_new_session=True))

    def wait_idle(self, connection: redis.Redis, queue_name: str, count: int, timeout: float = 60.0) -> None:
        """Wait until ``count`` workers listen on ``queue_name`` and are idle."""
        deadline = time.monotonic() + timeout
        queue = get_queue(connection, queue_name)
        while time.monotonic() < deadline:
            dead = [proc for proc in self.procs if proc.poll() is not None]
            if dead:
                raise Failure(f"a worker exited with status {dead[0].returncode}:\n{self.tail()}")
            idle = [worker for worker in Worker.all(connection=connection, queue=queue)
                    if worker.get_state() == "idle"]
            if len(idle) >= count:
                time.sleep(0.2)  # let them reach BLPOP
                return
            time.sleep(POLL)
        raise Failure(f"{count} workers were not idle on {queue_name} after {timeout:.0f} s:\n{self.tail()}")

    def cpu_seconds(self) -> float:
        """CPU time of the worker processes and of the work-horses they have reaped (Linux ``/proc``)."""
        total = 0
        for proc in self.procs:
            try:
                fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                return math.nan
            total += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
        return total / os.sysconf("SC_CLK_TCK")

    def tail(self, lines: int = 15) -> str:
        return "\n".join(f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
                         for path in sorted(self.logs.glob("worker-*.log")))

    def problems(self) -> tuple[int, str]:
        """Tracebacks written to the worker logs so far, and the first one's exception line."""
        count, first = 0, ""
        for path in sorted(self.logs.glob("worker-*.log")):
            lines = path.read_text(errors="replace").splitlines()
            for index, line in enumerate(lines):
                if line.startswith("Traceback (most recent call last)"):
                    count += 1
                    if not first:
                        first = next((text for text in lines[index + 1:] if text and not text.startswith(" ")), "")
        return count, first

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (RQ's warm shutdown), then SIGKILL each worker's process group."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)  # a horse or scheduler left behind
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)
        self.procs = []


# -- the run ----------------------------------------------------------------------------------

class Bench:
    def __init__(self, args):
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="herald-bench-publish-"))
        self.fake: FakeGraph | None = None
        self.redis = redis.Redis.from_url(args.redis_url)
        self.workers: Workers | None = None
        self.logs = LogCollector()

    def setup(self) -> None:
        try:
            self.redis.ping()
        except redis.RedisError as exc:
            raise Failure(f"no Redis at {self.args.redis_url}: {exc}") from None
        self.redis.flushdb()
        root = logging.getLogger()
        root.addHandler(self.logs)
        root.setLevel(logging.WARNING)
        self.fake = FakeGraph(quota_total=10**9).start()  # containers FINISHED at the first read; no quota
        database_url = f"sqlite:///{self.tmp / 'herald.db'}"
        self.env = dict(os.environ, HERALD_DATA_DIR=str(self.tmp), HERALD_DATABASE_URL=database_url,
                        HERALD_REDIS_URL=self.args.redis_url, HERALD_SECRET_KEY=SECRET, HERALD_PUBLIC_URL=PUBLIC_URL,
                        HERALD_GRAPH_BASE_URL=self.fake.base_url,
                        HERALD_INSTAGRAM_BASE_URL=self.fake.base_url, HERALD_RATE_LIMIT="100000000/minute",
                        NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
        init = subprocess.run([str(BIN / "herald"), "init-db"], env=self.env, cwd=ROOT, capture_output=True, text=True)
        if init.returncode:
            raise Failure(f"herald init-db failed:\n{init.stdout}{init.stderr}")
        config = Config(data_dir=self.tmp, database_url=database_url, redis_url=self.args.redis_url,
                        secret_key=SECRET, public_url=PUBLIC_URL, rate_limit="100000000/minute",
                        testing=True).with_settings(**self.fake.hosts())
        self.app = create_app(config)
        with self.app.app_context(), db.connection_context():
            workspace = Workspace.create(name="Bench Agency", plan="pro")
            _, key = create_api_key(workspace, name="bench")
        self.client = self.app.test_client()
        self.headers = {"X-API-Key": key}
        self.instagram = self._connect("instagram", IG_TOKEN)
        self.facebook = self._connect("facebook", FB_USER_TOKEN)
        response = self.client.post("/api/media", headers=self.headers, content_type="multipart/form-data",
                                    data={"file": (io.BytesIO(JPEG), "bench.jpg", "image/jpeg")})
        self._expect(response, 201, "POST /api/media")
        self.media = response.get_json()["media"]["id"]
        self.workers = Workers(self.env, self.tmp, self.args.worker_class)
        if self.args.graph_latency > 0:
            self.fake.delay_next(r".*", self.args.graph_latency, times=None)

    def _connect(self, platform: str, token: str) -> dict:
        response = self.client.post("/v1/accounts", json={"platform": platform, "access_token": token},
                                    headers=self.headers)
        self._expect(response, (200, 201), f"POST /v1/accounts ({platform})")
        return response.get_json()

    @staticmethod
    def _expect(response, status, what: str) -> None:
        allowed = status if isinstance(status, tuple) else (status,)
        if response.status_code not in allowed:
            raise Failure(f"{what} answered {response.status_code}: {response.get_data(as_text=True)[:400]}")

    def publish_posts(self, count: int, accounts: list[str], media: list, schedule: str, label: str) -> float:
        """Create ``count`` posts through POST /v1/publish; returns the seconds it took."""
        started = time.perf_counter()
        for number in range(count):
            body = {"content": f"{label} post {number} #herald", "accounts": accounts, "media": media,
                    "schedule": schedule}
            self._expect(self.client.post("/v1/publish", json=body, headers=self.headers), 201, "POST /v1/publish")
        return time.perf_counter() - started

    def task_counts(self, after_id: int = 0) -> dict[str, int]:
        with db.connection_context():
            query = (PublishTask.select(PublishTask.status, pw.fn.COUNT(PublishTask.id).alias("n"))
                     .where(PublishTask.id > after_id).group_by(PublishTask.status))
            return {row.status: row.n for row in query}

    def last_task_id(self) -> int:
        with db.connection_context():
            return PublishTask.select(pw.fn.MAX(PublishTask.id)).scalar() or 0

    def errors(self, after_id: int = 0, limit: int = 3) -> list[str]:
        with db.connection_context():
            rows = (PublishTask.select(PublishTask.id, PublishTask.platform, PublishTask.error)
                    .where((PublishTask.status == tasks.FAILED) & (PublishTask.id > after_id)).limit(limit))
            return [f"task_{row.id} ({row.platform}): {row.error}" for row in rows]

    def hold(self, queue_name: str) -> list[bytes]:
        """Take every job id off ``queue_name`` (to be put back at once by :meth:`window`)."""
        key = get_queue(self.redis, queue_name).key
        with self.redis.pipeline() as pipe:
            pipe.lrange(key, 0, -1)
            pipe.delete(key)
            ids, _ = pipe.execute()
        return ids

    def window(self, queue_name: str, held: list[bytes], workers: int, queues: tuple[str, ...], progress,
               stock: bool = False) -> dict:
        """Start ``workers``, wait until they are idle, put ``held`` back on ``queue_name`` in one command and
        poll ``progress()`` (``(final, total)``) every 50 ms until everything is final.

        Returns the elapsed seconds and the CPU the workers (work-horses included) and this process
        (the fake Graph server, the polling) used meanwhile.
        """
        self.workers.start(workers, queues, stock)
        try:
            self.workers.wait_idle(self.redis, queue_name, workers)
            cpu_workers, cpu_self = self.workers.cpu_seconds(), time.process_time()
            started = time.perf_counter()
            self.redis.rpush(get_queue(self.redis, queue_name).key, *held)
            deadline = started + self.args.timeout
            while True:
                final, total = progress()
                if final >= total or time.perf_counter() > deadline:
                    break
                time.sleep(POLL)
            elapsed = time.perf_counter() - started
            cpu_workers = self.workers.cpu_seconds() - cpu_workers
            cpu_self = time.process_time() - cpu_self
        finally:
            self.workers.stop()
        horse = self.horse_times(queue_name)
        return {"final": final, "seconds": elapsed, "rate": final / elapsed, "jobs": len(horse),
                "horse_ms": 1000 * sum(horse) / max(1, len(horse)),
                "cpu_workers_ms": 1000 * cpu_workers / max(1, final), "cpu_self_ms": 1000 * cpu_self / max(1, final),
                "cores": (cpu_workers + cpu_self) / elapsed}

    def horse_times(self, queue_name: str) -> list[float]:
        """Seconds each finished job spent in its work-horse (RQ's started_at → ended_at)."""
        ids = FinishedJobRegistry(queue=get_queue(self.redis, queue_name)).get_job_ids()
        with self.redis.pipeline() as pipe:
            for job_id in ids:
                pipe.hmget(f"rq:job:{job_id}", "started_at", "ended_at")
            rows = pipe.execute()
        return [(_rq_time(ended) - _rq_time(started)).total_seconds() for started, ended in rows if started and ended]

    # part 1

    def raw_rq(self, jobs: int, workers: int, round_number: int = 0, stock: bool = True) -> dict:
        """``jobs`` no-op jobs run by RQ's own worker (``stock``) or by ``herald worker``."""
        queue = get_queue(self.redis, NOOP_QUEUE)
        self._forget_finished(NOOP_QUEUE)
        with self.redis.pipeline() as pipe:
            for number in range(jobs):
                queue.enqueue(NOOP_FUNC, "bench", job_id=f"bench-noop-{round_number}-{stock}-{number}", result_ttl=600,
                              job_timeout=50, pipeline=pipe)
            pipe.execute()
        held = self.hold(NOOP_QUEUE)
        if len(held) != jobs:
            raise Failure(f"enqueued {jobs} no-op jobs, found {len(held)} on the queue")
        finished, failed = FinishedJobRegistry(queue=queue), FailedJobRegistry(queue=queue)
        result = self.window(NOOP_QUEUE, held, workers, (NOOP_QUEUE, *IDLE_QUEUES),
                             lambda: (finished.count + failed.count, jobs), stock)
        result["failed"] = failed.count
        return result

    def _forget_finished(self, queue_name: str) -> None:
        """Empty the queue's finished and failed registries (each round counts its own jobs)."""
        queue = get_queue(self.redis, queue_name)
        self.redis.delete(FinishedJobRegistry(queue=queue).key, FailedJobRegistry(queue=queue).key)

    def herald(self, posts: int, workers: int) -> dict:
        before = self.last_task_id()
        self._forget_finished(PUBLISH_QUEUE)
        ig_before, fb_before = len(self.fake.published(IG_USER_ID)), len(self.fake.published(PAGE_ID))
        create_seconds = self.publish_posts(posts, [self.instagram["id"], self.facebook["id"]], [self.media], "now",
                                            "Throughput")
        expected = 2 * posts
        held = self.hold(PUBLISH_QUEUE)
        if len(held) != expected:
            raise Failure(f"expected {expected} publish jobs on the queue, found {len(held)}")
        graph_calls = len(self.fake.requests)

        def progress():
            counts = self.task_counts(before)
            return counts.get(tasks.PUBLISHED, 0) + counts.get(tasks.FAILED, 0), expected

        result = self.window(PUBLISH_QUEUE, held, workers, (), progress)
        counts = self.task_counts(before)
        result.update(published=counts.get(tasks.PUBLISHED, 0), failed=counts.get(tasks.FAILED, 0), counts=counts,
                      expected=expected, create_ms=1000 * create_seconds / posts,
                      graph_calls=len(self.fake.requests) - graph_calls,
                      ig=len(self.fake.published(IG_USER_ID)) - ig_before,
                      fb=len(self.fake.published(PAGE_ID)) - fb_before, errors=self.errors(before))
        return result

    # part 2

    def lateness(self, posts: int, create_ms: float) -> dict:
        before = self.last_task_id()
        self.workers.start(2)
        try:
            self.workers.wait_idle(self.redis, PUBLISH_QUEUE, 2)
            # A whole second (RQ's scheduler scores jobs by whole seconds), leaving room to create every post.
            lead = posts * create_ms / 1000 * 1.3 + 3.0
            at = (utcnow() + dt.timedelta(seconds=lead)).replace(microsecond=0) + dt.timedelta(seconds=1)
            self.publish_posts(posts, [self.facebook["id"]], [], at.isoformat() + "Z", "Scheduled")
            margin = (at - utcnow()).total_seconds()
            cpu_workers, cpu_self = self.workers.cpu_seconds(), time.process_time()
            deadline = time.perf_counter() + max(0.0, margin) + self.args.timeout
            while time.perf_counter() < deadline:
                counts = self.task_counts(before)
                if counts.get(tasks.PUBLISHED, 0) + counts.get(tasks.FAILED, 0) >= posts:
                    break
                time.sleep(POLL)
            cpu_workers = self.workers.cpu_seconds() - cpu_workers
            cpu_self = time.process_time() - cpu_self
        finally:
            self.workers.stop()
        with db.connection_context():
            rows = list(PublishTask.select(PublishTask.status, PublishTask.published_at)
                        .where(PublishTask.id > before))
        late = sorted((row.published_at - at).total_seconds() for row in rows
                      if row.status == tasks.PUBLISHED and row.published_at)
        return {"posts": posts, "published": len(late), "failed": sum(row.status == tasks.FAILED for row in rows),
                "unfinished": sum(row.status not in tasks.FINAL for row in rows), "margin": margin,
                "p50": percentile(late, 50), "p99": percentile(late, 99), "max": late[-1] if late else math.nan,
                "first": late[0] if late else math.nan, "errors": self.errors(before),
                "rate": len(late) / late[-1] if late and late[-1] > 0 else math.nan,
                "cpu_workers_ms": 1000 * cpu_workers / max(1, len(rows)),
                "cpu_self_ms": 1000 * cpu_self / max(1, len(rows))}

    def raw_lateness(self, jobs: int) -> dict:
        """The same, for RQ alone: ``jobs`` no-op jobs scheduled with ``enqueue_at`` for one whole second
        (RQ's scheduler in one of the 2 workers, as in :meth:`lateness`); a job's lateness is its
        ``ended_at`` minus that second."""
        queue = get_queue(self.redis, NOOP_QUEUE)
        queues = (NOOP_QUEUE, *IDLE_QUEUES)
        self.workers.start(2, queues, stock=True)
        try:
            self.workers.wait_idle(self.redis, NOOP_QUEUE, 2)
            at = (utcnow() + dt.timedelta(seconds=3)).replace(microsecond=0) + dt.timedelta(seconds=1)
            ids = [f"bench-late-{number}" for number in range(jobs)]
            with self.redis.pipeline() as pipe:
                for job_id in ids:
                    queue.enqueue_at(at.replace(tzinfo=dt.UTC), NOOP_FUNC, "bench", job_id=job_id, result_ttl=600,
                                     job_timeout=50, pipeline=pipe)
                pipe.execute()
            deadline = time.perf_counter() + 3 + self.args.timeout
            while time.perf_counter() < deadline and len(self._ended(ids)) < jobs:
                time.sleep(POLL)
        finally:
            self.workers.stop()
        late = sorted((ended - at).total_seconds() for ended in self._ended(ids))
        return {"jobs": jobs, "finished": len(late),
                "p50": percentile(late, 50), "p99": percentile(late, 99), "max": late[-1] if late else math.nan,
                "first": late[0] if late else math.nan}

    def _ended(self, job_ids: list[str]) -> list[dt.datetime]:
        with self.redis.pipeline() as pipe:
            for job_id in job_ids:
                pipe.hget(f"rq:job:{job_id}", "ended_at")
            return [_rq_time(value) for value in pipe.execute() if value]

    def close(self) -> None:
        if self.workers is not None:
            self.workers.stop()
        if self.fake is not None:
            self.fake.stop()
        with contextlib.suppress(Exception):  # nothing is bound when the setup failed early
            db.obj.close_all()
        with contextlib.suppress(redis.RedisError):
            self.redis.flushdb()
        logging.getLogger().removeHandler(self.logs)
        shutil.rmtree(self.tmp, ignore_errors=True)


def _rq_time(value: bytes) -> dt.datetime:
    return dt.datetime.fromisoformat(re.sub(r"Z$", "", value.decode()))


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile of sorted ``values``."""
    if not values:
        return math.nan
    return values[min(len(values) - 1, max(0, math.ceil(pct / 100 * len(values)) - 1))]


def cost(result: dict) -> str:
    """Where a phase's time went, per job or task."""
    return (f"work-horse {result['horse_ms']:.1f} ms wall, CPU {result['cpu_workers_ms']:.1f} ms in workers + "
            f"{result['cpu_self_ms']:.1f} ms fake/bench, {result['cores']:.2f} cores busy")


def loud(message: str) -> None:
    print(f"!!! {message}", file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=200, help="posts in part 1, 2 tasks each (default 200)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes in part 1 (default 2)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="raw/herald pairs in part 1, interleaved; the median ratio is reported (default 3)")
    parser.add_argument("--late-posts", type=int, default=1000,
                        help="posts due in the same second in part 2, 0 skips it (default 1000)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/7",
                        help="a Redis database the benchmark flushes (default redis://127.0.0.1:6379/7)")
    parser.add_argument("--worker-class", choices=("simple", "fork"), default="simple",
                        help="simple (jobs in the worker process, Herald's default; raw side: rq.SimpleWorker) "
                             "or fork (a work-horse per job; raw side: rq.Worker)")
    parser.add_argument("--graph-latency", type=float, default=0.0, metavar="SECONDS",
                        help="make the fake Graph server wait this long before every answer (default 0: at once)")
    parser.add_argument("--timeout", type=float, default=150.0, help="seconds each phase may take (default 150)")
    args = parser.parse_args()
    if args.posts < 1 or args.workers < 1 or args.repeat < 1:
        parser.error("--posts, --workers and --repeat must be at least 1")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # still stop the workers and remove the files
    load = os.getloadavg()[0]
    if load > 0.5:
        loud(f"the load average is {load:.2f} before the run: something else uses the CPU, the figures will be low")
    bench = Bench(args)
    try:
        bench.setup()
        kind = f"`herald worker --worker-class {args.worker_class}` processes"
        print(f"setup: Instagram {bench.instagram['id']} (@{bench.instagram['username']}) and Facebook Page "
              f"{bench.facebook['id']} ({bench.facebook['username']}), fake Graph at {bench.fake.base_url}; "
              f"{args.workers} {kind}"
              + (f"; every Graph answer delayed {args.graph_latency:g} s" if args.graph_latency else ""), flush=True)
        raws, pubs, ratios, own = [], [], [], []
        failed = False
        for round_number in range(args.repeat):
            raw = bench.raw_rq(2 * args.posts, args.workers, round_number)
            print(f"raw rq:  {raw['rate']:7.1f} jobs/s   {raw['final']} no-op jobs in {raw['seconds']:.2f} s on "
                  f"`rq worker`; {cost(raw)}", flush=True)
            noop = bench.raw_rq(2 * args.posts, args.workers, round_number, stock=False)
            print(f"no-op:   {noop['rate']:7.1f} jobs/s   the same jobs on `herald worker` (Herald's worker class, "
                  f"{noop['rate'] / raw['rate']:.2f} x RQ's); {cost(noop)}", flush=True)
            own.append(noop["rate"] / raw["rate"] if raw["rate"] else math.nan)
            pub = bench.herald(args.posts, args.workers)
            print(f"herald:  {pub['rate']:7.1f} tasks/s  {pub['final']} of {pub['expected']} tasks ({args.posts} posts "
                  f"x Instagram image + Facebook photo) in {pub['seconds']:.2f} s; {cost(pub)}; "
                  f"{pub['graph_calls'] / max(1, pub['final']):.1f} Graph calls per task; creating them took "
                  f"{pub['create_ms']:.1f} ms per post (POST /v1/publish, test client)", flush=True)
            raws.append(raw)
            pubs.append(pub)
            ratios.append(pub["rate"] / raw["rate"] if raw["rate"] else math.nan)
            for side, result in (("raw rq", raw), ("no-op on herald worker", noop)):
                if result["failed"] or result["final"] < 2 * args.posts:
                    failed = True
                    loud(f"{side}: {result['failed']} no-op jobs failed, {2 * args.posts - result['final']} did not "
                         "finish")
            if pub["failed"] or pub["final"] < pub["expected"] or pub["ig"] != args.posts or pub["fb"] != args.posts:
                failed = True
                loud(f"herald: {pub['failed']} tasks FAILED, {pub['expected'] - pub['final']} not final "
                     f"(statuses {pub['counts']}; on the fake: {pub['ig']} Instagram, {pub['fb']} Facebook posts); "
                     f"first errors: {pub['errors']}")
        ratio = statistics.median(ratios)
        raw_rate = statistics.median(raw["rate"] for raw in raws)
        pub_rate = statistics.median(pub["rate"] for pub in pubs)
        create_ms = statistics.median(pub["create_ms"] for pub in pubs)
        late = None
        if args.late_posts > 0:
            late = bench.lateness(args.late_posts, create_ms)
            print(f"late:    p50 {late['p50']:.2f} s  p99 {late['p99']:.2f} s  max {late['max']:.2f} s after the "
                  f"scheduled second ({late['published']} of {late['posts']} Facebook text posts, 1 task each, all due "
                  f"then; 2 workers; first published {late['first']:.2f} s after it, {late['rate']:.1f} tasks/s; "
                  f"CPU {late['cpu_workers_ms']:.1f} ms per task in workers + {late['cpu_self_ms']:.1f} ms fake/bench; "
                  f"created with {late['margin']:.1f} s to spare)", flush=True)
            raw_late = bench.raw_lateness(args.late_posts)
            print(f"raw late: p50 {raw_late['p50']:.2f} s  p99 {raw_late['p99']:.2f} s  max {raw_late['max']:.2f} s "
                  f"after the scheduled second ({raw_late['finished']} of {raw_late['jobs']} raw RQ no-op jobs, "
                  f"enqueue_at that second; 2 workers; first ended {raw_late['first']:.2f} s after it): the part "
                  f"of the lateness that is RQ's own", flush=True)
            late["raw_p99"] = raw_late["p99"]
            if late["margin"] < 0:
                loud("the posts were not all created before their scheduled time: the lateness includes that")
            if late["failed"] or late["unfinished"]:
                failed = True
                loud(f"lateness: {late['failed']} tasks FAILED, {late['unfinished']} not final; "
                     f"first errors: {late['errors']}")
        tracebacks, first = bench.workers.problems()
        if tracebacks:
            loud(f"the worker logs hold {tracebacks} tracebacks; the first: {first}")
        if bench.logs.records:
            record = bench.logs.records[0]
            loud(f"Herald logged {len(bench.logs.records)} warnings/errors in the benchmark process (creating "
                 f"posts); the first: {record.name}: {record.getMessage()}")
        summary = (f"publish_pipeline: herald {pub_rate:.1f} tasks/s, raw rq {raw_rate:.1f} jobs/s, "
                   f"ratio {ratio:.2f} (median of {args.repeat} interleaved pairs: "
                   f"{', '.join(f'{value:.2f}' for value in ratios)}; goal >= 0.5; {args.workers} "
                   f"{args.worker_class} workers, {args.posts} posts x 2 accounts; Herald's worker class alone runs "
                   f"no-op jobs {statistics.median(own):.2f} x as fast as RQ's)")
        if late is not None:
            summary += (f"; {late['posts']} posts due at once: lateness p50 {late['p50']:.1f} s, "
                        f"p99 {late['p99']:.1f} s (goal p99 <= 5 s, 2 workers; raw RQ no-op jobs: "
                        f"p99 {late['raw_p99']:.1f} s)")
        print(summary)
        return 1 if failed else 0
    except Failure as exc:
        print(f"publish_pipeline: could not run: {exc}", file=sys.stderr)
        return 2
    finally:
        bench.close()


if __name__ == "__main__":
    sys.exit(main())
