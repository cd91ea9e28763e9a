"""The publishing pipeline through the /v1 API, with a scripted third-party platform: task states,
scheduling, cancel, reschedule, approvals, retries, token expiry and crash recovery."""

from __future__ import annotations

import datetime as dt

import pytest
from rq import SimpleWorker

from conftest import assert_error
from drive import QUEUES, advance, catch_up_with_real_time, claim, perform, scheduled_count, sql_sent, work
from herald import PublishOutcome, chores
from herald import work as kernel
from herald.auth import create_api_key, create_user
from herald.db.models import Account, Post, PublishTask, db, utcnow
from herald.platforms import TokenHealth
from herald.publishing import tasks
from herald.runtime import installed_for_jobs
from herald.work.heartbeat import Heartbeat
from herald.work.kernel import RUNNING_MARGIN_SECONDS
from herald.work.queue import make_worker
from herald.work.workers import HeraldSimpleWorker


@pytest.fixture
def app(build_app, plugin):
    """The application, with the scripted platform installed."""
    return build_app()


@pytest.fixture
def platform(plugin):
    return plugin.platform


def connect(client, tenant, token="tok_live_0001"):
    response = client.post("/v1/accounts", json={"platform": "scripted", "access_token": token},
                           headers=tenant.headers)
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()["id"]


def publish(client, tenant, **body):
    body.setdefault("content", "Hello from Herald")
    response = client.post("/v1/publish", json=body, headers=tenant.headers)
    return response


def task_rows(post_id: str):
    with db.connection_context():
        return list(PublishTask.select().where(PublishTask.post == int(post_id.removeprefix("post_")))
                    .order_by(PublishTask.id))


def test_publish_now_runs_on_a_worker_and_reports_per_account_results(client, tenant, platform, redis_client):
    first, second = connect(client, tenant, "tok_live_aaaa"), connect(client, tenant, "tok_live_bbbb")
    response = publish(client, tenant, platforms=["scripted"], accounts=[first, second], schedule="now")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["id"].startswith("post_") and body["status"] == "queued"
    assert body["platforms"] == ["scripted"]
    assert [(t["account_id"], t["platform"], t["status"]) for t in body["tasks"]] == [
        (first, "scripted", "queued"), (second, "scripted", "queued")]

    assert work(redis_client) == 2
    detail = client.get(f"/v1/posts/{body['id']}", headers=tenant.headers).get_json()
    assert detail["status"] == "published"
    assert {t["status"] for t in detail["tasks"]} == {"published"}
    assert all(t["published_at"].endswith("Z") and t["platform_post_id"].startswith("sp_") and t["url"]
               for t in detail["tasks"])
    assert len(platform.posts) == 2


def test_scheduled_post_waits_for_its_time_then_publishes(client, tenant, platform, redis_client):
    account = connect(client, tenant)
    at = (utcnow() + dt.timedelta(hours=2)).replace(microsecond=0)
    body = publish(client, tenant, accounts=[account], schedule=at.isoformat() + "Z").get_json()
    assert body["scheduled_at"] == at.isoformat() + "Z"
    assert body["schedule"] == {"now": False, "timezone": "UTC"}
    assert scheduled_count(redis_client) == 0  # two hours ahead: in the database only, until the lookahead
    assert work(redis_client) == 0 and platform.posts == []

    advance(redis_client, 3600)
    assert work(redis_client) == 0  # an hour early: still scheduled
    advance(redis_client, 3600)
    assert work(redis_client) == 1
    assert client.get(f"/v1/posts/{body['id']}", headers=tenant.headers).get_json()["status"] == "published"


def test_time_without_offset_is_read_in_the_clients_time_zone(client, tenant, redis_client):
    account = connect(client, tenant)
    client.patch(f"/api/clients/{tenant.client.id}", json={"timezone": "Europe/Paris"}, headers=tenant.headers)
    year = utcnow().year + 1
    body = publish(client, tenant, accounts=[account], client_id=tenant.client.id,
                   schedule=f"{year}-07-01T09:00:00").get_json()
    assert body["scheduled_at"] == f"{year}-07-01T07:00:00Z"  # Paris is UTC+2 in July
    assert body["schedule"]["timezone"] == "Europe/Paris"
    with_offset = publish(client, tenant, accounts=[account], schedule=f"{year}-07-01T09:00:00+05:30").get_json()
    assert with_offset["scheduled_at"] == f"{year}-07-01T03:30:00Z"
    assert with_offset["schedule"]["timezone"] == "UTC+05:30"


@pytest.mark.parametrize("body, status, code, field", [
    ({"accounts": []}, 400, "validation_error", "accounts"),
    ({"content": "x"}, 400, "validation_error", "accounts"),
    ({"accounts": ["acc_999"]}, 404, "not_found", "accounts.0"),
    ({"accounts": ["nope"]}, 400, "validation_error", "accounts.0"),
    ({"accounts": ["acc_1"], "schedule": "tomorrow"}, 400, "validation_error", "schedule"),
    ({"accounts": ["acc_1"], "schedule": "2020-01-01T00:00:00Z"}, 400, "validation_error", "schedule"),
    ({"accounts": ["acc_1"], "platforms": ["instagram"]}, 400, "validation_error", "accounts.0"),
    ({"accounts": ["acc_1"], "media": ["media_77"]}, 404, "not_found", "media.0"),
    ({"accounts": ["acc_1"], "post_id": "post_999"}, 404, "not_found", "post_id"),
    ({"accounts": ["acc_1"], "surprise": 1}, 400, "validation_error", "surprise"),
])
def test_publish_errors_name_the_field(client, tenant, body, status, code, field):
    connect(client, tenant)
    body = dict(body)
    if "post_id" not in body:
        body.setdefault("content", "Hello")
    error = assert_error(client.post("/v1/publish", json=body, headers=tenant.headers), status, code, field)
    if body.get("accounts") == []:
        assert error["message"] == "accounts must contain at least one connected account id."


