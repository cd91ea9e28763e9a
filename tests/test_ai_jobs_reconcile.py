"""No stuck background jobs: ``herald cron``'s reconciler re-enqueues queued AI jobs Redis lost and
fails running ones whose worker is gone (never running them again), releasing their plan slot.
Driven through the API, the Gemini plugin and its fake, real RQ workers and a real Redis."""

from __future__ import annotations

import os
import subprocess
import threading
import time

import pytest
from rq.worker import Worker
from test_crash import HERALD, kill_tree

from ai_drive import set_key
from conftest import TEST_REDIS_URL
from drive import advance, work
from herald import ai_usage, background, jobs
from herald.clock import SystemClock
from herald.models import AIGeneration, BackgroundJob, GeneratedOpener, db


def hooks(count):
    return {"hooks": [{"text": f"Hook number {n}?", "style": "question"} for n in range(count)]}


def start_hooks(api, tenant) -> str:
    response = api.post("/api/intelligence/populate-hooks", json={"client_id": tenant.client.id},
                        headers=tenant.headers)
    assert response.status_code == 202, response.get_json()
    return response.get_json()["job"]["id"]


def job(api, tenant, job_id) -> dict:
    return api.get(f"/api/jobs/{job_id}", headers=tenant.headers).get_json()["job"]


def reconcile() -> dict:
    return jobs.reconcile()["background_jobs"]


def generations(workspace_id):
    with db.connection_context():
        return list(AIGeneration.select().where(AIGeneration.workspace == workspace_id).order_by(AIGeneration.id))


def used(api, tenant) -> int:
    return api.get("/api/plan", headers=tenant.headers).get_json()["usage"]["ai_generations"]


def test_a_queued_job_lost_in_a_redis_flush_is_enqueued_again_and_runs_once(api, tenant, gemini, redis_client):
    set_key(api, tenant)
    gemini.reply_json(hooks(20))
    job_id = start_hooks(api, tenant)
    redis_client.flushdb()  # Redis restarted without its data
    assert reconcile() == {"requeued": 0, "interrupted": 0}  # just created: start() may still be enqueueing
    advance(redis_client, 60)
    assert reconcile() == {"requeued": 1, "interrupted": 0}
    assert reconcile() == {"requeued": 0, "interrupted": 0}  # its RQ job is waiting now
    assert work(redis_client) == 1
    done = job(api, tenant, job_id)
    assert done["status"] == "succeeded" and done["result"]["created"] == 20
    assert len(gemini.generations) == 1 and [row.status for row in generations(tenant.workspace.id)] == ["succeeded"]
    with db.connection_context():
        assert GeneratedOpener.select().count() == 20


def test_a_running_job_stamps_its_pulse_while_its_call_lasts_and_removes_it_after(api, tenant, gemini, redis_client,
                                                                                monkeypatch, clock):
    monkeypatch.setattr(background, "PULSE_EVERY", 0.02)
    set_key(api, tenant)
    gemini.reply_json(hooks(20))
    job_id = start_hooks(api, tenant)
    seen = []

    def slow_call():  # the worker waits on this call; its pulse thread goes on stamping
        deadline = time.monotonic() + 10
        while len(set(seen)) < 3 and time.monotonic() < deadline:
            stamp = redis_client.get(background.pulse_key(job_id))
            if stamp is not None and stamp not in seen:
                seen.append(stamp)
                clock.advance(background.PULSE_EVERY)  # time passes during the call
        assert reconcile() == {"requeued": 0, "interrupted": 0}  # a slow call is not a dead worker

    gemini.on_generate = slow_call
    assert work(redis_client) == 1
    assert len(set(seen)) >= 3, "the pulse was not stamped again during the call"
    assert job(api, tenant, job_id)["status"] == "succeeded"
    assert not redis_client.exists(background.pulse_key(job_id))


