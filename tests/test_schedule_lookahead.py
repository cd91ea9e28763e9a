"""The scheduler at scale (issue 25): work due later than the lookahead stays in the database only, and
the reconciler's tick hands it to RQ as it enters the window, through the index of active rows by due
time. Real Redis, real in-process workers, the test's clock; the tick is the reconciler itself."""

from __future__ import annotations

import datetime as dt

import peewee as pw
import pytest
import redis
from rq.registry import ScheduledJobRegistry

from drive import QUEUES, release_due, sql_sent, work
from herald import work as kernel
from herald.config import Config
from herald.db.models import PublishTask, db, utcnow
from herald.publishing import tasks
from herald.runtime import installed_for_jobs
from herald.testing import release_due as rq_scheduler  # RQ's scheduler alone (drive's also hands over)
from herald.work.queue import PUBLISH_QUEUE, get_queue, job_states

LOOKAHEAD = Config().schedule_lookahead_seconds


@pytest.fixture
def app(build_app, plugin):
    """The application, with the scripted platform installed."""
    return build_app()


@pytest.fixture
def platform(plugin):
    return plugin.platform


@pytest.fixture
def runtime(app):
    return installed_for_jobs()


def connect(client, tenant) -> str:
    response = client.post("/v1/accounts", json={"platform": "scripted", "access_token": "tok_live_0001"},
                           headers=tenant.headers)
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()["id"]