def test_cancel_removes_the_job_and_published_posts_cannot_be_cancelled(client, tenant, platform, redis_client):
    account = connect(client, tenant)
    later = (utcnow() + dt.timedelta(days=1)).isoformat() + "Z"
    scheduled = publish(client, tenant, accounts=[account], schedule=later).get_json()
    assert client.delete(f"/v1/posts/{scheduled['id']}", headers=tenant.headers).get_json() == {"success": True}
    assert scheduled_count(redis_client) == 0
    detail = client.get(f"/v1/posts/{scheduled['id']}", headers=tenant.headers).get_json()
    assert detail["status"] == "cancelled" and detail["tasks"][0]["status"] == "cancelled"

    now = publish(client, tenant, accounts=[account]).get_json()
    work(redis_client)
    assert_error(client.delete(f"/v1/posts/{now['id']}", headers=tenant.headers), 409, "conflict")
    assert_error(client.delete("/v1/posts/post_999", headers=tenant.headers), 404, "not_found")


def test_reschedule_moves_the_job(client, tenant, platform, redis_client):
    account = connect(client, tenant)
    later = (utcnow() + dt.timedelta(days=1)).isoformat() + "Z"
    body = publish(client, tenant, accounts=[account], schedule=later).get_json()
    moved = client.patch(f"/v1/posts/{body['id']}", json={"schedule": "now"}, headers=tenant.headers)
    assert moved.status_code == 200, moved.get_json()
    assert scheduled_count(redis_client) == 0
    assert work(redis_client) == 1
    assert len(platform.posts) == 1


def test_scheduling_past_an_accounts_token_expiry_warns_while_there_is_time_to_reconnect(client, tenant, platform):
    account = connect(client, tenant)
    expires = (utcnow() + dt.timedelta(days=3)).replace(microsecond=0)
    with db.connection_context():
        Account.update(token_expires_at=expires).execute()

    def at(days: int) -> str:
        return (utcnow() + dt.timedelta(days=days)).isoformat() + "Z"

    with db.connection_context():  # already expired, though no check has marked it yet: refused
        Account.update(token_expires_at=utcnow() - dt.timedelta(seconds=1)).execute()
    expired = publish(client, tenant, accounts=[account], schedule=at(1))
    assert_error(expired, 400, "validation_error", "accounts.0")
    assert "expired at" in expired.get_json()["error"]["message"]
    with db.connection_context():
        Account.update(token_expires_at=expires).execute()

    early = publish(client, tenant, accounts=[account], schedule=at(1))
    assert early.status_code == 201 and "warnings" not in early.get_json()
    late = publish(client, tenant, accounts=[account], schedule=at(5))
    assert late.status_code == 201  # still queued: the account may be reconnected in time
    [warning] = late.get_json()["warnings"]
    assert (warning["code"], warning["field"]) == ("token_expires_before_due", "accounts.0")
    assert warning["message"].startswith(f"{account} (@") and expires.isoformat() + "Z" in warning["message"]
    assert "before this post is due" in warning["message"] and "POST /v1/accounts" in warning["message"]
    assert "Reconnect it with POST /v1/accounts before then" in warning["message"]  # it cannot renew tokens

    moved = client.patch(f"/v1/posts/{early.get_json()['id']}", json={"schedule": at(4)}, headers=tenant.headers)
    assert moved.status_code == 200
    assert [(item["code"], item["field"]) for item in moved.get_json()["warnings"]] == [
        ("token_expires_before_due", "schedule")]
    back = client.patch(f"/v1/posts/{early.get_json()['id']}", json={"schedule": at(2)}, headers=tenant.headers)
    assert back.status_code == 200 and "warnings" not in back.get_json()


def batch(client, tenant, posts, **headers):
    return client.post("/v1/publish/batch", json={"posts": posts}, headers={**tenant.headers, **headers})


def post_count() -> int:
    with db.connection_context():
        return Post.select().count()


def test_a_batch_queues_every_post_and_answers_each_as_publish_does(client, tenant, platform, redis_client):
    account = connect(client, tenant)
    later = (utcnow() + dt.timedelta(days=1)).replace(microsecond=0)
    response = batch(client, tenant, [
        {"content": "First", "accounts": [account]},
        {"content": "Second", "accounts": [account], "schedule": later.isoformat() + "Z"}])
    assert response.status_code == 201, response.get_json()
    first, second = response.get_json()["posts"]
    assert first["status"] == second["status"] == "queued" and first["schedule"]["now"] is True
    assert second["scheduled_at"] == later.isoformat() + "Z" and len(second["tasks"]) == 1
    assert scheduled_count(redis_client) == 0 and work(redis_client) == 1  # a day ahead: not in Redis yet
    assert [post["caption"] for post in platform.posts] == ["First"]


