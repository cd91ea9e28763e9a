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
from rq.registry import ScheduledJobRegistry
from webhooks_drive import create_post, create_webhook, delivery_log, work

from conftest import TEST_REDIS_URL, start_app
from drive import advance
from fakes.receiver import Receiver, Reply
from herald import chores, events
from herald.clock import system_now
from herald.db.models import Event, db, write_transaction
from herald.runtime import installed_for_jobs
from herald.work import MAX_RETRY_AFTER, claim, parse_retry_after
from herald.work.queue import get_queue
from herald_webhooks import deliveries
from herald_webhooks import jobs as webhook_jobs
from herald_webhooks.jobs import QUEUE as WEBHOOKS_QUEUE
from herald_webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


@pytest.fixture
def app(clock, config):
    application = start_app(clock, dataclasses.replace(config, webhook_allow_private=True))
    yield application
    db.obj.close_all()


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
        advance(redis_client, early)
        work(redis_client)
        assert len(receiver.received()) == number, "retried before its time"
        advance(redis_client, delay * (1 + deliveries.JITTER) + 1.5 - early)
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
    advance(redis_client, 10)  # the schedule alone would have retried after 5 s
    work(redis_client)
    assert len(receiver.received()) == 1
    advance(redis_client, 111)
    work(redis_client)
    assert [r.status for r in receiver.received()] == [503, 200]


def test_retry_after_as_an_http_date_is_understood():
    now = dt.datetime(2026, 6, 1, 9, 0, 0)
    assert parse_retry_after("Mon, 01 Jun 2026 09:02:00 GMT", now) == 120
    assert parse_retry_after("30", now) == 30
    assert parse_retry_after("999999999", now) == MAX_RETRY_AFTER
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after("²", now) is None  # a digit to str.isdigit, not to float()


def test_a_delivery_fails_after_the_eighth_attempt(client, tenant, redis_client):
    with Receiver(Reply(500)) as receiver:
        create_webhook(client, tenant, receiver.url())
        create_post(client, tenant)
        work(redis_client)
        for delay in deliveries.SCHEDULE[1:]:
            advance(redis_client, delay * 1.1 + 1)
            work(redis_client)
        advance(redis_client, 48 * 3600)
        work(redis_client)
        assert len(receiver.received()) == len(deliveries.SCHEDULE) == 8
    delivery = only_delivery()
    assert delivery.status == "failed" and delivery.due_at is None and delivery.last_error == "HTTP 500"


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


def test_disabling_an_endpoint_notifies_the_endpoints_subscribed_to_webhook_disabled(client, tenant, redis_client):
    with Receiver(Reply(410)) as gone, Receiver(Reply(200)) as watcher:
        hook = create_webhook(client, tenant, gone.url())
        ops = create_webhook(client, tenant, watcher.url("/ops"), events=("webhook.disabled",))
        create_post(client, tenant)
        work(redis_client)
        [notice] = watcher.verified(ops["secret"])
    assert notice["type"] == "webhook.disabled"
    disabled = notice["data"]["webhook"]
    assert disabled["id"] == hook["id"] and disabled["active"] is False and "410" in disabled["disabled_reason"]
    assert "secret" not in disabled
    assert len(gone.received()) == 1  # and nothing more to the disabled one


def test_an_endpoint_failing_for_five_days_is_disabled_with_a_notice(client, tenant, redis_client):
    with Receiver(Reply(500)) as receiver:
        hook = create_webhook(client, tenant, receiver.url())
        create_post(client, tenant)
        work(redis_client)
        assert endpoint_row(hook).failing_since is not None
        advance(redis_client, 4 * 86400)
        work(redis_client)  # retries keep failing: 4 days is not enough
        assert endpoint_row(hook).active is True
        advance(redis_client, 86400 + 60)
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
    advance(redis_client, 6)
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


