"""No stuck background jobs: ``herald cron``'s reconciler (the work kernel's, for the kind
``background``) re-enqueues queued AI jobs Redis lost and fails running ones whose worker is gone
(never running them again), releasing their plan slot. Driven through the API, the Gemini plugin
and its fake, real RQ workers and a real Redis."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import threading
import time

import pytest
from test_crash import HERALD, kill_tree

from ai_drive import set_key
from conftest import TEST_REDIS_URL
from drive import advance, work
from herald import chores
from herald import work as kernel
from herald.ai import background
from herald.db.models import AIGeneration, BackgroundJob, GeneratedOpener, db, utcnow
from herald.plans import ai_usage
from herald.runtime import installed_for_jobs
from herald.work.queue import get_queue


def hooks(count):
    return {"hooks": [{"text": f"Hook number {n}?", "style": "question"} for n in range(count)]}


def start_hooks(api, tenant) -> str:
    response = api.post("/api/intelligence/populate-hooks", json={"client_id": tenant.client.id},
                        headers=tenant.headers)
    assert response.status_code == 202, response.get_json()
    return response.get_json()["job"]["id"]


def job(api, tenant, job_id) -> dict:
    return api.get(f"/api/jobs/{job_id}", headers=tenant.headers).get_json()["job"]


def reconcile() -> int:
    """How many background jobs the reconciler gave a new RQ job."""
    return chores.reconcile()["work"]["background"]


def generations(workspace_id):
    with db.connection_context():
        return list(AIGeneration.select().where(AIGeneration.workspace == workspace_id).order_by(AIGeneration.id))


def used(api, tenant) -> int:
    return api.get("/api/plan", headers=tenant.headers).get_json()["usage"]["ai_generations"]


def claimed_by_a_worker_that_died(job_id: str) -> None:
    """What a worker leaves when it dies holding a job: the row running under its lease."""
    with db.connection_context():
        runtime = installed_for_jobs()
        assert kernel.claim(kernel.kind(runtime, "background"), job_id, runtime.clock.now())[0] == "run"


def test_a_queued_job_lost_in_a_redis_flush_is_enqueued_again_and_runs_once(api, tenant, gemini, redis_client):
    set_key(api, tenant)
    gemini.reply_json(hooks(20))
    job_id = start_hooks(api, tenant)
    redis_client.flushdb()  # Redis restarted without its data
    assert reconcile() == 1
    assert reconcile() == 0  # its RQ job is waiting now
    assert work(redis_client) == 1
    done = job(api, tenant, job_id)
    assert done["status"] == "succeeded" and done["result"]["created"] == 20
    assert len(gemini.generations) == 1 and [row.status for row in generations(tenant.workspace.id)] == ["succeeded"]
    with db.connection_context():
        assert GeneratedOpener.select().count() == 20


def test_a_running_job_renews_its_lease_while_its_call_lasts_and_drops_it_after(api, tenant, gemini, redis_client,
                                                                                 monkeypatch, clock):
    kinds = installed_for_jobs().registry.work_kinds  # renewed every 20 ms rather than 10 s
    monkeypatch.setitem(kinds, "background", dataclasses.replace(kinds["background"],
                                                                 obj=dataclasses.replace(kinds["background"].obj,
                                                                                         renew_every=0.02)))
    set_key(api, tenant)
    gemini.reply_json(hooks(20))
    job_id = start_hooks(api, tenant)
    seen = []

    def slow_call():  # the worker waits on this call; its lease goes on being renewed
        deadline = time.monotonic() + 10
        while len(seen) < 3 and time.monotonic() < deadline:
            with db.connection_context():
                lease = BackgroundJob.get_by_id(job_id).lease_until
            if lease not in seen and lease >= clock.now():
                seen.append(lease)
                clock.advance(background.LEASE_SECONDS * 2 / 3)  # time passes during the call
        assert reconcile() == 0  # a slow call is not a dead worker

    gemini.on_generate = slow_call
    assert work(redis_client) == 1
    assert len(seen) >= 3, "the lease was not renewed during the call"
    assert job(api, tenant, job_id)["status"] == "succeeded"
    with db.connection_context():
        assert BackgroundJob.get_by_id(job_id).lease_until is None


def test_a_queued_job_whose_rq_job_failed_before_claiming_it_runs_again(api, tenant, gemini, redis_client):
    set_key(api, tenant)
    gemini.reply_json(hooks(20))
    job_id = start_hooks(api, tenant)
    rq_job = get_queue(redis_client).fetch_job(kernel.job_id("background", job_id, 0))
    rq_job.set_status("failed")  # what RQ records when its job crashed before its claim (database down)
    assert reconcile() == 1
    assert work(redis_client) == 2  # the failed RQ job is still on its queue here: one of the two runs it
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
    assert seen == [0, "running"]
    done = job(api, tenant, job_id)
    assert done["status"] == "succeeded" and done["result"]["created"] == 20
    gemini.on_generate = None
    assert reconcile() == 0
    assert work(redis_client) == 0 and len(gemini.generations) == 1


def test_a_running_job_whose_worker_died_fails_once_its_lease_runs_out_and_frees_its_slot(api, tenant, gemini,
                                                                                           redis_client):
    set_key(api, tenant)
    job_id = start_hooks(api, tenant)
    claimed_by_a_worker_that_died(job_id)
    with db.connection_context():  # the worker had reserved its generation
        ai_usage.reserve(tenant.workspace.id, utcnow(), feature="populate_hooks", provider="gemini",
                         model="gemini-flash-latest", client_id=tenant.client.id, job_id=job_id)
    redis_client.flushdb()
    assert used(api, tenant) == 1
    assert reconcile() == 0  # a live worker may still be on it: its lease runs
    advance(redis_client, background.LEASE_SECONDS + 1)
    assert reconcile() == 1
    assert work(redis_client) == 1  # the recovery: no AI call
    failed = job(api, tenant, job_id)
    assert failed["status"] == "failed" and failed["error"]["code"] == "job_interrupted"
    assert "worker stopped" in failed["error"]["message"] and "not run again" in failed["error"]["message"]
    assert failed["finished_at"] is not None
    [row] = generations(tenant.workspace.id)
    assert row.status == "failed" and row.error.startswith("job_interrupted: ") and row.job_id == job_id
    assert used(api, tenant) == 0  # the slot is free again
    assert reconcile() == 0
    assert work(redis_client) == 0 and gemini.generations == []


def test_another_workspaces_interrupted_job_stays_its_own(api, tenant, make_tenant, gemini, redis_client):
    set_key(api, tenant)
    job_id = start_hooks(api, tenant)
    other = make_tenant("Other")
    claimed_by_a_worker_that_died(job_id)
    redis_client.flushdb()
    advance(redis_client, background.LEASE_SECONDS + 1)
    assert reconcile() == 1 and work(redis_client) == 1
    assert job(api, tenant, job_id)["error"]["code"] == "job_interrupted"
    assert api.get(f"/api/jobs/{job_id}", headers=other.headers).status_code == 404
    assert used(api, other) == 0 and generations(other.workspace.id) == []


def worker_env(config, gemini) -> dict[str, str]:
    env = dict(os.environ)
    env.update(HERALD_DATA_DIR=str(config.data_dir), HERALD_DATABASE_URL=config.database_url,
               HERALD_REDIS_URL=TEST_REDIS_URL, HERALD_SECRET_KEY=config.secret_key,
               HERALD_GEMINI_BASE_URL=gemini.base_url)
    return env


@pytest.mark.real_time  # the worker is another process, renewing its lease by the system's clock
def test_a_worker_killed_during_the_gemini_call_fails_its_job_once_its_lease_runs_out(api, tenant, gemini, config,
                                                                                     redis_client):
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
    assert reconcile() == 0  # its lease still runs (RQ keeps the dead worker's key for the job timeout)
    advance(redis_client, background.LEASE_SECONDS + 1)  # a lease without renewals, without waiting it out
    assert reconcile() == 1
    assert work(redis_client) == 1
    failed = job(api, tenant, job_id)
    assert failed["error"]["code"] == "job_interrupted" and "stopped" in failed["error"]["message"]
    assert used(api, tenant) == 0
    assert work(redis_client) == 0 and len(gemini.generations) == 1  # the call it was killed in, never another
    with db.connection_context():
        assert GeneratedOpener.select().count() == 0