def schedule(client, tenant, account: str, seconds: float) -> dict:
    """A post scheduled ``seconds`` from the test's now (0: now)."""
    when = "now" if seconds == 0 else (utcnow() + dt.timedelta(seconds=seconds)).isoformat() + "Z"
    response = client.post("/v1/publish", json={"content": f"In {seconds} s", "accounts": [account],
                                                "schedule": when}, headers=tenant.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def reschedule(client, tenant, post: dict, seconds: float) -> None:
    when = (utcnow() + dt.timedelta(seconds=seconds)).isoformat() + "Z"
    response = client.patch(f"/v1/posts/{post['id']}", json={"schedule": when}, headers=tenant.headers)
    assert response.status_code == 200, response.get_json()


def task_of(post: dict) -> PublishTask:
    with db.connection_context():
        return PublishTask.get(PublishTask.post == int(post["id"].removeprefix("post_")))


def in_redis(redis_client) -> dict[str, dt.datetime | None]:
    """Every job RQ holds on the queues here: scheduled ones with their time, waiting ones with None."""
    jobs: dict[str, dt.datetime | None] = {}
    for name in QUEUES:
        queue = get_queue(redis_client, name)
        for job, score in redis_client.zrange(ScheduledJobRegistry(queue=queue).key, 0, -1, withscores=True):
            jobs[job.decode()] = dt.datetime.fromtimestamp(score, dt.UTC).replace(tzinfo=None)
        jobs.update(dict.fromkeys(queue.get_job_ids()))
    return jobs


def whole(moment: dt.datetime) -> dt.datetime:
    """``moment`` to the second, as RQ's schedule keeps it."""
    return moment.replace(microsecond=0)


def tick(runtime) -> int:
    """One run of the reconciler, as ``herald cron`` runs it every 30 s: publish tasks given a job."""
    with db.connection_context():
        return kernel.reconcile(runtime)["publish"]


def time_passes(runtime, redis_client, seconds: float) -> None:
    """The clock moves; RQ's scheduler releases what came due (no tick of the reconciler here)."""
    runtime.clock.advance(seconds)
    rq_scheduler(redis_client, QUEUES, runtime.clock.timestamp())


def test_a_post_scheduled_past_the_lookahead_is_only_in_the_database_until_the_tick_hands_it_over(
        client, tenant, platform, runtime, redis_client):
    account = connect(client, tenant)
    post = schedule(client, tenant, account, 2 * 86400)
    due = task_of(post).due_at
    assert in_redis(redis_client) == {}
    time_passes(runtime, redis_client, 2 * 86400 - LOOKAHEAD - 1)
    assert tick(runtime) == 0 and in_redis(redis_client) == {}  # one second before its window
    time_passes(runtime, redis_client, 2)
    assert tick(runtime) == 1
    task = task_of(post)
    assert in_redis(redis_client) == {kernel.job_id("publish", task.id, task.step): whole(due)}  # its very second
    assert tick(runtime) == 0  # its job is alive: the next tick leaves it alone
    time_passes(runtime, redis_client, LOOKAHEAD - 2)
    assert work(redis_client) == 0 and platform.posts == []  # not due yet
    time_passes(runtime, redis_client, 1)
    assert work(redis_client) == 1
    task = task_of(post)
    assert task.status == "published" and task.published_at == due and len(platform.posts) == 1


def test_a_post_due_now_is_queued_at_once_and_one_due_within_the_lookahead_is_scheduled_at_once(
        client, tenant, platform, runtime, redis_client):
    account = connect(client, tenant)
    now = schedule(client, tenant, account, 0)
    soon = schedule(client, tenant, account, LOOKAHEAD - 60)
    jobs = in_redis(redis_client)
    assert jobs[kernel.job_id("publish", task_of(now).id, 0)] is None  # waiting on its queue: no tick needed
    assert jobs[kernel.job_id("publish", task_of(soon).id, 0)] == whole(task_of(soon).due_at)
    assert len(get_queue(redis_client, PUBLISH_QUEUE)) == 1
    assert work(redis_client) == 1 and task_of(now).status == "published"
    due = task_of(soon).due_at
    time_passes(runtime, redis_client, LOOKAHEAD - 60)
    assert work(redis_client) == 1 and task_of(soon).status == "published" and task_of(soon).published_at == due


def test_rescheduling_into_the_window_schedules_at_once_and_out_of_it_drops_the_job(
        client, tenant, platform, runtime, redis_client):
    account = connect(client, tenant)
    far = schedule(client, tenant, account, 86400)
    near = schedule(client, tenant, account, 120)
    reschedule(client, tenant, far, 60)  # into the window: RQ has it now
    reschedule(client, tenant, near, 3 * 86400)  # out of it: its job is gone, the row waits
    far_task, near_task = task_of(far), task_of(near)
    assert in_redis(redis_client) == {kernel.job_id("publish", far_task.id, far_task.step): whole(far_task.due_at)}
    time_passes(runtime, redis_client, 120)
    assert tick(runtime) == 0
    assert work(redis_client) == 1 and [post["task"] for post in platform.posts] == [str(far_task.id)]
    assert task_of(near).status == "queued"
    time_passes(runtime, redis_client, 3 * 86400 - 120 - LOOKAHEAD + 10)
    assert tick(runtime) == 1
    time_passes(runtime, redis_client, LOOKAHEAD - 10)
    assert work(redis_client) == 1 and task_of(near).status == "published"
    assert task_of(near).published_at == near_task.due_at
    assert sorted(post["task"] for post in platform.posts) == sorted([str(far_task.id), str(near_task.id)])  # once each


def test_rescheduling_far_ahead_again_before_the_handover_keeps_it_out_of_redis(
        client, tenant, platform, runtime, redis_client):
    account = connect(client, tenant)
    post = schedule(client, tenant, account, 86400)
    reschedule(client, tenant, post, 2 * 86400)
    assert in_redis(redis_client) == {}
    time_passes(runtime, redis_client, 86400)
    assert tick(runtime) == 0 and work(redis_client) == 0 and platform.posts == []
    time_passes(runtime, redis_client, 86400 - LOOKAHEAD + 1)
    assert tick(runtime) == 1
    time_passes(runtime, redis_client, LOOKAHEAD)
    assert work(redis_client) == 1 and len(platform.posts) == 1


def test_after_redis_loses_everything_one_tick_restores_all_that_is_due_soon_and_nothing_else(
        client, tenant, platform, runtime, redis_client):
    account = connect(client, tenant)
    soon = [schedule(client, tenant, account, seconds) for seconds in (0, 30, 60, 120, LOOKAHEAD - 10)]
    far = [schedule(client, tenant, account, 86400 * days) for days in (1, 7)]
    assert len(in_redis(redis_client)) == 5
    redis_client.flushdb()
    with db.connection_context():  # batches of 2 rows: one run still goes through all of them
        assert kernel.reconcile(runtime, limit=2)["publish"] == 5
    jobs = in_redis(redis_client)
    assert sorted(jobs) == sorted(kernel.job_id("publish", task_of(post).id, task_of(post).step) for post in soon)
    assert tick(runtime) == 0
    time_passes(runtime, redis_client, LOOKAHEAD)
    assert work(redis_client) == 5 and len(platform.posts) == 5
    assert all(task_of(post).status == "queued" for post in far)


def test_cancelling_before_and_after_the_handover(client, tenant, platform, runtime, redis_client):
    account = connect(client, tenant)
    before, handed, near = (schedule(client, tenant, account, seconds) for seconds in (2 * 86400, 86400, 60))
    time_passes(runtime, redis_client, 86400 - 120)
    assert tick(runtime) == 1 and len(in_redis(redis_client)) == 2  # handed (by the tick) and near (at once)
    for post in (before, handed, near):
        assert client.delete(f"/v1/posts/{post['id']}", headers=tenant.headers).status_code == 200
    assert in_redis(redis_client) == {}
    time_passes(runtime, redis_client, 2 * 86400)
    assert tick(runtime) == 0 and work(redis_client) == 0 and platform.posts == []
    assert {task_of(post).status for post in (before, handed, near)} == {"cancelled"}


def test_a_job_lost_after_its_handover_comes_back_under_its_own_id_and_runs_once(
        client, tenant, platform, runtime, redis_client):
    account = connect(client, tenant)
    post = schedule(client, tenant, account, 86400)
    time_passes(runtime, redis_client, 86400 - 60)
    assert tick(runtime) == 1
    [handed] = in_redis(redis_client)
    redis_client.flushdb()  # the job is lost right after: the next tick gives it back under its own id
    assert tick(runtime) == 1 and tick(runtime) == 0 and list(in_redis(redis_client)) == [handed]
    time_passes(runtime, redis_client, 60)
    release_due(redis_client, runtime.clock.timestamp())
    assert work(redis_client) == 1 and len(platform.posts) == 1 and task_of(post).status == "published"


def plan_of(sql: str) -> str:
    rows = db.execute_sql("EXPLAIN QUERY PLAN " + sql, [None] * sql.count("?")).fetchall()
    return " | ".join(row[-1] for row in rows)


def test_the_ticks_and_healths_queries_search_the_index_of_active_rows_by_due_time(app, runtime):
    """On SQLite every query of the tick (for every registered kind) and /health's oldest due task read
    the kind's partial index from its start: no scan of the table, no temporary B-tree sorting every
    active row."""
    if not isinstance(db.obj, pw.SqliteDatabase):
        pytest.skip("PostgreSQL picks its plan by table size (bench/scheduler_scale.py measures it)")
    with db.connection_context():
        for work_kind in kernel.kinds(runtime).values():
            table = work_kind.model._meta.table_name
            with sql_sent() as statements:
                kernel.reconcile_kind(runtime, work_kind)
            reads = [sql for sql in statements if sql.startswith("SELECT") and f'"{table}"' in sql]
            assert len(reads) == 2, reads  # due now, then due by the end of the lookahead
            for sql in reads:
                plan = plan_of(sql)
                assert f"USING INDEX {table}_active_due" in plan and "TEMP B-TREE" not in plan, (table, plan)
        with sql_sent() as statements:  # the tick's first query asks every kind's index at once
            kernel.reconcile(runtime)
        probe = statements[0]
        plan = plan_of(probe)
        assert "SCAN t" not in plan and "TEMP B-TREE" not in plan, plan  # no table walked, no sort
        for work_kind in kernel.kinds(runtime).values():
            table = work_kind.model._meta.table_name
            assert plan.count(f"USING INDEX {table}_active_due") == 2, (table, plan)  # due now, due by the horizon
        with sql_sent() as statements:
            tasks.oldest_due(utcnow())
        [oldest] = statements
        plan = plan_of(oldest)
        assert "USING INDEX publish_task_active_due" in plan and "TEMP B-TREE" not in plan, plan


def test_a_tick_reads_only_the_kinds_with_rows_due(client, tenant, platform, runtime, redis_client):
    """One query asks every kind whether it has rows due now or by the horizon; then only the kinds that
    do are read, and only the query for what they have (a tick with nothing due is one query)."""
    with db.connection_context(), sql_sent() as statements:
        kernel.reconcile(runtime)
    assert len([sql for sql in statements if sql.startswith("SELECT")]) == 1, statements
    account = connect(client, tenant)
    schedule(client, tenant, account, 86400)
    time_passes(runtime, redis_client, 86400 - 60)
    with db.connection_context(), sql_sent() as statements:
        assert kernel.reconcile(runtime)["publish"] == 1
    reads = [sql for sql in statements if sql.startswith("SELECT")]
    assert len(reads) == 2 and '"publish_task"' in reads[1] and "IS NULL" not in reads[1], reads
    assert kernel.due_kinds([], utcnow()) == {}


class RedisBefore62(redis.Redis):
    """A Redis client talking to a server without ``ZMSCORE`` (before 6.2)."""

    def zmscore(self, key, members):
        raise redis.ResponseError("unknown command 'ZMSCORE'")


def test_the_jobs_in_the_schedule_are_asked_in_one_command_or_on_an_older_redis_one_pipeline(redis_client):
    registry = ScheduledJobRegistry(queue=get_queue(redis_client, PUBLISH_QUEUE))
    redis_client.zadd(registry.key, {"publish:1:0": 1_900_000_000, "publish:2:3": 1_900_000_100})
    asked = ["publish:2:3", "publish:9:0", "publish:1:0"]
    older = RedisBefore62(connection_pool=redis_client.connection_pool)
    for connection in (redis_client, older):
        found, alive = job_states(connection, asked, queue_name=PUBLISH_QUEUE)
        assert found == alive == {"publish:1:0", "publish:2:3"}


def test_the_lookahead_is_a_setting_longer_than_the_reconcilers_interval():
    assert Config().schedule_lookahead_seconds == 300
    assert Config.from_env({"HERALD_SCHEDULE_LOOKAHEAD_SECONDS": "900"}).schedule_lookahead_seconds == 900
    with pytest.raises(ValueError, match="longer than the reconciler's interval"):
        Config.from_env({"HERALD_SCHEDULE_LOOKAHEAD_SECONDS": "30"})
    with pytest.raises(ValueError, match="whole number"):
        Config.from_env({"HERALD_SCHEDULE_LOOKAHEAD_SECONDS": "soon"})