def test_a_delivery_can_be_resent_by_the_attempt_id_the_log_shows(client, tenant, make_tenant, receiver,
                                                                   redis_client):
    hook = create_webhook(client, tenant, receiver.url())
    create_post(client, tenant)
    work(redis_client)
    (line,) = delivery_log(client, tenant)
    assert line["id"].startswith("att_") and line["delivery_id"].startswith("dlv_")
    other = make_tenant("Other Agency")
    for headers, status in ((other.headers, 404), (tenant.headers, 202)):  # another workspace's first: no re-send
        response = client.post(f"/v1/webhooks/deliveries/{line['id']}/redeliver", headers=headers)
        assert response.status_code == status, response.get_json()
    assert response.get_json()["id"] == line["delivery_id"]
    work(redis_client)
    assert len(receiver.verified(hook["secret"])) == 2
    assert [(e["attempt"], e["delivery_id"]) for e in delivery_log(client, tenant)] == [
        (2, line["delivery_id"]), (1, line["delivery_id"])]
    for unknown in ("att_999", "att_x", "wh_1", "1"):
        response = client.post(f"/v1/webhooks/deliveries/{unknown}/redeliver", headers=tenant.headers)
        assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found", unknown


def test_a_failed_delivery_resent_by_hand_gets_one_attempt(client, tenant, receiver, redis_client):
    receiver.default = Reply(500)
    create_webhook(client, tenant, receiver.url())
    create_post(client, tenant)
    work(redis_client)
    with db.connection_context():
        WebhookDelivery.update(status="failed", due_at=None).execute()  # as if retries were exhausted
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
    advance(redis_client, 6)
    work(redis_client)
    payloads = receiver.verified(hook["secret"])
    assert sorted(p["data"]["post"]["content"] for p in payloads) == ["one", "three", "two"]
    assert len({r.headers["webhook-id"] for r in receiver.received()}) == 3


def test_deliveries_to_one_receiver_share_a_kept_alive_connection_and_each_arrives_once(
        client, tenant, receiver, redis_client):
    hook = create_webhook(client, tenant, receiver.url())
    for caption in ("one", "two", "three"):
        create_post(client, tenant, caption)
    work(redis_client)
    receiver.go_down()  # closes the kept connection: the next attempt opens a new one
    receiver.come_up()
    create_post(client, tenant, "four")
    work(redis_client)
    payloads = receiver.verified(hook["secret"])
    assert sorted(p["data"]["post"]["content"] for p in payloads) == ["four", "one", "three", "two"]
    first, second, third, fourth = (request.client_port for request in receiver.received())
    assert first == second == third != fourth
    assert [a.status_code for a in attempts()] == [200, 200, 200, 200]


def test_deliveries_lost_with_redis_are_re_enqueued_by_the_reconciler(client, tenant, receiver, redis_client):
    hook = create_webhook(client, tenant, receiver.url())
    create_post(client, tenant)
    redis_client.flushdb()
    assert work(redis_client) == 0
    counts = chores.reconcile()
    assert counts["work"]["webhook_delivery"] == 1
    work(redis_client)
    assert len(receiver.verified(hook["secret"])) == 1
    assert chores.reconcile()["work"]["webhook_delivery"] == 0


def test_a_delivery_whose_worker_died_mid_attempt_is_attempted_again_once_its_lease_runs_out(
        client, tenant, receiver, redis_client):
    hook = create_webhook(client, tenant, receiver.url())
    create_post(client, tenant)
    with db.connection_context():  # a worker took the delivery, then died before its attempt ended
        mode, held = claim(webhook_jobs.KIND, only_delivery().id, installed_for_jobs().clock.now())
    assert mode == "run" and held.lease_until is not None
    assert work(redis_client) == 1 and receiver.received() == []  # its job finds the delivery held
    assert chores.reconcile()["work"]["webhook_delivery"] == 0  # the lease still runs: it may be alive
    advance(redis_client, webhook_jobs.LEASE_SECONDS + 1)
    assert chores.reconcile()["work"]["webhook_delivery"] == 1
    work(redis_client)
    assert len(receiver.verified(hook["secret"])) == 1
    delivery = only_delivery()
    assert (delivery.status, delivery.lease_until, delivery.attempts) == ("succeeded", None, 2)
    assert chores.reconcile()["work"]["webhook_delivery"] == 0