def test_a_batch_with_one_bad_post_creates_none_and_names_it(client, tenant, platform, redis_client):
    account = connect(client, tenant)
    good = {"content": "Fine", "accounts": [account]}
    assert_error(batch(client, tenant, [good, {"content": "Bad time", "accounts": [account], "schedule": "soonish"}]),
                 400, "validation_error", "posts.1.schedule")
    assert_error(batch(client, tenant, [good, good, {"content": "No accounts"}]), 400, "validation_error",
                 "posts.2.accounts")
    assert_error(batch(client, tenant, [good, {"content": "x", "accounts": ["acc_999"]}]), 404, "not_found",
                 "posts.1.accounts.0")
    assert_error(batch(client, tenant, []), 400, "validation_error", "posts")
    assert_error(batch(client, tenant, [good] * 101), 400, "validation_error", "posts")
    draft = client.post("/api/webhooks", headers=tenant.headers, json={
        "action": "create_post", "client_id": tenant.client.id, "caption": "Draft", "platforms": "scripted"}).get_json()
    twice = {"post_id": f"post_{draft['post']['id']}", "accounts": [account]}
    before = post_count()
    assert_error(batch(client, tenant, [good, twice, twice]), 409, "conflict", "posts.2.post_id")
    assert post_count() == before  # the first two were rolled back with the third
    assert work(redis_client) == 0 and platform.posts == []


def test_a_batch_names_its_posts_warnings_and_replays_with_its_key(client, tenant, platform):
    account = connect(client, tenant)
    with db.connection_context():
        Account.update(token_expires_at=utcnow() + dt.timedelta(days=2)).execute()
    posts = [{"content": "Soon", "accounts": [account]},
             {"content": "Too late", "accounts": [account],
              "schedule": (utcnow() + dt.timedelta(days=3)).isoformat() + "Z"}]
    first = batch(client, tenant, posts, **{"Idempotency-Key": "batch-1"})
    assert first.status_code == 201
    assert "warnings" not in first.get_json()["posts"][0]
    [warning] = first.get_json()["posts"][1]["warnings"]
    assert (warning["code"], warning["field"]) == ("token_expires_before_due", "posts.1.accounts.0")
    again = batch(client, tenant, posts, **{"Idempotency-Key": "batch-1"})
    assert again.get_json() == first.get_json() and post_count() == 2


def upload_csv(client, tenant, text: str | bytes, content_type: str = "text/csv", **headers):
    data = text.encode() if isinstance(text, str) else text
    return client.post("/v1/publish/csv", data=data, content_type=content_type, headers={**tenant.headers, **headers})


def test_a_spreadsheet_queues_a_post_per_row(client, tenant, platform, redis_client):
    first, second = connect(client, tenant, "tok_live_aaaa"), connect(client, tenant, "tok_live_bbbb")
    later = (utcnow() + dt.timedelta(days=1)).replace(microsecond=0).isoformat() + "Z"
    sheet = ("Content,Accounts,Schedule\r\n"
             f"Monday tip,{first},now\r\n"
             f'"Line one\nLine two, with a comma","{first}; {second}",{later}\r\n'
             ",,\r\n")  # the empty row a spreadsheet leaves at the end
    response = upload_csv(client, tenant, sheet)
    assert response.status_code == 201, response.get_json()
    now, scheduled = response.get_json()["posts"]
    assert now["status"] == "queued" and now["schedule"]["now"] is True and len(now["tasks"]) == 1
    assert scheduled["scheduled_at"] == later and len(scheduled["tasks"]) == 2
    assert work(redis_client) == 1
    assert [post["caption"] for post in platform.posts] == ["Monday tip"]


def test_a_spreadsheet_saved_with_semicolons_and_a_byte_order_mark_is_read(client, tenant, platform):
    account = connect(client, tenant)
    sheet = "\ufeffaccounts;content;post_type\n" + f"{account};Caf\u00e9 cr\u00e8me, 2 \u20ac;post\n"
    response = upload_csv(client, tenant, sheet.encode("utf-8"), content_type="text/csv; charset=utf-8")
    assert response.status_code == 201, response.get_json()
    with db.connection_context():
        assert Post.get().caption == "Caf\u00e9 cr\u00e8me, 2 \u20ac"


def test_a_spreadsheet_with_one_bad_row_creates_nothing_and_names_the_row(client, tenant, platform, redis_client):
    account = connect(client, tenant)
    assert_error(upload_csv(client, tenant, f"content,accounts,schedule\nFine,{account},now\nBad,{account},soonish\n"),
                 400, "validation_error", "rows.3.schedule")
    assert_error(upload_csv(client, tenant, f"content,accounts\nFine,{account}\nNo account,\n"),
                 400, "validation_error", "rows.3.accounts")
    assert_error(upload_csv(client, tenant, "content,accounts\nHello,acc_999\n"), 404, "not_found",
                 "rows.2.accounts.0")
    assert_error(upload_csv(client, tenant, f"content,accounts\nToo,{account},many cells\n"), 400,
                 "validation_error", "rows.2")
    assert post_count() == 0 and work(redis_client) == 0