def test_a_queued_job_whose_rq_job_failed_before_claiming_it_runs_again(api, tenant, gemini, redis_client):
    set_key(api, tenant)
    gemini.reply_json(hooks(20))
    job_id = start_hooks(api, tenant)
    rq_job = background.queue.get_queue(redis_client).fetch_job(background.rq_job_id(job_id))
    rq_job.set_status("failed")  # what RQ records when run() crashed before its claim (database down)
    advance(redis_client, 60)
    assert reconcile() == {"requeued": 1, "interrupted": 0}
    assert work(redis_client) == 1
    done = job(api, tenant, job_id)
    assert done["status"] == "succeeded", done["error"]
    assert len(gemini.generations) == 1


def test_redis_flushed_mid_call_the_job_still_finishes_once(api, tenant, gemini, redis_client):
    set_key(api, tenant)
    gemini.reply_json(hooks(20))
    job_id = start_hooks(api, tenant)
    seen = []

    def mid_call():
        redis_client.flushdb()
        seen.append(reconcile())
        with db.connection_context():
            seen.append(BackgroundJob.get_by_id(job_id).status)

    gemini.on_generate = mid_call
    assert work(redis_client) == 1
    # The worker still runs it: Redis forgot the job, but it started a moment ago.
    assert seen == [{"requeued": 0, "interrupted": 0}, "running"]
    done = job(api, tenant, job_id)
    assert done["status"] == "succeeded" and done["result"]["created"] == 20
    gemini.on_generate = None
    assert reconcile() == {"requeued": 0, "interrupted": 0}
    assert work(redis_client) == 0 and len(gemini.generations) == 1


def test_a_running_job_whose_rq_job_is_gone_fails_after_the_timeout_and_frees_its_slot(api, tenant, gemini,
                                                                                        redis_client):
    set_key(api, tenant)
    job_id = start_hooks(api, tenant)
    with db.connection_context():  # a worker claimed it and reserved its generation, then died
        BackgroundJob.update(status="running", started_at=BackgroundJob.created_at).where(
            BackgroundJob.id == job_id).execute()
        ai_usage.reserve(tenant.workspace.id, feature="populate_hooks", provider="gemini",
                         model="gemini-flash-latest", client_id=tenant.client.id, job_id=job_id)
    redis_client.flushdb()
    assert used(api, tenant) == 1
    assert reconcile() == {"requeued": 0, "interrupted": 0}  # a live worker may still be on it
    advance(redis_client, background.JOB_TIMEOUT + 61)
    assert reconcile() == {"requeued": 0, "interrupted": 1}
    failed = job(api, tenant, job_id)
    assert failed["status"] == "failed" and failed["error"]["code"] == "job_interrupted"
    assert "the queue lost it" in failed["error"]["message"] and "not run again" in failed["error"]["message"]
    assert failed["finished_at"] is not None
    [row] = generations(tenant.workspace.id)
    assert row.status == "failed" and row.error.startswith("job_interrupted: ") and row.job_id == job_id
    assert used(api, tenant) == 0  # the slot is free again
    assert reconcile() == {"requeued": 0, "interrupted": 0}
    assert work(redis_client) == 0 and gemini.generations == []


def test_another_workspaces_interrupted_job_stays_its_own(api, tenant, make_tenant, gemini, redis_client):
    set_key(api, tenant)
    job_id = start_hooks(api, tenant)
    other = make_tenant("Other")
    with db.connection_context():  # claimed by a worker that died, and the queue lost it
        BackgroundJob.update(status="running", started_at=BackgroundJob.created_at).where(
            BackgroundJob.id == job_id).execute()
    redis_client.flushdb()
    advance(redis_client, background.JOB_TIMEOUT + 61)
    assert reconcile() == {"requeued": 0, "interrupted": 1}
    assert job(api, tenant, job_id)["error"]["code"] == "job_interrupted"
    assert api.get(f"/api/jobs/{job_id}", headers=other.headers).status_code == 404
    assert used(api, other) == 0 and generations(other.workspace.id) == []