def test_an_event_committed_but_never_dispatched_is_delivered_by_the_reconciler(client, tenant, receiver,
                                                                                   redis_client):
    hook = create_webhook(client, tenant, receiver.url())
    with db.connection_context(), events.collecting(), write_transaction():
        events.record(tenant.workspace.id, "post.created", {"post": {"id": "post_1", "content": "orphan"}})
    # the process that made the change died before dispatching
    assert chores.reconcile()["events_redispatched"] == 0  # too recent: its request may be dispatching it
    advance(redis_client, chores.EVENT_DISPATCH_GRACE_SECONDS + 1)
    assert chores.reconcile()["events_redispatched"] == 1
    work(redis_client)
    (payload,) = receiver.verified(hook["secret"])
    assert payload["data"]["post"]["content"] == "orphan"
    assert chores.reconcile()["events_redispatched"] == 0
    with db.connection_context():
        assert Event.select().where(Event.dispatched_at.is_null()).count() == 0


def test_events_survive_a_killed_web_process(client, tenant, config, receiver, redis_client, clock):
    hook = create_webhook(client, tenant, receiver.url())
    script = textwrap.dedent(f"""
        import os
        from pathlib import Path

        from herald import events
        from herald.web.app import create_app
        from herald.config import Config

        def killed(pm, recorded, **options):  # the process dies the moment the change has committed
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
    clock.set(system_now())  # the killed process stored its event by the system's clock
    advance(redis_client, chores.EVENT_DISPATCH_GRACE_SECONDS + 1)
    chores.reconcile()
    work(redis_client)
    (payload,) = receiver.verified(hook["secret"])
    assert payload["type"] == "post.created" and payload["data"]["post"]["content"] == "survivor"


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


@pytest.fixture
def inflight_clock(app):
    """The runtime's clock, which the in-flight bookkeeping reads too (moved by the test)."""
    return app.extensions["herald"].clock


def busy(redis_client, hook, started: float, member: str = "busy:0") -> None:
    """Another worker has had an attempt to ``hook`` in flight since ``started`` (epoch seconds)."""
    redis_client.zadd(webhook_jobs._slot_key(endpoint_row(hook).id), {member: started})


def in_flight(redis_client, hook) -> dict[str, float]:
    """The attempts to ``hook`` in flight, by member, with their start times."""
    return {member.decode(): score for member, score in
            redis_client.zrange(webhook_jobs._slot_key(endpoint_row(hook).id), 0, -1, withscores=True)}


def limit(redis_client, hook) -> int:
    return webhook_jobs.in_flight_limit(installed_for_jobs(), endpoint_row(hook))


def deferred_by(redis_client) -> list[float]:
    """Seconds from now (the test's clock) until each scheduled webhook job is due (RQ keeps whole seconds)."""
    registry = ScheduledJobRegistry(queue=get_queue(redis_client, WEBHOOKS_QUEUE))
    now = installed_for_jobs().clock.timestamp()
    return sorted(score - now for _, score in redis_client.zrange(registry.key, 0, -1, withscores=True))


def test_a_busy_failing_endpoint_defers_instead_of_taking_more_workers(client, tenant, redis_client, inflight_clock):
    with Receiver(Reply(500)) as failing, Receiver() as healthy:
        bad = create_webhook(client, tenant, failing.url())
        create_webhook(client, tenant, healthy.url())
        create_post(client, tenant)
        work(redis_client)
        assert endpoint_row(bad).failing_since is not None
        assert limit(redis_client, bad) == webhook_jobs.FAILING_IN_FLIGHT  # answers promptly, but fails
        create_post(client, tenant)
        advance(redis_client, 6)  # the first delivery's retry falls due too
        busy(redis_client, bad, inflight_clock.timestamp())  # a worker is on it right now
        work(redis_client)
        assert len(healthy.received()) == 2
        assert len(failing.received()) == 1  # both due attempts were deferred, not made
        assert all(0 <= delay <= webhook_jobs.DEFER_JITTER[1] + 1 for delay in deferred_by(redis_client))
        redis_client.delete(webhook_jobs._slot_key(endpoint_row(bad).id))
        advance(redis_client, 4)
        work(redis_client)
        assert len(failing.received()) == 3


def test_an_endpoint_gets_parallel_attempts_only_once_it_answers_promptly(client, tenant, redis_client, inflight_clock):
    with Receiver() as receiver:
        hook = create_webhook(client, tenant, receiver.url())
        endpoint_id = endpoint_row(hook).id
        # Never answered yet (for all Herald knows it is dead): one attempt at a time.
        assert limit(redis_client, hook) == webhook_jobs.FAILING_IN_FLIGHT
        busy(redis_client, hook, inflight_clock.timestamp() - 0.5)  # its first attempt has been in flight for 0.5 s
        create_post(client, tenant)
        work(redis_client)
        assert receiver.received() == []  # deferred a moment, no second worker
        (delay,) = deferred_by(redis_client)
        assert 0 <= delay <= webhook_jobs.DEFER_JITTER[1] + 1
        # That first attempt gets a prompt answer: the endpoint earns its parallel attempts.
        webhook_jobs._release_slot(redis_client, endpoint_id, "busy:0", deliveries.AttemptResult(200, 12))
        assert in_flight(redis_client, hook) == {}
        assert 0 < redis_client.ttl(webhook_jobs._answer_key(endpoint_id)) <= webhook_jobs.ANSWER_TTL
        assert limit(redis_client, hook) == webhook_jobs.HEALTHY_IN_FLIGHT
        advance(redis_client, 4)  # the deferred delivery falls due
        for number in range(webhook_jobs.HEALTHY_IN_FLIGHT - 1):
            busy(redis_client, hook, inflight_clock.timestamp() - 0.5, member=f"busy:{number}")
        work(redis_client)
        assert len(receiver.received()) == 1  # the fourth slot
        assert set(in_flight(redis_client, hook)) == {"busy:0", "busy:1", "busy:2"}  # its own was released
        # An attempt that gets no answer at all (a timeout) takes the endpoint back to one at a time.
        webhook_jobs._release_slot(redis_client, endpoint_id, "busy:0",
                                   deliveries.AttemptResult(None, 15000, error="timed out after 15 s"))
        assert redis_client.get(webhook_jobs._answer_key(endpoint_id)) == webhook_jobs.NO_ANSWER.encode()
        assert limit(redis_client, hook) == webhook_jobs.FAILING_IN_FLIGHT
        # Its next attempt will most likely time out too: whoever waits on it waits for that, even
        # while the attempt is young (instead of re-running every few seconds meanwhile).
        redis_client.delete(webhook_jobs._slot_key(endpoint_id))
        busy(redis_client, hook, inflight_clock.timestamp() - 0.5)
        create_post(client, tenant)
        work(redis_client)
        assert len(receiver.received()) == 1
        (delay,) = deferred_by(redis_client)
        earliest = webhook_jobs.TIMEOUT_SECONDS - 0.5 + webhook_jobs.DEFER_JITTER[0]
        assert earliest - 1 <= delay <= earliest + webhook_jobs.TIMEOUT_SECONDS + 1


def test_an_attempt_stuck_past_stuck_after_limits_its_endpoint_to_one_worker(client, tenant, redis_client,
                                                                            inflight_clock):
    with Receiver() as hanging, Receiver() as healthy:
        dead = create_webhook(client, tenant, hanging.url())
        good = create_webhook(client, tenant, healthy.url())
        create_post(client, tenant)
        work(redis_client)  # both answer promptly: both may take HEALTHY_IN_FLIGHT workers
        assert limit(redis_client, dead) == limit(redis_client, good) == webhook_jobs.HEALTHY_IN_FLIGHT
        busy(redis_client, dead, inflight_clock.timestamp())  # then a worker's attempt to it hangs
        assert limit(redis_client, dead) == webhook_jobs.HEALTHY_IN_FLIGHT  # not for long enough yet
        inflight_clock.advance(webhook_jobs.STUCK_AFTER + 1)
        assert limit(redis_client, dead) == webhook_jobs.FAILING_IN_FLIGHT  # before its timeout completes
        assert limit(redis_client, good) == webhook_jobs.HEALTHY_IN_FLIGHT
        create_post(client, tenant)
        work(redis_client)
        assert len(healthy.received()) == 2
        assert len(hanging.received()) == 1  # the second delivery waits instead of taking a second worker
        # It answered promptly until now, so this may be a stall: look again after as long again.
        stuck = webhook_jobs.STUCK_AFTER + 1
        (delay,) = deferred_by(redis_client)
        assert stuck + webhook_jobs.DEFER_JITTER[0] - 1 <= delay <= stuck + webhook_jobs.DEFER_JITTER[1] + 1
        advance(redis_client, stuck + webhook_jobs.DEFER_JITTER[1] + 1)
        work(redis_client)  # still hanging, 10 s in: the next look is when its 15 s timeout ends it
        assert len(hanging.received()) == 1
        (delay,) = deferred_by(redis_client)
        remaining = webhook_jobs.TIMEOUT_SECONDS - (stuck + stuck + webhook_jobs.DEFER_JITTER[1] + 1)
        assert remaining + webhook_jobs.DEFER_JITTER[0] - 1 <= delay <= remaining + webhook_jobs.DEFER_JITTER[1] + 1
        webhook_jobs._release_slot(redis_client, endpoint_row(dead).id, "busy:0",  # the timeout ends it
                                   deliveries.AttemptResult(None, 15000, error="timed out after 15 s"))
        advance(redis_client, remaining + webhook_jobs.DEFER_JITTER[1] + 1)
        work(redis_client)
        assert len(hanging.received()) == 2


def test_deliveries_waiting_on_a_first_attempt_that_hangs_wait_for_its_timeout(client, tenant, redis_client,
                                                                                  inflight_clock):
    with Receiver() as receiver:
        hook = create_webhook(client, tenant, receiver.url())  # a new endpoint: nothing known about it
        busy(redis_client, hook, inflight_clock.timestamp() - webhook_jobs.STUCK_AFTER - 1)  # its first attempt hangs
        for caption in ("one", "two"):
            create_post(client, tenant, caption)
        # Their jobs are scheduled when the events fan out: no worker runs a job only to find the slot taken.
        assert work(redis_client) == 0
        assert receiver.received() == []
        # Until the HTTP timeout ends that attempt, spread over one more timeout: those waiting on a
        # dead endpoint neither re-run every few seconds nor wake all at once when its slot frees.
        earliest = webhook_jobs.TIMEOUT_SECONDS - webhook_jobs.STUCK_AFTER - 1 + webhook_jobs.DEFER_JITTER[0]
        assert all(earliest - 1 <= delay <= earliest + webhook_jobs.TIMEOUT_SECONDS + 1
                   for delay in deferred_by(redis_client))
        assert len(deferred_by(redis_client)) == 2
        # Both are counted as waiting (until their wake time) ...
        waiting_key = webhook_jobs._waiting_key(endpoint_row(hook).id)
        wake_times = dict(redis_client.zrange(waiting_key, 0, -1, withscores=True))
        assert len(wake_times) == 2 and 0 < redis_client.ttl(waiting_key) <= webhook_jobs.WAIT_TTL
        # ... so that the more wait, the wider their wake-ups are spread.
        with db.connection_context():
            delivery = WebhookDelivery.select().order_by(WebhookDelivery.id).first()
        redis_client.zadd(waiting_key, {str(1000 + n): inflight_clock.timestamp() + 100 for n in range(40)})
        assert webhook_jobs._slot(installed_for_jobs(), endpoint_row(hook), delivery.id, delivery.step,
                                  take=False).waiting == 41  # not counting itself
        # ... and one that gets its slot no longer waits; one whose wake time is long past no longer counts.
        redis_client.delete(webhook_jobs._slot_key(endpoint_row(hook).id))
        assert webhook_jobs._take_slot(installed_for_jobs(), endpoint_row(hook), delivery.id, delivery.step) is None
        assert webhook_jobs._slot(installed_for_jobs(), endpoint_row(hook), 0, 0, take=False).waiting == 41
        redis_client.zadd(waiting_key, {"2000": inflight_clock.timestamp() + 200})
        inflight_clock.advance(100 + webhook_jobs.WAIT_GRACE + 1)
        assert webhook_jobs._slot(installed_for_jobs(), endpoint_row(hook), 0, 0, take=False).waiting == 1
        assert redis_client.zrange(waiting_key, 0, -1) == [b"2000"]


def test_how_long_a_delivery_waits_for_a_busy_endpoint():
    defer_for, lo, hi = webhook_jobs.defer_for, *webhook_jobs.DEFER_JITTER
    timeout = webhook_jobs.TIMEOUT_SECONDS
    assert lo <= defer_for(0.5, "0.012") <= hi  # a prompt endpoint: that attempt ends any moment
    assert lo <= defer_for(0.5, None) <= hi  # a new one: its first attempt may well end any moment
    assert 4 + lo <= defer_for(1.0, "5.000") <= 4 + lo + 5  # a slow one: when that attempt should end
    assert 3 + lo <= defer_for(3.0, "0.012") <= 3 + hi  # a prompt one stalled 3 s: look again in 3 s
    assert 3 + lo <= defer_for(12.0, "0.012") <= 3 + hi  # ... but not after its timeout
    assert timeout - 3 + lo <= defer_for(3.0, None) <= timeout - 3 + lo + timeout  # a first attempt hanging
    no_answer = defer_for(0.5, webhook_jobs.NO_ANSWER)  # its last attempt got no answer
    assert timeout - 0.5 + lo <= no_answer <= timeout - 0.5 + lo + timeout
    # It takes one attempt at a time: with 40 others waiting, spread over 10 attempts, not one.
    many = defer_for(0.5, webhook_jobs.NO_ANSWER, waiting=40)
    assert timeout - 0.5 + lo <= many <= timeout - 0.5 + lo + 10 * timeout
    assert defer_for(0.5, webhook_jobs.NO_ANSWER, waiting=10**6) <= timeout + lo + webhook_jobs.MAX_SPREAD
    assert lo <= defer_for(0.5, "0.012", waiting=40) <= hi  # not when it answers promptly


def test_a_crashed_workers_in_flight_entry_does_not_throttle_its_endpoint_for_ever(client, tenant, redis_client,
                                                                                     inflight_clock):
    with Receiver() as receiver:
        hook = create_webhook(client, tenant, receiver.url())
        create_post(client, tenant)
        work(redis_client)
        key = webhook_jobs._slot_key(endpoint_row(hook).id)
        # its work-horse was killed mid-attempt
        busy(redis_client, hook, inflight_clock.timestamp(), member="crashed:0")
        inflight_clock.advance(10)
        assert limit(redis_client, hook) == webhook_jobs.FAILING_IN_FLIGHT  # looks stuck: one at a time ...
        create_post(client, tenant)
        work(redis_client)
        assert len(receiver.received()) == 1  # ... and its one slot is taken
        inflight_clock.advance(webhook_jobs.STALE_AFTER)  # older than any live attempt can be
        assert limit(redis_client, hook) == webhook_jobs.HEALTHY_IN_FLIGHT
        assert in_flight(redis_client, hook) == {}  # pruned
        advance(redis_client, 30)
        work(redis_client)
        assert len(receiver.received()) == 2
        # Whatever is left behind expires with the endpoint's quiet: the set has a TTL.
        busy(redis_client, hook, inflight_clock.timestamp(), member="crashed:1")
        assert webhook_jobs._take_slot(installed_for_jobs(), endpoint_row(hook), 7, 1) is None
        assert 0 < redis_client.ttl(key) <= webhook_jobs.STALE_AFTER
        # RQ re-running a job whose work-horse crashed replaces that run's entry instead of waiting for it.
        assert webhook_jobs._take_slot(installed_for_jobs(), endpoint_row(hook), 7, 1) is None
        assert set(in_flight(redis_client, hook)) == {"crashed:1", "7:1"}