def test_a_spreadsheet_that_cannot_be_read_is_refused_clearly(client, tenant, platform):
    account = connect(client, tenant)
    cases = [
        ("", "validation_error", None, "empty"),
        ("content,accounts\n", "validation_error", None, "no post"),
        (f"content,acounts\nHi,{account}\n", "validation_error", "columns.acounts", "Unknown column 'acounts'"),
        ("content\nHi\n", "validation_error", "columns.accounts", "needs an 'accounts' column"),
        (f"content,accounts,content\nA,{account},B\n", "validation_error", "columns.content", "appears twice"),
        ("content,accounts\n" + f"Hi,{account}\n" * 101, "validation_error", "rows.102", "more than 100 posts"),
    ]
    for sheet, code, field, words in cases:
        error = assert_error(upload_csv(client, tenant, sheet), 400, code, field)
        assert words in error["message"], (sheet[:40], error)
    error = assert_error(upload_csv(client, tenant, "content,accounts\nCaf\xe9,acc_1\n".encode("latin-1")), 400,
                         "validation_error", None)
    assert "UTF-8" in error["message"]
    assert_error(upload_csv(client, tenant, "content,accounts\n", content_type="text/plain"), 415,
                 "unsupported_media_type")
    assert post_count() == 0


def test_a_spreadsheet_upload_replays_with_its_idempotency_key(client, tenant, platform):
    account = connect(client, tenant)
    sheet = f"content,accounts\nOnce,{account}\n"
    first = upload_csv(client, tenant, sheet, **{"Idempotency-Key": "sheet-1"})
    again = upload_csv(client, tenant, sheet, **{"Idempotency-Key": "sheet-1"})
    assert first.status_code == again.status_code == 201 and again.get_json() == first.get_json()
    assert post_count() == 1


def test_drafts_from_the_action_endpoint_publish_through_v1(client, tenant, platform, redis_client):
    account = connect(client, tenant)
    draft = client.post("/api/webhooks", headers=tenant.headers, json={
        "action": "create_post", "client_id": tenant.client.id, "topic": "Design", "caption": "From Zapier",
        "platforms": "scripted"}).get_json()["post"]
    response = client.post("/v1/publish", json={"post_id": f"post_{draft['id']}", "accounts": [account]},
                           headers=tenant.headers)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["id"] == f"post_{draft['id']}"
    work(redis_client)
    assert platform.posts[0]["caption"] == "From Zapier"
    listed = client.post("/api/webhooks", headers=tenant.headers,
                         json={"action": "list_posts", "client_id": tenant.client.id}).get_json()
    assert listed["posts"][0]["status"] == "published"
    again = client.post("/v1/publish", json={"post_id": f"post_{draft['id']}", "accounts": [account]},
                        headers=tenant.headers)
    assert_error(again, 409, "conflict", "post_id")


def test_transient_failures_retry_with_backoff_then_publish(client, tenant, platform, redis_client):
    account = connect(client, tenant)
    platform.script = [PublishOutcome.transient("Service temporarily unavailable"),
                       PublishOutcome.transient("Rate limited", retry_after=120)]
    body = publish(client, tenant, accounts=[account]).get_json()
    work(redis_client)
    task = task_rows(body["id"])[0]
    assert task.status == "retrying" and task.error == "Service temporarily unavailable"
    assert dt.timedelta(seconds=4.9) <= task.due_at - task.updated_at <= dt.timedelta(seconds=30.1)  # backoff
    detail = client.get(f"/v1/posts/{body['id']}", headers=tenant.headers).get_json()
    assert detail["tasks"][0]["status"] == "retrying" and detail["tasks"][0]["next_attempt_at"]

    advance(redis_client, 31)
    work(redis_client)
    task = task_rows(body["id"])[0]
    assert task.status == "retrying"
    assert dt.timedelta(seconds=119.9) <= task.due_at - task.updated_at <= dt.timedelta(seconds=120.1)  # as told

    advance(redis_client, 121)
    work(redis_client)
    assert task_rows(body["id"])[0].status == "published"
    assert [call.method for call in platform.calls] == ["publish"] * 3


def test_permanent_failure_fails_at_once_with_the_platforms_message(client, tenant, platform, redis_client):
    account = connect(client, tenant)
    platform.script = [PublishOutcome.permanent("The caption is too long (2200 characters at most).")]
    body = publish(client, tenant, accounts=[account]).get_json()
    work(redis_client)
    detail = client.get(f"/v1/posts/{body['id']}", headers=tenant.headers).get_json()
    assert detail["status"] == "failed"
    assert detail["tasks"][0]["error"] == "The caption is too long (2200 characters at most)."


def test_pending_is_checked_again_later_without_blocking_a_worker(client, tenant, platform, redis_client):
    account = connect(client, tenant)
    platform.script = [PublishOutcome.pending(30, container_id="c1"), PublishOutcome.pending(30, container_id="c1")]
    body = publish(client, tenant, accounts=[account]).get_json()
    assert work(redis_client) == 1
    assert task_rows(body["id"])[0].status == "publishing"
    assert client.get(f"/v1/posts/{body['id']}", headers=tenant.headers).get_json()["status"] == "publishing"
    advance(redis_client, 30)
    work(redis_client)
    advance(redis_client, 30)
    work(redis_client)
    assert [call.method for call in platform.calls] == ["publish", "check", "check"]
    assert platform.calls[-1].state == {"container_id": "c1"}
    assert task_rows(body["id"])[0].status == "published"


