"""The work kernel (``herald.work``) with a throwaway kind registered from a test plugin: real Redis,
real RQ workers (in process, and a worker process SIGKILLed mid-job), a clock the test moves."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import email.utils
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rq.registry import ScheduledJobRegistry
from work_kind import LEASE_SECONDS, TABLES, Chore, ChorePlugin, FakeClock, StandInRuntime, effects

from conftest import TEST_REDIS_URL
from drive import release_due, work
from herald import work as kernel
from herald.db.models import Account, Post, PublishTask, bind_database, db, utcnow, write_transaction
from herald.plugins import PluginError, PluginRegistry, get_plugin_manager
from herald.publishing import publish_work, tasks
from herald.runtime import install_for_jobs, installed_for_jobs
from herald.work import Outcome, RetryPolicy, Statuses, WorkKind, WorkRow, job_id, parse_retry_after
from herald.work.queue import DEFAULT_QUEUE, get_queue

WORKER = Path(__file__).with_name("work_worker.py")


@pytest.fixture
def database(config):
    """The test database bound, with the chore tables."""
    bound = bind_database(config.database_url)
    with bound.connection_context():
        bound.create_tables(TABLES)
    yield bound
    with bound.connection_context():
        bound.drop_tables(TABLES)
    bound.close_all()


@pytest.fixture
def chores(database):
    """The chore plugin, registered on the process-wide plugin manager for this test."""
    pm = get_plugin_manager()
    plugin = ChorePlugin(retry=RetryPolicy(base=30, cap=600, max_attempts=3, floor=5))
    pm.register(plugin, name="chores")
    yield plugin
    pm.unregister(name="chores")


@pytest.fixture
def runtime(config, chores, redis_client):
    """A stand-in runtime with a clock the test moves, used by jobs run in this process."""
    pm = get_plugin_manager()
    stand_in = StandInRuntime(config, pm, PluginRegistry(pm), redis_client, whole_second_clock())
    install_for_jobs(stand_in)
    yield stand_in
    install_for_jobs(None)


def whole_second_clock() -> FakeClock:
    """A clock the test moves, on a whole second (as HTTP dates in Retry-After are)."""
    return FakeClock(utcnow().replace(microsecond=0))


def new_chore(runtime, due_in: float | None = None, **values) -> Chore:
    """A committed chore, its job enqueued."""
    due = runtime.clock.now() + dt.timedelta(seconds=due_in) if due_in is not None else None
    with db.connection_context():
        with write_transaction():
            chore = Chore.create(status="queued", due_at=due, **values)
        assert kernel.enqueue(runtime, kernel.kind(runtime, "chore"), chore)
    return chore


def reload(chore: Chore) -> Chore:
    with db.connection_context():
        return Chore.get_by_id(chore.id)


def scheduled(redis_client) -> dict[str, float]:
    """Scheduled job ids of the default queue and the seconds until each is due (RQ's clock)."""
    registry = ScheduledJobRegistry(queue=get_queue(redis_client, DEFAULT_QUEUE))
    now = installed_for_jobs().clock.timestamp()
    return {job.decode(): score - now for job, score in redis_client.zrange(registry.key, 0, -1, withscores=True)}


def later(runtime, redis_client, seconds: float) -> None:
    """Time passes: for the rows (the runtime's clock) and for RQ (its scheduled jobs)."""
    runtime.clock.advance(seconds)
    release_due(redis_client, runtime.clock.timestamp())


# -- the retry policy and Retry-After ------------------------------------------------------------

def test_backoff_is_exponential_with_full_jitter_between_floor_and_cap():
    policy = RetryPolicy(base=30, cap=600, max_attempts=10, floor=5)
    rng = random.Random(7)
    for attempts, ceiling in ((1, 30), (2, 60), (3, 120), (5, 480), (6, 600), (9, 600)):
        delays = [policy.delay(attempts, rng=rng) for _ in range(300)]
        assert all(5 <= delay <= ceiling for delay in delays), (attempts, min(delays), max(delays))
        assert max(delays) > ceiling * 0.8 and min(delays) < max(5.0, ceiling * 0.2)  # spread over the range


def test_retry_after_is_honoured_instead_of_the_backoff_within_floor_and_a_day():
    policy = RetryPolicy(base=30, cap=600, max_attempts=3, floor=5)
    assert policy.delay(1, retry_after=120) == 120
    assert policy.delay(1, retry_after=0) == 5
    assert policy.delay(1, retry_after=10 * 86400) == 86400
    assert policy.delay(3, retry_after=120) is None  # no attempt left, whatever the platform asks


def test_a_wait_asked_for_past_max_retry_after_gives_up_at_once():
    policy = RetryPolicy(base=4, cap=30, max_attempts=5, floor=1, max_retry_after=60)
    assert policy.delay(1, retry_after=60) == 60
    assert policy.delay(1, retry_after=3600) is None  # nobody waits an hour for an AI job's result
    assert policy.gives_up(1, retry_after=3600) == "Gave up: asked to wait 3600 s, longer than the 60 s this work waits"
    assert policy.gives_up(5) == "Gave up after 5 attempts" and policy.gives_up(1, retry_after=60) is None
    backoff = policy.delay(1)  # without Retry-After, the first backoff: full jitter up to the base
    assert backoff is not None and 1 <= backoff <= 4


def test_a_fixed_schedule_replaces_the_backoff_and_retry_after_can_only_lengthen_it():
    policy = RetryPolicy(schedule=(0, 5, 300, 1800), jitter=0.1, retry_after_at_least=True, floor=0)
    rng = random.Random(3)
    assert policy.delay(0, rng=rng) == 0
    assert all(4.5 <= policy.delay(1, rng=rng) <= 5.5 for _ in range(100))
    assert all(270 <= policy.delay(2, rng=rng) <= 330 for _ in range(100))
    assert policy.delay(2, retry_after=3600, rng=rng) == 3600
    assert 270 <= policy.delay(2, retry_after=10, rng=rng) <= 330  # a schedule promised to receivers is a floor
    assert policy.delay(4, rng=rng) is None  # every scheduled attempt made


def test_retry_after_reads_seconds_and_http_dates():
    now = dt.datetime(2026, 12, 6, 12, 0, 0)
    assert parse_retry_after("120", now) == 120
    assert parse_retry_after(" 7 ", now) == 7
    assert parse_retry_after("Sun, 06 Dec 2026 12:01:30 GMT", now) == 90
    assert parse_retry_after("Sun, 06 Dec 2026 11:00:00 GMT", now) == 0  # a date passed: now
    assert parse_retry_after("999999999", now) == 86400
    assert parse_retry_after("²", now) is None
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


# -- registration ----------------------------------------------------------------------------------

def test_a_kind_whose_table_lacks_the_work_row_contract_is_refused_when_it_is_made():
    class NotWork(WorkRow.__base__):  # BaseModel: no contract columns
        status = WorkRow.status

    with pytest.raises(TypeError, match="lacks the work-row columns step, due_at, lease_until, attempts, state"):
        WorkKind(name="broken", model=NotWork, run=lambda runtime, row, mode: Outcome.done())
    with pytest.raises(ValueError, match="a queue's name is letters, digits"):
        WorkKind(name="lost", model=Chore, run=lambda runtime, row, mode: Outcome.done(), queue="chores:urgent")
    with pytest.raises(ValueError, match="lease_seconds must exceed job_timeout"):
        WorkKind(name="short", model=Chore, run=lambda runtime, row, mode: Outcome.done(), job_timeout=60,
                 lease_seconds=30)


def test_two_plugins_registering_one_kind_name_stop_start_up(chores):
    pm = get_plugin_manager()
    pm.register(ChorePlugin(), name="chores-again")
    try:
        with pytest.raises(PluginError, match="work kind 'chore' is registered twice"):
            PluginRegistry(pm)
    finally:
        pm.unregister(name="chores-again")


def test_a_plugins_kind_is_listed_with_what_it_provides(chores):
    described = {row["name"]: row for row in PluginRegistry(get_plugin_manager()).describe()}
    assert described["chores"]["provides"] == {"work_kinds": ["chore"]}
    assert "register_work_kinds" in described["chores"]["hooks"]


# -- claim, run, record ------------------------------------------------------------------------------

def test_a_plugins_chore_runs_on_a_worker_and_ends_done(runtime, chores, redis_client):
    chore = new_chore(runtime)
    assert work(redis_client) == 1
    done = reload(chore)
    assert (done.status, done.label, done.attempts, done.lease_until, done.due_at) == ("done", "done", 1, None, None)
    assert chores.calls == [(chore.id, "run", f"herald-chore-{chore.id}-0")]
    with db.connection_context():
        assert effects(chore.id) == ["run"]


def test_only_one_of_two_claims_holds_the_row(runtime, chores):
    chore = new_chore(runtime)
    work_kind = kernel.kind(runtime, "chore")
    now = runtime.clock.now()
    with db.connection_context():
        first = kernel.claim(work_kind, chore.id, now)
        second = kernel.claim(work_kind, chore.id, now)
    assert first is not None and second is None
    mode, row = first
    assert (mode, row.status, row.attempts, row.step) == ("run", "running", 1, 1)
    assert row.lease_until == now + dt.timedelta(seconds=LEASE_SECONDS)


def test_a_retry_honours_retry_after_with_a_new_job_and_no_sleep(runtime, chores, redis_client):
    chore = new_chore(runtime)
    asked = email.utils.format_datetime((runtime.clock.now() + dt.timedelta(seconds=90)).replace(tzinfo=dt.UTC),
                                        usegmt=True)
    chores.script = [Outcome.retry("429 Too Many Requests", parse_retry_after(asked, runtime.clock.now()))]
    started = time.monotonic()
    assert work(redis_client) == 1
    assert time.monotonic() - started < 5  # the worker did not wait the 90 s
    waiting = reload(chore)
    assert waiting.status == "retrying" and waiting.error == "429 Too Many Requests"
    assert waiting.due_at == runtime.clock.now() + dt.timedelta(seconds=90)
    [(job, seconds)] = scheduled(redis_client).items()
    assert job == f"herald-chore-{chore.id}-{waiting.step}" and 85 < seconds <= 90
    later(runtime, redis_client, 60)
    assert work(redis_client) == 0  # not due yet
    later(runtime, redis_client, 30)
    assert work(redis_client) == 1
    done = reload(chore)
    assert (done.status, done.attempts) == ("done", 2)


def test_a_retry_without_retry_after_backs_off_within_the_policy(runtime, chores, redis_client):
    chore = new_chore(runtime)
    chores.script = [Outcome.retry("502 Bad Gateway")]
    work(redis_client)
    waiting = reload(chore)
    delay = (waiting.due_at - runtime.clock.now()).total_seconds()
    assert waiting.status == "retrying" and 5 <= delay <= 30


def test_a_chore_out_of_attempts_fails_and_an_unsure_one_ends_unconfirmed(runtime, chores, redis_client):
    failing, unsure = new_chore(runtime), new_chore(runtime)
    chores.scripts = {failing.id: [Outcome.retry("busy", retry_after=10)] * 3,
                      unsure.id: [Outcome.retry("busy", retry_after=10, unsure=True)] * 3}
    work(redis_client)
    for _ in range(3):
        later(runtime, redis_client, 10)
        work(redis_client)
    failed, unconfirmed = reload(failing), reload(unsure)
    assert (failed.status, failed.attempts, failed.due_at) == ("failed", 3, None)
    assert failed.error == "Gave up after 3 attempts. Last error: busy"
    assert (unconfirmed.status, unconfirmed.attempts) == ("unconfirmed", 3)
    assert len(chores.calls) == 6 and scheduled(redis_client) == {}


def test_a_wait_too_long_to_honour_gives_up_saying_so_and_the_kind_words_an_unconfirmed_end(
        database, redis_client, config):
    policy = RetryPolicy(base=1, cap=30, max_attempts=5, floor=1, max_retry_after=60)
    plugin = ChorePlugin(retry=policy, final_error=lambda row, error, unsure: f"{error} (unsure: {unsure})")
    pm = get_plugin_manager()
    pm.register(plugin, name="chores")
    try:
        runtime = StandInRuntime(config, pm, PluginRegistry(pm), redis_client, whole_second_clock())
        install_for_jobs(runtime)
        chore = new_chore(runtime)
        plugin.script = [Outcome.retry("overloaded", retry_after=3600, unsure=True)]
        work(redis_client)
    finally:
        install_for_jobs(None)
        pm.unregister(name="chores")
    ended = reload(chore)
    assert (ended.status, ended.attempts) == ("unconfirmed", 1)
    assert ended.error == ("Gave up: asked to wait 3600 s, longer than the 60 s this work waits. "
                           "Last error: overloaded (unsure: True)")


def test_waiting_for_a_check_counts_no_attempt(runtime, chores, redis_client):
    chore = new_chore(runtime)
    chores.script = [Outcome.wait(20, label="handed over")]
    work(redis_client)
    waiting = reload(chore)
    assert (waiting.status, waiting.label, waiting.attempts, waiting.lease_until) == ("waiting", "handed over", 1, None)
    later(runtime, redis_client, 20)
    work(redis_client)
    assert [mode for _, mode, _ in chores.calls] == ["run", "check"]
    assert (reload(chore).status, reload(chore).attempts) == ("done", 1)


def test_job_ids_never_repeat_over_a_chores_life(runtime, chores, redis_client):
    chore = new_chore(runtime)
    chores.script = [Outcome.wait(5), Outcome.retry("busy", retry_after=5)]
    work(redis_client)
    later(runtime, redis_client, 5)
    work(redis_client)
    with db.connection_context():
        kernel.reconcile(runtime)  # a job already waits: nothing new
    redis_client.flushdb()  # Redis loses the next job: the reconciler gives the row a new one
    with db.connection_context():
        assert kernel.reconcile(runtime)["chore"] == 1
    later(runtime, redis_client, 5)
    work(redis_client)
    job_ids = [job for _, _, job in chores.calls]
    assert reload(chore).status == "done" and len(job_ids) == 3
    assert len(set(job_ids)) == 3, job_ids
    steps = [int(job.rsplit("-", 1)[1]) for job in job_ids]
    assert steps == sorted(steps) and all(job.startswith(f"herald-chore-{chore.id}-") for job in job_ids)


def test_a_job_handed_over_early_puts_its_chore_back_on_the_schedule(runtime, chores, redis_client):
    chore = new_chore(runtime, due_in=60)
    [(first, _)] = scheduled(redis_client).items()
    release_due(redis_client, runtime.clock.timestamp() + 60)  # RQ runs it early; by the row's clock it is not due yet
    assert work(redis_client) == 1 and chores.calls == []
    [(second, seconds)] = scheduled(redis_client).items()
    assert second == job_id("chore", chore.id, reload(chore).step) != first and 55 < seconds <= 60
    later(runtime, redis_client, 60)
    work(redis_client)
    assert reload(chore).status == "done"


def test_a_deferred_chore_is_queued_again_without_spending_an_attempt(runtime, chores, redis_client):
    chore = new_chore(runtime)
    chores.script = [Outcome.defer(15), Outcome.retry("busy", retry_after=5), Outcome.defer(15)]
    work(redis_client)
    deferred = reload(chore)
    assert (deferred.status, deferred.attempts) == ("queued", 0)
    assert deferred.due_at == runtime.clock.now() + dt.timedelta(seconds=15)
    later(runtime, redis_client, 15)
    work(redis_client)
    later(runtime, redis_client, 5)
    work(redis_client)
    assert (reload(chore).status, reload(chore).attempts) == ("retrying", 1)  # the failed attempt still counts
    later(runtime, redis_client, 15)
    work(redis_client)
    assert (reload(chore).status, reload(chore).attempts, len(chores.calls)) == ("done", 2, 4)


def test_the_kinds_lock_is_taken_before_the_outcome_is_written_in_the_same_transaction(database, redis_client,
                                                                                      config):
    pm = get_plugin_manager()
    seen = []

    def lock(runtime, row):  # a publish task takes its post's lock here
        seen.append((db.in_transaction(), Chore.get_by_id(row.id).status))
        return "what the lock read"

    def settle(runtime, row, outcome, locked):
        seen.append(locked)

    locking = ChorePlugin(lock=lock, settle=settle)
    pm.register(locking, name="chores")
    runtime = StandInRuntime(config, pm, PluginRegistry(pm), redis_client, whole_second_clock())
    install_for_jobs(runtime)
    try:
        chore = new_chore(runtime)
        work(redis_client)
    finally:
        pm.unregister(name="chores")
        install_for_jobs(None)
    assert seen == [(True, "running"), "what the lock read"] and reload(chore).status == "done"


def test_the_kinds_after_step_runs_once_the_outcome_is_committed_before_the_next_job(database, redis_client,
                                                                                     config):
    pm = get_plugin_manager()
    seen = []

    def after(runtime, row, outcome):  # a published task enqueues its first comment here
        seen.append((db.in_transaction(), Chore.get_by_id(row.id).status, outcome.kind,
                     len(ScheduledJobRegistry(queue=get_queue(redis_client, DEFAULT_QUEUE)))))

    following = ChorePlugin(after=after)
    following.script = [Outcome.wait(30), Outcome.done()]
    pm.register(following, name="chores")
    runtime = StandInRuntime(config, pm, PluginRegistry(pm), redis_client, whole_second_clock())
    install_for_jobs(runtime)
    try:
        chore = new_chore(runtime)
        work(redis_client)
        later(runtime, redis_client, 30)
        work(redis_client)
    finally:
        pm.unregister(name="chores")
        install_for_jobs(None)
    # committed and read back outside the transaction; the waiting chore's next job not yet scheduled
    assert seen == [(False, "waiting", "wait", 0), (False, "done", "done", 0)] and reload(chore).status == "done"


def test_a_policy_says_when_no_attempt_is_left():
    assert not RetryPolicy(max_attempts=3).exhausted(2) and RetryPolicy(max_attempts=3).exhausted(3)
    assert RetryPolicy(schedule=(0, 5)).exhausted(2) and not RetryPolicy(schedule=(0, 5)).exhausted(1)
    assert RetryPolicy(max_attempts=3).delay(3) is None


def test_a_cancelled_chore_is_final_and_settle_gets_the_handlers_detail(database, redis_client, config):
    pm = get_plugin_manager()
    settled = []

    def settle(runtime, row, outcome, locked):  # a webhook delivery logs its attempt here
        settled.append((db.in_transaction(), row.status, outcome.detail))

    plugin = ChorePlugin(settle=settle)
    plugin.script = [dataclasses.replace(Outcome.cancelled("its purpose is gone", label="off"), detail={"tried": 0})]
    pm.register(plugin, name="chores")
    runtime = StandInRuntime(config, pm, PluginRegistry(pm), redis_client, whole_second_clock())
    install_for_jobs(runtime)
    try:
        chore = new_chore(runtime)
        assert work(redis_client) == 1
        assert kernel.reconcile(runtime)["chore"] == 0  # final: no job, none rebuilt
    finally:
        pm.unregister(name="chores")
        install_for_jobs(None)
    row = reload(chore)
    assert (row.status, row.error, row.label, row.due_at, row.lease_until) == (
        "cancelled", "its purpose is gone", "off", None, None)
    assert settled == [(True, "cancelled", {"tried": 0})]
    assert "cancelled" in Statuses().final and "cancelled" not in Statuses().active


def test_a_handler_answering_no_outcome_is_treated_as_one_that_raised(runtime, chores, redis_client):
    chore = new_chore(runtime)
    chores.script = [lambda runtime, row: "done"]
    assert work(redis_client) == 2
    assert [mode for _, mode, _ in chores.calls] == ["run", "recover"] and reload(chore).status == "done"


def test_a_job_of_a_kind_no_longer_registered_leaves_its_row_alone(runtime, chores, redis_client):
    chore = new_chore(runtime)
    get_plugin_manager().unregister(name="chores")
    try:
        gone = StandInRuntime(runtime.config, runtime.pm, PluginRegistry(runtime.pm), redis_client, runtime.clock)
        assert kernel.perform(gone, "chore", chore.id, 0) == "no work kind 'chore'"
        assert "chore" not in kernel.reconcile(gone)  # (other plugins' kinds are reconciled)
    finally:
        get_plugin_manager().register(chores, name="chores")
    assert reload(chore).status == "queued"


TASK_STATES = [  # status, due (seconds from now), lease (seconds from now), the mode a claim takes it in
    ("queued", -5, None, "run"), ("queued", None, None, "run"), ("queued", 1, None, "run"), ("queued", 30, None, None),
    ("retrying", -5, None, "run"), ("retrying", 30, None, None), ("publishing", -5, None, "check"),
    ("publishing", 30, None, None), ("publishing", -5, 20, None), ("publishing", -5, -1, "recover"),
    ("pending_approval", -5, None, None), ("published", None, None, None), ("failed", None, None, None),
    ("cancelled", None, None, None), ("unconfirmed", None, None, None),
]


def test_the_publish_kind_claims_tasks_in_the_modes_publish_tasks_were_always_claimed_in(app, tenant):
    """For every state a publish task can be in, the kernel's claim takes it (or leaves it) in the
    mode the hand-written claim of publish tasks did (publish: run, check, reconcile: recover), with a
    lease of the kind's length, counting an attempt when it publishes or recovers."""
    now = utcnow()

    def at(seconds):
        return None if seconds is None else now + dt.timedelta(seconds=seconds)

    def task(status, due, lease):
        post = Post.create(workspace=tenant.workspace, caption=status)
        return PublishTask.create(workspace=tenant.workspace, post=post, account=account, platform="facebook",
                                  status=status, attempts=2, step=3, due_at=at(due), lease_until=at(lease))

    with db.connection_context():
        account = Account.create(workspace=tenant.workspace, platform="facebook", external_id="1",
                                 token_encrypted="x")
        for status, due, lease, mode in TASK_STATES:
            claimed = kernel.claim(publish_work.KIND, task(status, due, lease).id, now)
            assert (claimed is None) == (mode is None), status
            if claimed is None:
                continue
            (new_mode, new) = claimed
            assert new_mode == mode, (status, due, lease)
            assert (new.status, new.attempts, new.lease_until) == (
                tasks.PUBLISHING, 2 if mode == "check" else 3, now + dt.timedelta(seconds=60)), (status, due, lease)
            assert new.step == 4, status  # the kernel's claim is a transition: a new step


# -- recovery ------------------------------------------------------------------------------------------

def test_a_moved_chore_runs_at_its_new_time_and_its_old_job_does_nothing(runtime, chores, redis_client):
    chore = new_chore(runtime, due_in=60)
    kind = kernel.kind(runtime, "chore")
    with db.connection_context(), write_transaction():
        assert kernel.move(runtime, kind, chore, due_at=runtime.clock.now() + dt.timedelta(seconds=240))
    assert kernel.enqueue(runtime, kind, chore)
    assert sorted(scheduled(redis_client)) == sorted([job_id("chore", chore.id, 0), job_id("chore", chore.id, 1)])
    later(runtime, redis_client, 60)
    assert work(redis_client) == 1 and chores.calls == []  # the old step's job: its row moved on
    later(runtime, redis_client, 180)
    assert work(redis_client) == 1 and reload(chore).status == "done" and len(chores.calls) == 1


def test_a_chore_a_worker_holds_is_neither_moved_nor_cancelled(runtime, chores, redis_client):
    held, waiting = new_chore(runtime), new_chore(runtime, due_in=60)
    kind = kernel.kind(runtime, "chore")
    with db.connection_context():
        assert kernel.claim(kind, held.id, runtime.clock.now())[0] == "run"
        with write_transaction():
            assert not kernel.move(runtime, kind, reload(held), due_at=runtime.clock.now())
            dropped = kernel.cancel(runtime, kind, Chore.id.in_([held.id, waiting.id]), label="stopped")
    assert dropped == [(waiting.id, 0)]
    kernel.drop_job(runtime, kind, waiting.id, 0)
    assert job_id("chore", waiting.id, 0) not in scheduled(redis_client)
    assert (reload(held).status, reload(waiting).status, reload(waiting).label) == ("running", "cancelled", "stopped")


def test_a_lost_job_is_rebuilt_from_the_row(runtime, chores, redis_client):
    chore = new_chore(runtime)
    redis_client.flushdb()
    with db.connection_context():
        assert kernel.reconcile(runtime)["chore"] == 1
        assert kernel.reconcile(runtime)["chore"] == 0  # its new job is alive
    work(redis_client)
    assert reload(chore).status == "done" and len(chores.calls) == 1


def test_an_expired_lease_is_recovered_by_the_handler_before_anything_is_done_again(runtime, chores, redis_client):
    chore = new_chore(runtime)
    redis_client.flushdb()
    work_kind = kernel.kind(runtime, "chore")
    with db.connection_context():
        _, held = kernel.claim(work_kind, chore.id, runtime.clock.now())  # then the worker dies
        assert kernel.reconcile(runtime)["chore"] == 0  # its lease still runs
        runtime.clock.advance(LEASE_SECONDS + 1)
        assert kernel.reconcile(runtime)["chore"] == 1
    work(redis_client)
    recovered = reload(chore)
    assert [mode for _, mode, _ in chores.calls] == ["recover"]
    assert (recovered.status, recovered.attempts) == ("done", 2)
    with db.connection_context():
        assert kernel.record(runtime, work_kind, held, Outcome.done()) == "stale"  # the dead worker's word is dropped


def test_a_handler_that_raises_is_recovered_at_once_not_run_again_blind(runtime, chores, redis_client):
    chore = new_chore(runtime)
    chores.script = [RuntimeError("connection reset after sending")]
    assert work(redis_client) == 2  # the run, then the recovery it left behind
    assert [mode for _, mode, _ in chores.calls] == ["run", "recover"]
    with db.connection_context():
        assert effects(chore.id) == ["run"]
    done = reload(chore)
    assert (done.status, done.label) == ("done", "found done")


def test_a_recovery_that_raises_ends_unconfirmed(runtime, chores, redis_client):
    chore = new_chore(runtime)
    chores.script = [RuntimeError("connection reset after sending")]
    chores.recovery_error = RuntimeError("cannot look")
    assert work(redis_client) == 2
    ended = reload(chore)
    assert ended.status == "unconfirmed" and "cannot look" in ended.error
    assert [mode for _, mode, _ in chores.calls] == ["run", "recover"] and scheduled(redis_client) == {}


def test_a_long_step_renews_its_lease_so_a_slow_worker_is_not_taken_for_a_dead_one(database, redis_client, config):
    pm = get_plugin_manager()
    renewing = ChorePlugin(job_timeout=900, lease_seconds=30, renew_every=0.02)  # an AI call may take minutes
    pm.register(renewing, name="chores")
    runtime = StandInRuntime(config, pm, PluginRegistry(pm), redis_client, whole_second_clock())
    install_for_jobs(runtime)
    leases = []

    def long_call(runtime, row):  # the worker is on this call; its lease is renewed meanwhile
        for _ in range(3):
            runtime.clock.advance(20)  # past the 30 s the claim gave, twice over by the end
            deadline = time.monotonic() + 10
            while reload(row).lease_until != runtime.clock.now() + dt.timedelta(seconds=30) \
                    and time.monotonic() < deadline:
                pass
            leases.append(reload(row).lease_until)
            with db.connection_context():
                assert kernel.reconcile(runtime)["chore"] == 0  # a slow call is not a dead worker
        return Outcome.done()

    try:
        chore = new_chore(runtime)
        renewing.script = [long_call]
        assert work(redis_client) == 1
    finally:
        pm.unregister(name="chores")
        install_for_jobs(None)
    assert [(lease - leases[0]).total_seconds() for lease in leases] == [0, 20, 40], leases
    assert [mode for _, mode, _ in renewing.calls] == ["run"]
    ended = reload(chore)
    assert (ended.status, ended.lease_until) == ("done", None)


def test_a_renewed_lease_still_runs_out_when_its_worker_dies(runtime, chores, redis_client):
    chore = new_chore(runtime)
    redis_client.flushdb()
    work_kind = kernel.kind(runtime, "chore")
    with db.connection_context():
        _, held = kernel.claim(work_kind, chore.id, runtime.clock.now())
        runtime.clock.advance(LEASE_SECONDS - 1)
        assert kernel.renew_lease(runtime, work_kind, held)  # the worker was alive then
        runtime.clock.advance(LEASE_SECONDS - 1)
        assert kernel.reconcile(runtime)["chore"] == 0
        runtime.clock.advance(2)  # and died: no renewal since
        assert kernel.reconcile(runtime)["chore"] == 1
        assert not kernel.renew_lease(runtime, work_kind, held)  # taken over: a late renewal changes nothing
    work(redis_client)
    assert [mode for _, mode, _ in chores.calls] == ["recover"] and reload(chore).status == "done"


# -- crash: a worker process SIGKILLed mid-job ----------------------------------------------------------

def test_a_worker_killed_mid_job_is_reconciled_and_the_chore_done_exactly_once(runtime, chores, redis_client,
                                                                             config, tmp_path):
    chore = new_chore(runtime)
    marker = tmp_path / "mid-job"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(WORKER.parent), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen([sys.executable, str(WORKER), config.database_url, TEST_REDIS_URL, str(marker)],
                               env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert marker.exists(), process.stderr.read().decode() if process.poll() is not None else "no marker"
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    held = reload(chore)
    assert held.status == "running" and held.lease_until is not None
    with db.connection_context():
        assert effects(chore.id) == ["run"]  # the worker did the chore, then died before recording it
        assert kernel.reconcile(runtime)["chore"] == 0  # its lease still runs
        runtime.clock.set(held.lease_until + dt.timedelta(seconds=1))
        assert kernel.reconcile(runtime)["chore"] == 1
    work(redis_client)
    done = reload(chore)
    assert (done.status, done.label, done.lease_until) == ("done", "found done", None)
    assert [mode for _, mode, _ in chores.calls] == ["recover"]
    with db.connection_context():
        assert effects(chore.id) == ["run"]  # done exactly once
        assert kernel.reconcile(runtime)["chore"] == 0
    assert work(redis_client) == 0
