"""First comments: each account comments under its own post once published, at most once, through
the real pipeline (SimpleWorker jobs, the fake Graph API over HTTP)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import peewee as pw
import pytest

from conftest import assert_error
from drive import advance, sql_sent, work
from fakes.graph import IG_TOKEN, IG_USER_ID, PAGE_ID, PAGE_TOKEN
from herald import first_comments, jobs, queue
from herald.app import create_app
from herald.models import Event, PublishTask, db

COMMENT = "Order at bakery.test/order #bakery #fresh"


@pytest.fixture
def app(config, fake):
    """Herald with its Graph base URL on the fake."""
    application = create_app(dataclasses.replace(config, **fake.hosts(), public_url="https://herald.test"))
    yield application
    db.obj.close_all()


def connect(client, tenant, platform: str, token: str) -> str:
    response = client.post("/v1/accounts", json={"platform": platform, "access_token": token}, headers=tenant.headers)
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()["id"]


def publish(client, tenant, accounts: list[str], **fields):
    return client.post("/v1/publish", json={"content": "Fresh bread at 7", "accounts": accounts,
                                            "first_comment": COMMENT, **fields}, headers=tenant.headers)


def detail(client, tenant, post_id: str) -> dict:
    return client.get(f"/v1/posts/{post_id}", headers=tenant.headers).get_json()


def event_types(kind_prefix: str = "publish.comment") -> list[str]:
    with db.connection_context():
        return [row.type for row in Event.select().where(Event.type.startswith(kind_prefix)).order_by(Event.id)]


def test_each_account_comments_under_its_post_once_published(fake, client, tenant, redis_client):
    page = connect(client, tenant, "facebook", PAGE_TOKEN)
    response = client.post("/v1/publish", json={"content": "Fresh bread at 7", "accounts": [page],
                                                "first_comment": COMMENT}, headers=tenant.headers)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["first_comment"] == COMMENT
    assert work(redis_client) == 2  # the publish, then the comment
    post = detail(client, tenant, response.get_json()["id"])
    [task] = post["tasks"]
    [comment] = fake.comments(task["platform_post_id"])
    assert (comment["message"], comment["author"]) == (COMMENT, PAGE_ID)
    assert post["status"] == "published"
    assert task["first_comment"] == {"status": "posted", "id": comment["id"], "error": None, "attempts": 1,
                                     "next_attempt_at": None}
    assert event_types() == ["publish.comment_completed"]
    assert work(redis_client) == 0 and first_comments.run(int(task["id"].removeprefix("task_"))) == "nothing to do"
    assert len(fake.comments(task["platform_post_id"])) == 1


def test_without_first_comment_nothing_is_commented(fake, client, tenant, redis_client):
    page = connect(client, tenant, "facebook", PAGE_TOKEN)
    body = client.post("/v1/publish", json={"content": "Fresh bread", "accounts": [page]},
                       headers=tenant.headers).get_json()
    assert work(redis_client) == 1
    [task] = detail(client, tenant, body["id"])["tasks"]
    assert task["first_comment"] is None and body["first_comment"] is None
    assert fake.calls("POST", r"/comments$") == []


def test_a_story_cannot_take_a_first_comment(client, tenant):
    account = connect(client, tenant, "instagram", IG_TOKEN)
    response = publish(client, tenant, [account], post_type="story", media=[])
    assert_error(response, 400, "validation_error", "first_comment")
    assert "story on instagram cannot take comments" in response.get_json()["error"]["message"]


def test_an_empty_or_too_long_first_comment_is_refused(client, tenant):
    page = connect(client, tenant, "facebook", PAGE_TOKEN)
    assert_error(publish(client, tenant, [page], first_comment=""), 400, "validation_error", "first_comment")
    assert_error(publish(client, tenant, [page], first_comment="x" * 2201), 400, "validation_error", "first_comment")


def test_a_refused_comment_fails_without_touching_the_published_post(fake, client, tenant, redis_client):
    page = connect(client, tenant, "facebook", PAGE_TOKEN)
    fake.fail_next(r"/comments$", code=200, message="(#200) Requires pages_manage_engagement")
    body = publish(client, tenant, [page]).get_json()
    work(redis_client)
    post = detail(client, tenant, body["id"])
    [task] = post["tasks"]
    assert post["status"] == "published" and task["status"] == "published"
    assert task["first_comment"]["status"] == "failed"
    assert "pages_manage_engagement" in task["first_comment"]["error"]
    assert event_types() == ["publish.comment_failed"]


def test_a_comment_the_platform_did_not_take_is_retried_later(fake, client, tenant, redis_client):
    page = connect(client, tenant, "facebook", PAGE_TOKEN)
    fake.fail_next(r"/comments$", code=2)  # service unavailable: Meta did not take it
    body = publish(client, tenant, [page]).get_json()
    assert work(redis_client) == 2
    [task] = detail(client, tenant, body["id"])["tasks"]
    assert task["first_comment"]["status"] == "pending" and task["first_comment"]["next_attempt_at"]
    assert "Graph API error 2" in task["first_comment"]["error"]
    advance(redis_client, 3600)
    assert work(redis_client) == 1
    [task] = detail(client, tenant, body["id"])["tasks"]
    assert task["first_comment"]["status"] == "posted" and task["first_comment"]["attempts"] == 2
    assert len(fake.comments(task["platform_post_id"])) == 1


def test_a_comment_whose_answer_was_lost_is_never_sent_again(fake, client, tenant, redis_client):
    fake.drop_connection_after(r"/comments$")  # Meta takes the comment, the answer is lost
    page = connect(client, tenant, "facebook", PAGE_TOKEN)
    body = publish(client, tenant, [page]).get_json()
    work(redis_client)
    [task] = detail(client, tenant, body["id"])["tasks"]
    assert task["first_comment"]["status"] == "unconfirmed"
    assert "never posted twice" in task["first_comment"]["error"]
    assert len(fake.comments(task["platform_post_id"])) == 1  # it did go through
    with db.connection_context():
        jobs.reconcile()
    assert work(redis_client) == 0 and len(fake.calls("POST", r"/comments$")) == 1
    assert event_types() == ["publish.comment_failed"]


def test_the_reconciler_enqueues_a_comment_whose_job_redis_lost(fake, client, tenant, redis_client, app):
    page = connect(client, tenant, "facebook", PAGE_TOKEN)
    body = publish(client, tenant, [page]).get_json()
    worker = queue.make_worker(redis_client, [queue.PUBLISH_QUEUE])
    worker.work(burst=True, max_jobs=1, with_scheduler=False, logging_level="WARNING")  # the publish only
    redis_client.delete(*redis_client.keys("rq:job:comment-*"))
    queue.get_queue(redis_client, queue.PUBLISH_QUEUE).empty()
    assert work(redis_client) == 0
    with app.app_context():
        assert jobs.reconcile()["first_comments"] == 1
        assert jobs.reconcile()["first_comments"] == 0  # its job is alive now
    assert work(redis_client) == 1
    [task] = detail(client, tenant, body["id"])["tasks"]
    assert task["first_comment"]["status"] == "posted"


def test_a_worker_that_died_while_commenting_leaves_it_unconfirmed(fake, client, tenant, redis_client, app):
    page = connect(client, tenant, "facebook", PAGE_TOKEN)
    body = publish(client, tenant, [page]).get_json()
    worker = queue.make_worker(redis_client, [queue.PUBLISH_QUEUE])
    worker.work(burst=True, max_jobs=1, with_scheduler=False, logging_level="WARNING")
    [task_id] = [int(task["id"].removeprefix("task_")) for task in detail(client, tenant, body["id"])["tasks"]]
    with db.connection_context():
        assert first_comments._claim(task_id) is not None  # claimed, then the worker is killed
    queue.get_queue(redis_client, queue.PUBLISH_QUEUE).empty()
    with app.app_context():
        jobs.reconcile()
    assert detail(client, tenant, body["id"])["tasks"][0]["first_comment"]["status"] == "posting"
    with app.app_context(), db.connection_context():
        first_comments.reconcile(app.extensions["herald"], dt.datetime.now(dt.UTC).replace(tzinfo=None)
                                 + first_comments.POSTING_TIMEOUT + dt.timedelta(seconds=1))
    comment = detail(client, tenant, body["id"])["tasks"][0]["first_comment"]
    assert comment["status"] == "unconfirmed" and "stopped before it recorded" in comment["error"]
    assert fake.calls("POST", r"/comments$") == []


def test_instagram_first_comment_through_the_pipeline(fake, client, tenant, redis_client):
    from test_graph_plugins import upload_jpeg

    account = connect(client, tenant, "instagram", IG_TOKEN)
    media = upload_jpeg(client, tenant)
    body = publish(client, tenant, [account], media=[media]).get_json()
    work(redis_client)
    [media_record] = fake.published(IG_USER_ID)
    [comment] = fake.comments(media_record["id"])
    assert comment["message"] == COMMENT
    assert detail(client, tenant, body["id"])["tasks"][0]["first_comment"]["status"] == "posted"


def test_first_comment_column_in_a_spreadsheet(fake, client, tenant, redis_client):
    page = connect(client, tenant, "facebook", PAGE_TOKEN)
    csv_text = f"content,accounts,first_comment\nFresh bread,{page},{COMMENT}\n"
    response = client.post("/v1/publish/csv", data=csv_text, content_type="text/csv", headers=tenant.headers)
    assert response.status_code == 201, response.get_json()
    work(redis_client)
    with db.connection_context():
        [task] = PublishTask.select()
    assert task.comment_status == "posted" and fake.comments(task.platform_post_id)[0]["message"] == COMMENT


def test_the_reconcilers_lookup_uses_the_partial_index(app):
    """Every 30 s the reconciler looks for comments under way: on SQLite that must be an index search,
    not a scan of every task ever published (a partial index serves only a WHERE that repeats its own)."""
    if not isinstance(db.obj, pw.SqliteDatabase):
        pytest.skip("PostgreSQL picks its plan by table size; the literal WHERE matters to SQLite")
    with app.app_context(), db.connection_context(), sql_sent() as statements:
        first_comments.reconcile(app.extensions["herald"], dt.datetime.now(dt.UTC).replace(tzinfo=None))
        [lookup] = [sql for sql in statements if '"publish_task"' in sql]
        plan = db.execute_sql("EXPLAIN QUERY PLAN " + lookup, [None] * lookup.count("?")).fetchall()
    assert "USING INDEX publish_task_comment_under_way" in " ".join(row[-1] for row in plan), plan