def test_expired_token_fails_the_task_without_calling_the_platform(client, tenant, platform, redis_client):
    account = connect(client, tenant)
    body = publish(client, tenant, accounts=[account]).get_json()
    with db.connection_context():
        Account.update(token_expires_at=utcnow() - dt.timedelta(minutes=1)).execute()
    work(redis_client)
    detail = client.get(f"/v1/posts/{body['id']}", headers=tenant.headers).get_json()
    assert detail["tasks"][0]["status"] == "failed"
    assert "expired" in detail["tasks"][0]["error"] and "Reconnect" in detail["tasks"][0]["error"]
    assert platform.calls == []
    accounts = client.get("/v1/accounts", headers=tenant.headers).get_json()["accounts"]
    assert accounts[0]["status"] == "expired"
    assert_error(publish(client, tenant, accounts=[account]), 400, "validation_error", "accounts.0")


def test_token_health_check_marks_accounts(client, tenant, platform, redis_client):
    account = connect(client, tenant)
    platform.health = TokenHealth("expired", reason="Error validating access token: Session has expired.")
    assert chores.check_tokens() == {"expired": 1}
    listed = client.get("/v1/accounts", headers=tenant.headers).get_json()["accounts"]
    assert listed[0]["id"] == account and listed[0]["status"] == "expired"
    assert "Session has expired" in listed[0]["status_reason"]


def account_events(kind: str) -> list[dict]:
    with db.connection_context():
        from herald.db.models import Event
        return [event.data for event in Event.select().where(Event.type == kind).order_by(Event.id)]


def test_an_account_that_stops_working_is_announced_once(client, tenant, platform, redis_client):
    account = connect(client, tenant)
    platform.health = TokenHealth("expired", reason="Error validating access token: Session has expired.")
    chores.check_tokens()
    chores.check_tokens()  # still expired: nothing new to say
    [announced] = account_events("account.needs_reconnect")
    assert announced["account"]["id"] == account and announced["account"]["status"] == "expired"
    assert "Session has expired" in announced["account"]["status_reason"]
    assert "token" not in announced["account"]  # never the token itself

    connect(client, tenant)  # reconnected: active again
    assert publish(client, tenant, accounts=[account]).status_code == 201
    with db.connection_context():  # this time the token runs out before the task runs, found by the task
        Account.update(token_expires_at=utcnow() - dt.timedelta(minutes=1)).execute()
    work(redis_client)
    assert [event["account"]["status"] for event in account_events("account.needs_reconnect")] == ["expired"] * 2


def test_a_token_about_to_expire_is_announced_once_a_week_ahead(client, tenant, platform, clock):
    account = connect(client, tenant)
    now = clock.now()
    platform.health = TokenHealth("active", expires_at=(now + dt.timedelta(days=10)).replace(tzinfo=dt.UTC))
    chores.check_tokens()
    assert account_events("account.token_expiring") == []  # 10 days left: not yet
    platform.health = TokenHealth("active", expires_at=(now + dt.timedelta(days=6, hours=23)).replace(tzinfo=dt.UTC))
    chores.check_tokens()
    chores.check_tokens()  # the next checks stay quiet
    [warning] = account_events("account.token_expiring")
    assert warning["account"]["id"] == account and warning["days_left"] == 6
    assert warning["account"]["token_expires_at"].startswith((now + dt.timedelta(days=6, hours=23)).date().isoformat())

    platform.health = TokenHealth("active", expires_at=(now + dt.timedelta(days=60)).replace(tzinfo=dt.UTC))
    chores.check_tokens()  # a fresh token: far from expiring
    assert len(account_events("account.token_expiring")) == 1
    platform.health = TokenHealth("active", expires_at=(now + dt.timedelta(days=5)).replace(tzinfo=dt.UTC))
    clock.advance(1)  # the check runs a moment after the token's expiry was read: under 5 days left
    chores.check_tokens()  # another expiry inside the window is another token: warned about in turn
    assert [event["days_left"] for event in account_events("account.token_expiring")] == [6, 4]


def test_a_health_check_that_races_a_disconnect_leaves_the_account_disconnected(client, tenant, platform):
    from herald.publishing import accounts

    account = connect(client, tenant)
    with db.connection_context():
        loaded = Account.get_by_id(int(account.removeprefix("acc_")))  # as the health check read it
    assert client.delete(f"/v1/accounts/{account}", headers=tenant.headers).get_json() == {"success": True}
    platform.health = TokenHealth("active")
    with db.connection_context():
        # with the token it read: the platform says active
        accounts.check_health(client.application.extensions["herald"], loaded)
    [listed] = client.get("/v1/accounts", headers=tenant.headers).get_json()["accounts"]
    assert listed["status"] == "disconnected" and account_events("account.needs_reconnect") == []


def test_webhooks_can_subscribe_to_account_events(client, tenant):
    response = client.post("/v1/webhooks", json={"url": "https://hooks.example.com/ops",
                                                 "events": ["account.token_expiring", "account.needs_reconnect"]},
                           headers=tenant.headers)
    assert response.status_code == 201, response.get_json()


