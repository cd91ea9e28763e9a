"""The runtime: built without Flask, handed to jobs by the worker that runs them, never built lazily."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import has_app_context

from drive import advance
from herald import chores
from herald.clock import FakeClock
from herald.db import models
from herald.runtime import NoRuntimeInstalled, Runtime, for_jobs, install_for_jobs
from herald.work import entry
from herald.work.queue import get_queue
from herald.work.workers import HeraldSimpleWorker


def test_a_job_run_where_no_worker_installed_a_runtime_fails_naming_the_fix(config):
    install_for_jobs(None)
    with pytest.raises(NoRuntimeInstalled, match="herald worker"):
        entry.perform("publish", 1, 0)
    with pytest.raises(NoRuntimeInstalled):
        chores.reconcile()


def test_a_runtime_is_built_without_flask_and_a_worker_given_it_runs_jobs_with_it(config, redis_client):
    runtime = Runtime.build(config, clock=FakeClock())
    assert not has_app_context()
    install_for_jobs(None)
    job = get_queue(redis_client).enqueue("herald.chores.reconcile")
    worker = HeraldSimpleWorker([get_queue(redis_client)], connection=redis_client,
                                serializer=get_queue(redis_client).serializer, runtime=runtime)
    assert for_jobs() is runtime  # installed by the worker that was given it
    worker.work(burst=True, with_scheduler=False, logging_level="WARNING")
    job.refresh()
    assert job.return_value()["work"]["publish"] == 0  # the job ran, with the runtime the worker was given


def test_row_times_come_from_the_runtimes_clock_and_move_only_with_it(app, tenant, client, clock, redis_client):
    def create(caption):
        response = client.post("/api/webhooks", headers=tenant.headers, json={
            "action": "create_post", "client_id": tenant.client.id, "caption": caption, "platforms": "instagram"})
        assert response.status_code == 201
        with models.db.connection_context():
            return models.Post.select().where(models.Post.caption == caption).get()

    first = create("first")
    assert first.created_at == clock.now()  # the row's default read the test's clock, not the system's
    advance(redis_client, 3600)
    assert create("second").created_at == first.created_at + dt.timedelta(hours=1)