def worker_env(config, gemini) -> dict[str, str]:
    env = dict(os.environ)
    env.update(HERALD_DATA_DIR=str(config.data_dir), HERALD_DATABASE_URL=config.database_url,
               HERALD_REDIS_URL=TEST_REDIS_URL, HERALD_SECRET_KEY=config.secret_key,
               HERALD_GEMINI_BASE_URL=gemini.base_url)
    return env


@pytest.mark.real_time  # the worker is another process, stamping its pulse by the system's clock
@pytest.mark.parametrize("noticed_by", ["its stale pulse", "its worker key expiring"])
def test_a_worker_killed_during_the_gemini_call_fails_its_job_once_noticed(api, tenant, gemini, config, redis_client,
                                                                           noticed_by):
    set_key(api, tenant)
    job_id = start_hooks(api, tenant)
    arrived, release = threading.Event(), threading.Event()

    def hold():
        arrived.set()
        release.wait(30)

    gemini.on_generate = hold
    process = subprocess.Popen([str(HERALD), "worker", "--burst"], env=worker_env(config, gemini),
                               start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert arrived.wait(60), "the worker never called Gemini"
        kill_tree(process)  # SIGKILL while the paid call is in flight
    finally:
        release.set()
        if process.poll() is None:
            kill_tree(process)
    gemini.on_generate = None
    assert job(api, tenant, job_id)["status"] == "running" and used(api, tenant) == 1
    assert reconcile() == {"requeued": 0, "interrupted": 0}  # its pulse is fresh, its worker key alive
    worker_keys = Worker.all_keys(connection=redis_client)
    assert len(worker_keys) == 1
    stamp = float(redis_client.get(background.pulse_key(job_id)))
    if noticed_by == "its stale pulse":  # what a minute without stamps looks like, without waiting it out
        redis_client.set(background.pulse_key(job_id), stamp - background.PULSE_STALE - 1)
        assert redis_client.exists(*worker_keys)  # RQ keeps the key for the whole job timeout (15 min)
    else:  # an older Herald stamped no pulse: only the worker key's expiry tells
        redis_client.delete(background.pulse_key(job_id), *worker_keys)
    assert reconcile() == {"requeued": 0, "interrupted": 1}
    failed = job(api, tenant, job_id)
    assert failed["error"]["code"] == "job_interrupted" and "stopped" in failed["error"]["message"]
    assert used(api, tenant) == 0
    assert work(redis_client) == 0 and len(gemini.generations) == 1  # the call it was killed in, never another
    with db.connection_context():
        assert GeneratedOpener.select().count() == 0


def test_a_stamp_in_flight_when_the_job_ends_does_not_outlive_it(redis_client, monkeypatch):
    """The pulse thread may be writing a stamp at the moment the job ends; the key is removed after
    that stamp lands, not before it (where the stamp would bring the key back for 17 minutes)."""
    from types import SimpleNamespace

    real_stamp, entered = background._Pulse._stamp, threading.Event()

    def stamp_in_flight(pulse):
        if threading.current_thread() is not threading.main_thread():  # the thread's stamps, not the first
            entered.set()
            pulse.stopped.wait(5)  # still writing when the job ends...
            time.sleep(0.05)  # ...and slower than the job's own clean-up
        real_stamp(pulse)

    monkeypatch.setattr(background._Pulse, "_stamp", stamp_in_flight)
    monkeypatch.setattr(background, "PULSE_EVERY", 0.01)
    monkeypatch.setattr(background, "get_current_job", lambda: SimpleNamespace(connection=redis_client))
    pulse = background._Pulse("job_race", SystemClock())
    assert entered.wait(5)
    [beat] = [thread for thread in threading.enumerate() if thread.name == "pulse job_race"]
    pulse.stop()
    beat.join(5)  # whatever the thread was writing has landed
    assert not redis_client.exists(background.pulse_key("job_race"))