def test_accounts_connect_validates_the_token_and_never_shows_it(client, tenant, config):
    assert_error(client.post("/v1/accounts", json={"platform": "scripted", "access_token": "bad-token-123"},
                             headers=tenant.headers), 400, "validation_error", "access_token")
    assert_error(client.post("/v1/accounts", json={"platform": "myspace", "access_token": "tok_123456789"},
                             headers=tenant.headers), 400, "validation_error", "platform")
    connect(client, tenant, "tok_secret_9999")
    again = client.post("/v1/accounts", json={"platform": "scripted", "access_token": "tok_secret_9999"},
                        headers=tenant.headers)
    assert again.status_code == 200  # the same account, reconnected
    listed = client.get("/v1/accounts", headers=tenant.headers).get_json()["accounts"]
    assert len(listed) == 1 and listed[0]["username"] == "user-9999" and "token" not in str(listed[0]).lower()[:0]
    raw = (config.data_dir / "herald.db").read_bytes() if (config.data_dir / "herald.db").exists() else b""
    assert b"tok_secret_9999" not in raw


def test_approval_flow(client, tenant, platform, redis_client, make_tenant):
    account = connect(client, tenant)
    assert client.patch("/api/workspace", json={"require_approval": True}, headers=tenant.headers).status_code == 200
    body = publish(client, tenant, accounts=[account]).get_json()
    assert body["status"] == "pending_approval"
    assert work(redis_client) == 0
    rejected = publish(client, tenant, accounts=[account], content="Not this one").get_json()

    other = make_tenant("Other")
    assert_error(client.post(f"/v1/posts/{body['id']}/approve", json={}, headers=other.headers), 404, "not_found")
    with db.connection_context():
        _, reader = create_api_key(tenant.workspace, ("posts:read",))
    assert_error(client.post(f"/v1/posts/{body['id']}/approve", json={}, headers={"X-API-Key": reader}),
                 403, "forbidden")
    approved = client.post(f"/v1/posts/{body['id']}/approve", json={"note": "ok"}, headers=tenant.headers)
    assert approved.status_code == 200 and approved.get_json()["status"] == "queued"
    assert_error(client.post(f"/v1/posts/{body['id']}/approve", json={}, headers=tenant.headers), 409, "conflict")
    assert client.post(f"/v1/posts/{rejected['id']}/reject", json={}, headers=tenant.headers).get_json()[
        "status"] == "rejected"
    work(redis_client)
    assert [post["caption"] for post in platform.posts] == ["Hello from Herald"]
    with db.connection_context():
        from herald.db.models import Event
        types = [event.type for event in Event.select().order_by(Event.id)]
    assert types.count("approval.requested") == 2
    assert "post.approved" in types and "post.rejected" in types and "publish.completed" in types


def test_worker_death_mid_publish_is_reconciled_not_published_twice(client, tenant, platform, redis_client, config):
    account = connect(client, tenant)
    body = publish(client, tenant, accounts=[account]).get_json()
    task = task_rows(body["id"])[0]
    # A worker claimed the task and published, then died before recording anything.
    with db.connection_context():
        mode, claimed = claim(tasks.KIND_NAME, task.id)
    platform.posts.append({"id": "sp_live", "task": str(task.id), "caption": "Hello from Herald"})
    redis_client.flushdb()  # and Redis lost its queues for good measure

    assert chores.reconcile()["work"]["publish"] == 0  # the lease has not expired yet: the worker may be alive
    advance(redis_client, tasks.LEASE_SECONDS + 1)
    assert chores.reconcile()["work"]["publish"] == 1
    work(redis_client)
    final = task_rows(body["id"])[0]
    assert final.status == "published" and final.platform_post_id == "sp_live"
    assert [call.method for call in platform.calls] == ["reconcile"]
    assert len(platform.posts) == 1


def test_worker_death_between_taking_a_job_and_claiming_its_task_is_reconciled(client, tenant, platform,
                                                                              redis_client, config):
    account = connect(client, tenant)
    body = publish(client, tenant, accounts=[account]).get_json()
    # A worker takes the job off the queue and starts it (RQ marks it started), then dies at once:
    # the task was never claimed, so no lease will expire, and RQ keeps the job "started".
    dying = make_worker(redis_client, QUEUES, worker_class=HeraldSimpleWorker)
    dying.register_birth()
    job, _ = dying.dequeue_job_and_maintain_ttl(timeout=None)
    dying.prepare_execution(job)  # what SimpleWorker.execute_job does before it runs the function
    dying.prepare_job_execution(job)
    assert job.get_status(refresh=True) == "started" and work(redis_client) == 0

    assert chores.reconcile()["work"]["publish"] == 0  # a job that started just now may still claim the task
    catch_up_with_real_time()  # the job's start is RQ's, on the real clock
    advance(redis_client, tasks.JOB_TIMEOUT_SECONDS + RUNNING_MARGIN_SECONDS + 1)  # longer than any live job runs
    assert chores.reconcile()["work"]["publish"] == 1
    assert work(redis_client) == 1
    assert task_rows(body["id"])[0].status == "published" and len(platform.posts) == 1


def test_worker_death_right_after_taking_a_job_off_the_queue_is_reconciled(client, tenant, platform, redis_client):
    account = connect(client, tenant)
    body = publish(client, tenant, accounts=[account]).get_json()
    # The worker moves the job to RQ's intermediate list and dies before it starts it: the job stays
    # "queued" on no queue, where RQ's own maintenance would find it minutes later.
    dying = make_worker(redis_client, QUEUES, worker_class=HeraldSimpleWorker)
    dying.register_birth()
    job, _ = dying.dequeue_job_and_maintain_ttl(timeout=None)
    assert job.get_status(refresh=True) == "queued" and work(redis_client) == 0

    assert chores.reconcile()["work"]["publish"] == 1
    assert work(redis_client) == 1
    assert task_rows(body["id"])[0].status == "published" and len(platform.posts) == 1
    assert chores.reconcile()["work"]["publish"] == 0


