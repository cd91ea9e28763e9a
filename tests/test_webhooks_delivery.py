"""Webhook delivery: the retry schedule and Retry-After with a controlled clock, 410 and 5-day
disabling, redirects, re-sends, a receiver down then up, lost Redis jobs, lost dispatches (a
killed web process) and slow endpoints. Every request a receiver gets is verified."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import subprocess
import sys
import textwrap

import pytest
from webhooks_drive import advance_webhooks, create_post, create_webhook, delivery_log, work

from conftest import TEST_REDIS_URL
from fakes.receiver import Receiver, Reply
from herald import events, jobs
from herald.app import create_app
from herald.models import Event, db, write_transaction
from herald_webhooks import deliveries
from herald_webhooks import jobs as webhook_jobs
from herald_webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


@pytest.fixture
def app(config):
    application = create_app(dataclasses.replace(config, webhook_allow_private=True))
    yield application
    db.obj.close_all()


@pytest.fixture
def receiver():
    with Receiver() as server:
        yield server


def attempts() -> list[WebhookAttempt]:
    with db.connection_context():
        return list(WebhookAttempt.select().order_by(WebhookAttempt.id))


def endpoint_row(hook) -> WebhookEndpoint:
    with db.connection_context():
        return WebhookEndpoint.get_by_id(int(hook["id"].removeprefix("wh_")))


def only_delivery() -> WebhookDelivery:
    with db.connection_context():
        (row,) = WebhookDelivery.select()
        return row


def test_retry_schedule_follows_svix_with_jitter(client, tenant, receiver, redis_client):
    receiver.script = [Reply(500), Reply(502), Reply(500)]
    hook = create_webhook(client, tenant, receiver.url())
    create_post(client, tenant)
    work(redis_client)
    assert len(receiver.received()) == 1  # immediately
    for number, delay in enumerate(deliveries.SCHEDULE[1:4], start=1):
        planned = attempts()[-1].next_attempt_at - attempts()[-1].attempted_at
        assert delay * 0.9 <= planned.total_seconds() <= delay * 1.1 + 1
        early = delay * (1 - deliveries.JITTER) - 1.5  # RQ schedules in whole seconds
        advance_webhooks(redis_client, early)
        work(redis_client)
        assert len(receiver.received()) == number, "retried before its time"
        advance_webhooks(redis_client, delay * (1 + deliveries.JITTER) + 1.5 - early)
        work(redis_client)
        assert len(receiver.received()) == number + 1
    assert only_delivery().status == "succeeded"
    assert [a.status_code for a in attempts()] == [500, 502, 500, 200]
    requests = receiver.received()
    assert len({r.headers["webhook-id"] for r in requests}) == 1  # the same id on every retry
    assert len({r.body for r in requests}) == 1  # the same signed body
    assert len(receiver.verified(hook["secret"])) == 4


def test_retry_after_postpones_the_next_attempt(client, tenant, receiver, redis_client):
    receiver.script = [Reply(503, headers={"Retry-After": "120"})]
    create_webhook(client, tenant, receiver.url())
    create_post(client, tenant)
    work(redis_client)
    advance_webhooks(redis_client, 10)  # the schedule alone would have retried after 5 s
    work(redis_client)
    assert len(receiver.received()) == 1
    advance_webhooks(redis_client, 111)
    work(redis_client)
    assert [r.status for r in receiver.received()] == [503, 200]


def test_retry_after_as_an_http_date_is_understood():
    now = dt.datetime(2026, 6, 1, 9, 0, 0)
    assert deliveries.parse_retry_after("Mon, 01 Jun 2026 09:02:00 GMT", now) == 120
    assert deliveries.parse_retry_after("30", now) == 30
    assert deliveries.parse_retry_after("999999999", now) == deliveries.MAX_RETRY_AFTER
    assert deliveries.parse_retry_after("soon", now) is None


def test_a_delivery_fails_after_the_eighth_attempt(client, tenant, redis_client):
    with Receiver(Reply(500)) as receiver:
        create_webhook(client, tenant, receiver.url())
        create_post(client, tenant)
        work(redis_client)
        for delay in deliveries.SCHEDULE[1:]:
            advance_webhooks(redis_client, delay * 1.1 + 1)
            work(redis_client)
        advance_webhooks(redis_client, 48 * 3600)
        work(redis_client)
        assert len(receiver.received()) == len(deliveries.SCHEDULE) == 8
    delivery = only_delivery()
    assert delivery.status == "failed" and delivery.next_attempt_at is None and delivery.last_error == "HTTP 500"


def test_410_disables_the_endpoint_and_stops_its_deliveries(client, tenant, receiver, redis_client):
    receiver.default = Reply(410)
    hook = create_webhook(client, tenant, receiver.url())
    create_post(client, tenant)
    work(redis_client)
    shown = client.get(f"/v1/webhooks/{hook['id']}", headers=tenant.headers).get_json()
    assert shown["active"] is False and "410" in shown["disabled_reason"] and shown["disabled_at"]
    create_post(client, tenant)
    work(redis_client)
    assert len(receiver.received()) == 1
    receiver.default = Reply(200)
    client.patch(f"/v1/webhooks/{hook['id']}", headers=tenant.headers, json={"active": True})
    create_post(client, tenant)
    work(redis_client)
    assert len(receiver.received()) == 2


def test_an_endpoint_failing_for_five_days_is_disabled_with_a_notice(client, tenant, redis_client):
    with Receiver(Reply(500)) as receiver:
        hook = create_webhook(client, tenant, receiver.url())
        create_post(client, tenant)
        work(redis_client)
        assert endpoint_row(hook).failing_since is not None
        advance_webhooks(redis_client, 4 * 86400)
        work(redis_client)  # retries keep failing: 4 days is not enough
        assert endpoint_row(hook).active is True
        advance_webhooks(redis_client, 86400 + 60)
        create_post(client, tenant)
        work(redis_client)
    row = endpoint_row(hook)
    assert row.active is False
    assert "failed since" in row.disabled_reason and "5 days" in row.disabled_reason
    assert "HTTP 500" in row.disabled_reason
    with db.connection_context():
        assert WebhookDelivery.select().where(WebhookDelivery.status == "pending").count() == 0


def test_a_success_resets_the_failing_clock(client, tenant, receiver, redis_client):
    receiver.script = [Reply(500)]
    hook = create_webhook(client, tenant, receiver.url())
    create_post(client, tenant)
    work(redis_client)
    assert endpoint_row(hook).failing_since is not None
    advance_webhooks(redis_client, 6)
    work(redis_client)
    assert endpoint_row(hook).failing_since is None


def test_redirects_are_failures_and_are_not_followed(client, tenant, receiver, redis_client):
    with Receiver() as elsewhere:
        receiver.script = [Reply(302, headers={"Location": elsewhere.url("/stolen")})]
        create_webhook(client, tenant, receiver.url())
        create_post(client, tenant)
        work(redis_client)
        assert elsewhere.received() == []
    (attempt,) = attempts()
    assert attempt.status_code == 302 and attempt.success is False and attempt.next_attempt_at is not None


def test_any_past_delivery_can_be_resent_with_the_same_id_and_body(client, tenant, receiver, redis_client):
    hook = create_webhook(client, tenant, receiver.url())
    create_post(client, tenant)
    work(redis_client)
    delivery_id = delivery_log(client, tenant)[0]["delivery_id"]
    response = client.post(f"/v1/webhooks/deliveries/{delivery_id}/redeliver", headers=tenant.headers)
    assert response.status_code == 202 and response.get_json()["status"] == "pending"
    work(redis_client)
    first, second = receiver.received()
    assert first.headers["webhook-id"] == second.headers["webhook-id"] and first.body == second.body
    assert len(receiver.verified(hook["secret"])) == 2
    log = delivery_log(client, tenant)
    assert [(e["attempt"], e["trigger"]) for e in log] == [(2, "manual"), (1, "scheduled")]
    assert log[0]["delivery_status"] == "succeeded"


def test_a_failed_delivery_resent_by_hand_gets_one_attempt(client, tenant, receiver, redis_client):
    receiver.default = Reply(500)
    create_webhook(client, tenant, receiver.url())
    create_post(client, tenant)
    work(redis_client)
    with db.connection_context():
        WebhookDelivery.update(status="failed", next_attempt_at=None).execute()  # as if retries were exhausted
    delivery_id = delivery_log(client, tenant)[0]["delivery_id"]
    client.post(f"/v1/webhooks/deliveries/{delivery_id}/redeliver", headers=tenant.headers)
    work(redis_client)
    assert only_delivery().status == "failed" and len(receiver.received()) == 2
    receiver.default = Reply(200)
    client.post(f"/v1/webhooks/deliveries/{delivery_id}/redeliver", headers=tenant.headers)
    work(redis_client)
    assert only_delivery().status == "succeeded"


def test_a_receiver_down_then_up_gets_every_event_exactly_as_signed(client, tenant, receiver, redis_client):
    hook = create_webhook(client, tenant, receiver.url())
    receiver.go_down()
    for caption in ("one", "two", "three"):
        create_post(client, tenant, caption)
    work(redis_client)
    assert all(a.error and a.error.startswith("connection failed") for a in attempts())
    receiver.come_up()
    advance_webhooks(redis_client, 6)
    work(redis_client)
    payloads = receiver.verified(hook["secret"])
    assert sorted(p["data"]["post"]["caption"] for p in payloads) == ["one", "three", "two"]
    assert len({r.headers["webhook-id"] for r in receiver.received()}) == 3


def test_deliveries_lost_with_redis_are_re_enqueued_by_the_reconciler(client, tenant, receiver, redis_client):
    hook = create_webhook(client, tenant, receiver.url())
    create_post(client, tenant)
    redis_client.flushdb()
    assert work(redis_client) == 0
    counts = jobs.reconcile()
    assert counts["sink_jobs"] == 1
    work(redis_client)
    assert len(receiver.verified(hook["secret"])) == 1
    assert jobs.reconcile()["sink_jobs"] == 0


def test_an_event_committed_but_never_dispatched_is_delivered_by_the_reconciler(client, tenant, receiver,
                                                                                   redis_client):
    hook = create_webhook(client, tenant, receiver.url())
    with db.connection_context(), events.collecting(), write_transaction():
        events.record(tenant.workspace.id, "post.created", {"post": {"id": 1, "caption": "orphan"}})
    # the process that made the change died before dispatching
    assert jobs.reconcile()["events_redispatched"] == 0  # too recent: its request may be dispatching it
    advance_webhooks(redis_client, jobs.EVENT_DISPATCH_GRACE_SECONDS + 1)
    assert jobs.reconcile()["events_redispatched"] == 1
    work(redis_client)
    (payload,) = receiver.verified(hook["secret"])
    assert payload["data"]["post"]["caption"] == "orphan"
    assert jobs.reconcile()["events_redispatched"] == 0
    with db.connection_context():
        assert Event.select().where(Event.dispatched_at.is_null()).count() == 0


def test_events_survive_a_killed_web_process(client, tenant, config, receiver, redis_client):
    hook = create_webhook(client, tenant, receiver.url())
    script = textwrap.dedent(f"""
        import os
        from pathlib import Path

        from herald import events
        from herald.app import create_app
        from herald.config import Config

        def killed(pm, recorded):  # the process dies the moment the change has committed
            os._exit(9)

        events.dispatch = killed
        config = Config(data_dir=Path({str(config.data_dir)!r}), database_url={config.database_url!r},
                        redis_url={TEST_REDIS_URL!r}, secret_key={config.secret_key!r}, testing=True,
                        webhook_allow_private=True)
        create_app(config).test_client().post("/api/webhooks", headers={{"X-API-Key": {tenant.key!r}}}, json={{
            "action": "create_post", "client_id": {tenant.client.id}, "caption": "survivor", "platforms": "instagram"}})
        os._exit(0)
    """)
    result = subprocess.run([sys.executable, "-c", script], env=dict(os.environ), capture_output=True, timeout=60)
    assert result.returncode == 9, result.stderr.decode()[-2000:]
    assert work(redis_client) == 0 and receiver.received() == []
    advance_webhooks(redis_client, jobs.EVENT_DISPATCH_GRACE_SECONDS + 1)
    jobs.reconcile()
    work(redis_client)
    (payload,) = receiver.verified(hook["secret"])
    assert payload["type"] == "post.created" and payload["data"]["post"]["caption"] == "survivor"


def test_a_slow_endpoint_times_out_without_holding_up_the_others(client, tenant, redis_client, monkeypatch):
    monkeypatch.setattr(webhook_jobs, "TIMEOUT_SECONDS", 0.3)
    with Receiver(Reply(delay=2)) as slow, Receiver() as healthy:
        create_webhook(client, tenant, slow.url())
        good = create_webhook(client, tenant, healthy.url())
        create_post(client, tenant)
        work(redis_client)
        assert len(healthy.verified(good["secret"])) == 1
    failed = [a for a in attempts() if not a.success]
    assert len(failed) == 1 and failed[0].error == "timed out after 0.3 s"


def test_a_busy_failing_endpoint_defers_instead_of_taking_more_workers(client, tenant, redis_client):
    with Receiver(Reply(500)) as failing, Receiver() as healthy:
        bad = create_webhook(client, tenant, failing.url())
        create_webhook(client, tenant, healthy.url())
        create_post(client, tenant)
        work(redis_client)
        assert endpoint_row(bad).failing_since is not None
        assert webhook_jobs.in_flight_limit(endpoint_row(bad)) == webhook_jobs.FAILING_IN_FLIGHT
        redis_client.set(webhook_jobs._slot_key(endpoint_row(bad).id), 1)  # a worker is on it right now
        create_post(client, tenant)
        advance_webhooks(redis_client, 6)
        work(redis_client)
        assert len(healthy.received()) == 2
        assert len(failing.received()) == 1  # both due attempts were deferred, not made
        redis_client.delete(webhook_jobs._slot_key(endpoint_row(bad).id))
        advance_webhooks(redis_client, 4)
        work(redis_client)
        assert len(failing.received()) == 3