def test_redis_flush_loses_no_post(client, tenant, platform, redis_client):
    account = connect(client, tenant)
    soon = publish(client, tenant, accounts=[account]).get_json()
    later = publish(client, tenant, accounts=[account],
                    schedule=(utcnow() + dt.timedelta(hours=1)).isoformat() + "Z").get_json()
    redis_client.flushdb()
    assert work(redis_client) == 0
    assert chores.reconcile()["work"]["publish"] == 1  # the post due in an hour was never in Redis
    work(redis_client)
    assert scheduled_count(redis_client) == 0
    advance(redis_client, 3601)
    work(redis_client)
    for post in (soon, later):
        assert client.get(f"/v1/posts/{post['id']}", headers=tenant.headers).get_json()["status"] == "published"
    assert len(platform.posts) == 2


def test_list_posts_total_filters_and_pagination(client, tenant, platform, redis_client):
    account = connect(client, tenant)
    ids = [publish(client, tenant, accounts=[account], content=f"Post {n}").get_json()["id"] for n in range(5)]
    work(redis_client)
    publish(client, tenant, accounts=[account], content="Later",
            schedule=(utcnow() + dt.timedelta(hours=1)).isoformat() + "Z")
    page = client.get("/v1/posts?limit=2", headers=tenant.headers).get_json()
    assert page["total"] == 6 and len(page["posts"]) == 2 and page["next_cursor"]
    second = client.get(f"/v1/posts?limit=2&cursor={page['next_cursor']}", headers=tenant.headers).get_json()
    assert [p["id"] for p in second["posts"]] == [ids[3], ids[2]]
    assert client.get("/v1/posts?status=published", headers=tenant.headers).get_json()["total"] == 5
    assert client.get("/v1/posts?platform=scripted&page=2&limit=4", headers=tenant.headers).get_json()[
        "posts"][0]["id"] == ids[1]
    assert client.get("/v1/posts?platform=instagram", headers=tenant.headers).get_json()["total"] == 0
    assert_error(client.get("/v1/posts?status=bogus", headers=tenant.headers), 400, "validation_error", "status")
    first = page["posts"][0]
    assert set(first) >= {"id", "content", "status", "platforms", "created_at"}


def test_list_posts_by_client_and_by_campaign(client, tenant, make_tenant, platform):
    account = connect(client, tenant)
    bakery = client.post("/api/clients", json={"name": "Bakery"}, headers=tenant.headers).get_json()["client"]["id"]
    spring = client.post("/api/campaigns", json={"name": "Spring", "client_id": tenant.client.id},
                         headers=tenant.headers).get_json()["campaign"]["id"]
    later = (utcnow() + dt.timedelta(days=1)).isoformat() + "Z"
    in_campaign, plain, bakerys, no_client = (
        publish(client, tenant, accounts=[account], schedule=later, content=content, **fields).get_json()["id"]
        for content, fields in (("Spring", {"client_id": tenant.client.id, "campaign_id": spring}),
                                ("Plain", {"client_id": tenant.client.id}), ("Bread", {"client_id": bakery}),
                                ("Nobody's", {})))

    def listed(query: str) -> tuple[int, list[str]]:
        body = client.get(f"/v1/posts?{query}", headers=tenant.headers).get_json()
        return body["total"], [post["id"] for post in body["posts"]]

    assert listed(f"client_id={tenant.client.id}") == (2, [plain, in_campaign])
    assert listed(f"client_id={bakery}") == (1, [bakerys])
    assert listed(f"campaign_id={spring}") == (1, [in_campaign])
    assert listed(f"client_id={bakery}&campaign_id={spring}") == (0, [])
    assert listed("")[0] == 4 and no_client in listed("")[1]
    for query, status, code, field in (("client_id=abc", 400, "validation_error", "client_id"),
                                       ("campaign_id=-1", 400, "validation_error", "campaign_id"),
                                       ("client_id=999", 404, "not_found", "client_id"),
                                       ("campaign_id=999", 404, "not_found", "campaign_id")):
        assert_error(client.get(f"/v1/posts?{query}", headers=tenant.headers), status, code, field)
    rival = make_tenant("Rival")  # another workspace's client or campaign is not found, never listed
    assert_error(client.get(f"/v1/posts?client_id={tenant.client.id}", headers=rival.headers), 404, "not_found")
    assert_error(client.get(f"/v1/posts?campaign_id={spring}", headers=rival.headers), 404, "not_found")


def test_another_workspace_sees_nothing(client, tenant, make_tenant, platform, redis_client):
    account = connect(client, tenant)
    body = publish(client, tenant, accounts=[account]).get_json()
    other = make_tenant("Rival")
    assert_error(client.get(f"/v1/posts/{body['id']}", headers=other.headers), 404, "not_found")
    assert_error(client.delete(f"/v1/posts/{body['id']}", headers=other.headers), 404, "not_found")
    assert_error(client.patch(f"/v1/posts/{body['id']}", json={"schedule": "now"}, headers=other.headers),
                 404, "not_found")
    assert_error(publish(client, other, accounts=[account]), 404, "not_found", "accounts.0")
    assert client.get("/v1/posts", headers=other.headers).get_json() == {"posts": [], "total": 0,
                                                                         "next_cursor": None}
    assert client.get("/v1/accounts", headers=other.headers).get_json() == {"accounts": [], "next_cursor": None}


def test_post_rows_share_one_model(client, tenant, redis_client):
    account = connect(client, tenant)
    body = publish(client, tenant, accounts=[account]).get_json()
    with db.connection_context():
        assert Post.select().count() == 1
        assert Post.get_by_id(int(body["id"].removeprefix("post_"))).caption == "Hello from Herald"


def test_health_is_unhealthy_when_a_post_is_due_and_no_worker_consumes_the_queue(app, client, tenant, redis_client):
    account = connect(client, tenant)
    publish(client, tenant, accounts=[account])
    advance(redis_client, 90)
    body = client.get("/health").get_json()
    assert client.get("/health").status_code == 503
    queues = body["checks"]["queues"]
    assert queues["ok"] is False and queues["error"] == "NoWorker" and "herald worker" in queues["message"]
    assert queues["publish"] == {"depth": 1, "workers": 0}
    assert queues["oldest_due_seconds"] >= 89

    worker = make_worker(redis_client, QUEUES, worker_class=SimpleWorker)
    beats = Heartbeat(redis_client, worker.name, QUEUES, clock=app.extensions["herald"].clock)
    beats.beat()  # what `herald worker` writes as it starts
    try:
        body = client.get("/health").get_json()
        assert body["status"] == "ok" and body["checks"]["queues"]["publish"]["workers"] == 1
        advance(redis_client, 600)
        beats.beat()  # the worker is alive: its thread beat all along
        late = client.get("/health")
        assert late.status_code == 503 and late.get_json()["checks"]["queues"]["error"] == "Backlog"
    finally:
        beats.stop()
    work(redis_client)
    assert client.get("/health").status_code == 200


@pytest.mark.parametrize("role, status", [("editor", 403), ("admin", 200)])
def test_people_approve_with_the_admin_role(app, client, tenant, redis_client, role, status):
    account = connect(client, tenant)
    client.patch("/api/workspace", json={"require_approval": True}, headers=tenant.headers)
    body = publish(client, tenant, accounts=[account]).get_json()
    with app.app_context(), db.connection_context():
        create_user(tenant.workspace, f"{role}@example.com", "correct horse battery", role=role)
    login = client.post("/api/login", json={"email": f"{role}@example.com", "password": "correct horse battery"})
    csrf = login.get_json()["csrf_token"]
    response = client.post(f"/v1/posts/{body['id']}/approve", json={}, headers={"X-CSRF-Token": csrf})
    assert response.status_code == status, response.get_json()
    if status == 403:
        assert "admin or owner" in response.get_json()["error"]["message"]


def test_cancelling_emits_post_updated(client, tenant, redis_client):
    account = connect(client, tenant)
    body = publish(client, tenant, accounts=[account],
                   schedule=(utcnow() + dt.timedelta(hours=1)).isoformat() + "Z").get_json()
    client.delete(f"/v1/posts/{body['id']}", headers=tenant.headers)
    with db.connection_context():
        from herald.db.models import Event
        last = Event.select().order_by(Event.id.desc()).first()
    assert last.type == "post.updated" and last.data["post"]["status"] == "cancelled"


def test_a_job_that_arrives_before_its_task_is_due_reschedules_it(client, tenant, platform, redis_client):
    """RQ's scheduler works in whole seconds; a job handed over early must not lose its task."""
    account = connect(client, tenant)
    body = publish(client, tenant, accounts=[account],
                   schedule=(utcnow() + dt.timedelta(minutes=4)).isoformat() + "Z").get_json()
    [task] = task_rows(body["id"])
    assert perform(tasks.KIND_NAME, task.id, task.step) == "not due yet: rescheduled"
    assert scheduled_count(redis_client) == 2  # the original job and the re-scheduled one
    advance(redis_client, 4 * 60 - 1)
    assert perform(tasks.KIND_NAME, task.id, task.step + 1) == "run: done"  # within the scheduler's slack
    assert len(platform.posts) == 1


def test_a_task_outcome_reads_its_post_once_under_its_lock(client, tenant, platform):
    """The post is read (and, on PostgreSQL, locked) once per task transition, not once to lock and
    again to recompute its status."""
    account = connect(client, tenant)
    post_id = publish(client, tenant, accounts=[account]).get_json()["id"]
    with db.connection_context():
        [task] = PublishTask.select().where(PublishTask.post == int(post_id.removeprefix("post_")))
        _, claimed = claim(tasks.KIND_NAME, task.id)
        runtime = installed_for_jobs()
        with sql_sent() as sent:
            outcome = kernel.Outcome.done(**tasks.published_changes(runtime.clock.now(), "remote-1",
                                                                    "https://example.test/p/1"))
            assert kernel.record(runtime, kernel.kind(runtime, tasks.KIND_NAME), claimed, outcome) == "done"
    assert sum(sql.lstrip().startswith("SELECT") and 'FROM "post"' in sql for sql in sent) == 1, sent
    with db.connection_context():
        assert Post.get_by_id(int(post_id.removeprefix("post_"))).status == "published"
