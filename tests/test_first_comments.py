"""First comments: each account comments under its own post once published, at most once, through
the real pipeline (SimpleWorker jobs, the fake Graph API over HTTP)."""

from __future__ import annotations

import datetime as dt

import peewee as pw
import pytest

from conftest import assert_error
from drive import advance, sql_sent, work
from fakes.graph import IG_TOKEN, IG_USER_ID, PAGE_ID, PAGE_TOKEN
from herald import chores
from herald.db.models import Event, FirstComment, PublishTask, db
from herald.publishing import first_comments
from herald.work import kernel, queue, reconciler

COMMENT = "Order at bakery.test/order #bakery #fresh"


@pytest.fixture
def app(build_app, fake):
    """Herald with its Graph base URL on the fake."""
    return build_app(**fake.hosts(), public_url="https://herald.test")


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
    assert work(redis_client) == 0
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
    # Meta promises nothing about a code 2: Herald read the comments before sending it again
    assert [call.method for call in fake.calls(path_regex=r"/comments$")] == ["POST", "GET", "POST"]


def test_a_comment_meta_took_despite_an_error_is_not_posted_twice(fake, client, tenant, redis_client):
    from graph_drive import upload_jpeg

    account = connect(client, tenant, "instagram", IG_TOKEN)
    fake.fail_next(r"/comments$", code=1, method="POST", applied=True)  # taken, yet "An unknown error occurred"
    body = publish(client, tenant, [account], media=[upload_jpeg(client, tenant)]).get_json()
    work(redis_client)
    [task] = detail(client, tenant, body["id"])["tasks"]
    assert task["first_comment"]["status"] == "pending"
    fake.add_comment(task["platform_post_id"], "Love it!")  # a follower answers meanwhile
    advance(redis_client, 3600)
    assert work(redis_client) == 1
    [task] = detail(client, tenant, body["id"])["tasks"]
    [mine, _follower] = fake.comments(task["platform_post_id"])
    assert task["first_comment"] == {"status": "posted", "id": mine["id"], "error": None, "attempts": 2,
                                     "next_attempt_at": None}
    assert len(fake.calls("POST", r"/comments$")) == 1
    assert event_types() == ["publish.comment_completed"]


def test_a_comment_whose_answer_was_lost_is_looked_for_instead_of_sent_again(fake, client, tenant, redis_client):
    fake.drop_connection_after(r"/comments$")  # Meta takes the comment, the answer is lost
    page = connect(client, tenant, "facebook", PAGE_TOKEN)
    body = publish(client, tenant, [page]).get_json()
    work(redis_client)
    [task] = detail(client, tenant, body["id"])["tasks"]
    assert task["first_comment"]["status"] == "pending"
    assert "looks for the comment on facebook before sending it again" in task["first_comment"]["error"]
    due = dt.datetime.fromisoformat(task["first_comment"]["next_attempt_at"].removesuffix("Z"))
    assert dt.timedelta(seconds=25) < due - dt.datetime.now(dt.UTC).replace(tzinfo=None) <= dt.timedelta(seconds=30)
    assert work(redis_client) == 0  # not before the check is due
    advance(redis_client, first_comments.CHECK_DELAY_SECONDS)
    assert work(redis_client) == 1
    [task] = detail(client, tenant, body["id"])["tasks"]
    [comment] = fake.comments(task["platform_post_id"])
    assert task["first_comment"]["status"] == "posted" and task["first_comment"]["id"] == comment["id"]
    assert len(fake.calls("POST", r"/comments$")) == 1
    assert event_types() == ["publish.comment_completed"]


def test_a_comment_lost_on_its_way_is_sent_once_herald_has_looked(fake, client, tenant, redis_client):
    fake.drop_connection_before(r"/comments$", method="POST")  # the request never reached Meta
    page = connect(client, tenant, "facebook", PAGE_TOKEN)
    body = publish(client, tenant, [page]).get_json()
    work(redis_client)
    [task] = detail(client, tenant, body["id"])["tasks"]
    fake.add_comment(task["platform_post_id"], COMMENT)  # a follower writing the same words is not the Page
    advance(redis_client, first_comments.CHECK_DELAY_SECONDS)
    assert work(redis_client) == 1
    [task] = detail(client, tenant, body["id"])["tasks"]
    assert task["first_comment"]["status"] == "posted" and task["first_comment"]["attempts"] == 2
    assert [comment["author"] for comment in fake.comments(task["platform_post_id"])] == ["17841499999999999",
                                                                                          PAGE_ID]


def test_herald_reads_every_page_of_comments_before_sending_again(fake, client, tenant, redis_client):
    fake.drop_connection_after(r"/comments$")
    page = connect(client, tenant, "facebook", PAGE_TOKEN)
    body = publish(client, tenant, [page]).get_json()
    work(redis_client)
    [task] = detail(client, tenant, body["id"])["tasks"]
    for number in range(250):  # newest first: the Page's comment is on the third page
        fake.add_comment(task["platform_post_id"], f"follower comment {number}")
    advance(redis_client, first_comments.CHECK_DELAY_SECONDS)
    work(redis_client)
    [task] = detail(client, tenant, body["id"])["tasks"]
    assert task["first_comment"]["status"] == "posted"
    assert task["first_comment"]["id"] == fake.comments(task["platform_post_id"])[0]["id"]
    reads = fake.calls("GET", r"/comments$")
    assert len(reads) == 3 and [read.params.get("after") is None for read in reads] == [True, False, False]
    assert len(fake.calls("POST", r"/comments$")) == 1


def test_too_many_comments_to_read_through_leave_it_unconfirmed(fake, client, tenant, redis_client, monkeypatch):
    from herald_graph import comments

    monkeypatch.setattr(comments, "MAX_PAGES", 2)
    fake.drop_connection_before(r"/comments$", method="POST")  # not there: only reading them all could tell
    page = connect(client, tenant, "facebook", PAGE_TOKEN)
    body = publish(client, tenant, [page]).get_json()
    work(redis_client)
    [task] = detail(client, tenant, body["id"])["tasks"]
    for number in range(201):
        fake.add_comment(task["platform_post_id"], f"follower comment {number}")
    advance(redis_client, first_comments.CHECK_DELAY_SECONDS)
    work(redis_client)
    [task] = detail(client, tenant, body["id"])["tasks"]
    assert task["first_comment"]["status"] == "unconfirmed"
    assert "more than 200 comments" in task["first_comment"]["error"]
    assert len(fake.calls("GET", r"/comments$")) == 2 and len(fake.calls("POST", r"/comments$")) == 1


def test_when_reading_the_comments_fails_for_now_herald_looks_again_later(fake, client, tenant, redis_client):
    fake.drop_connection_after(r"/comments$", method="POST")
    fake.fail_next(r"/comments$", method="GET", code=2)
    page = connect(client, tenant, "facebook", PAGE_TOKEN)
    body = publish(client, tenant, [page]).get_json()
    work(redis_client)
    advance(redis_client, first_comments.CHECK_DELAY_SECONDS)
    assert work(redis_client) == 1  # the look failed: still pending, nothing sent
    [task] = detail(client, tenant, body["id"])["tasks"]
    assert task["first_comment"]["status"] == "pending" and "Graph API error 2" in task["first_comment"]["error"]
    assert len(fake.calls("POST", r"/comments$")) == 1
    advance(redis_client, 3600)
    assert work(redis_client) == 1
    [task] = detail(client, tenant, body["id"])["tasks"]
    assert task["first_comment"]["status"] == "posted" and task["first_comment"]["attempts"] == 3
    assert len(fake.calls("POST", r"/comments$")) == 1 and len(fake.comments(task["platform_post_id"])) == 1


def test_a_lost_comment_stays_unconfirmed_when_the_comments_cannot_be_read(fake, client, tenant, redis_client):
    fake.drop_connection_after(r"/comments$")
    fake.fail_next(r"/comments$", method="GET", code=10,
                   message="(#10) This endpoint requires the 'pages_read_engagement' permission")
    page = connect(client, tenant, "facebook", PAGE_TOKEN)
    body = publish(client, tenant, [page]).get_json()
    work(redis_client)
    advance(redis_client, first_comments.CHECK_DELAY_SECONDS)
    work(redis_client)
    [task] = detail(client, tenant, body["id"])["tasks"]
    assert task["first_comment"]["status"] == "unconfirmed"
    assert "could not check whether the comment is already on facebook" in task["first_comment"]["error"]
    assert "pages_read_engagement" in task["first_comment"]["error"]
    assert "never posted twice" in task["first_comment"]["error"]
    assert len(fake.calls("POST", r"/comments$")) == 1
    with db.connection_context():
        chores.reconcile()
    assert work(redis_client) == 0 and len(fake.calls("POST", r"/comments$")) == 1
    assert event_types() == ["publish.comment_failed"]


def test_a_platform_that_cannot_look_never_sends_a_lost_comment_again(fake, client, tenant, redis_client,
                                                                       monkeypatch):
    from herald_facebook import FacebookPlatform

    monkeypatch.delattr(FacebookPlatform, "find_comment")  # as a third-party platform without it
    fake.drop_connection_after(r"/comments$")
    page = connect(client, tenant, "facebook", PAGE_TOKEN)
    body = publish(client, tenant, [page]).get_json()
    work(redis_client)
    [task] = detail(client, tenant, body["id"])["tasks"]
    assert task["first_comment"]["status"] == "unconfirmed"
    assert "never posted twice" in task["first_comment"]["error"]
    with db.connection_context():
        chores.reconcile()
    assert work(redis_client) == 0 and len(fake.calls("POST", r"/comments$")) == 1
    assert event_types() == ["publish.comment_failed"]


def test_the_reconciler_enqueues_a_comment_whose_job_redis_lost(fake, client, tenant, redis_client, app):
    page = connect(client, tenant, "facebook", PAGE_TOKEN)
    body = publish(client, tenant, [page]).get_json()
    worker = queue.make_worker(redis_client, [queue.PUBLISH_QUEUE])
    worker.work(burst=True, max_jobs=1, with_scheduler=False, logging_level="WARNING")  # the publish only
    redis_client.delete(*redis_client.keys("rq:job:herald-first_comment-*"))
    queue.get_queue(redis_client, queue.PUBLISH_QUEUE).empty()
    assert work(redis_client) == 0
    with app.app_context():
        assert chores.reconcile()["work"]["first_comment"] == 1
        assert chores.reconcile()["work"]["first_comment"] == 0  # its job is alive now
    assert work(redis_client) == 1
    [task] = detail(client, tenant, body["id"])["tasks"]
    assert task["first_comment"]["status"] == "posted"


def test_a_comment_job_left_from_before_the_upgrade_fails_harmlessly_and_the_reconciler_posts_it_once(
        fake, client, tenant, redis_client, app):
    """A job queued by an older Herald names a function that no longer imports
    (``herald.first_comments.run``, ids ``comment-<task>-<attempt>``): it fails in RQ without touching
    the row, and the reconciler gives the comment's row its job (here the only one: the new one is gone)."""
    page = connect(client, tenant, "facebook", PAGE_TOKEN)
    body = publish(client, tenant, [page]).get_json()
    worker = queue.make_worker(redis_client, [queue.PUBLISH_QUEUE])
    worker.work(burst=True, max_jobs=1, with_scheduler=False, logging_level="WARNING")  # the publish only
    [task_id] = [int(task["id"].removeprefix("task_")) for task in detail(client, tenant, body["id"])["tasks"]]
    redis_client.delete(*redis_client.keys("rq:job:herald-first_comment-*"))
    now = app.extensions["herald"].clock.now()
    assert queue.enqueue_job(redis_client, "herald.first_comments.run", task_id, job_id=f"comment-{task_id}-1",
                             due_at=None, job_timeout=120, description="a comment queued before the upgrade",
                             now=now)
    assert work(redis_client) == 1  # the old job, which fails
    [task] = detail(client, tenant, body["id"])["tasks"]
    assert task["first_comment"]["status"] == "pending" and not fake.calls("POST", r"/comments$")
    with app.app_context():
        assert chores.reconcile()["work"]["first_comment"] == 1
    assert work(redis_client) == 1
    [task] = detail(client, tenant, body["id"])["tasks"]
    assert task["first_comment"]["status"] == "posted" and task["first_comment"]["attempts"] == 1
    assert len(fake.calls("POST", r"/comments$")) == 1


def claim_comment(app, task_id: int) -> None:
    """Claim the comment of task ``task_id`` as a worker would (then that worker is lost)."""
    with db.connection_context():
        comment = FirstComment.get(FirstComment.task == task_id)
        assert kernel.claim(first_comments.KIND, comment.id, app.extensions["herald"].clock.now()) is not None


def lease_runs_out(redis_client, app) -> None:
    """Let the lease of a claimed comment run out, then reconcile: the comment's job recovers it."""
    advance(redis_client, first_comments.LEASE_SECONDS + 1)
    with app.app_context():
        assert chores.reconcile()["work"]["first_comment"] == 1
    assert work(redis_client) == 1


def claim_then_die(client, tenant, redis_client, app, body) -> int:
    """Publish, claim the comment as a worker would, then lose that worker; the task's id."""
    worker = queue.make_worker(redis_client, [queue.PUBLISH_QUEUE])
    worker.work(burst=True, max_jobs=1, with_scheduler=False, logging_level="WARNING")
    [task_id] = [int(task["id"].removeprefix("task_")) for task in detail(client, tenant, body["id"])["tasks"]]
    claim_comment(app, task_id)  # claimed, then the worker is killed
    queue.get_queue(redis_client, queue.PUBLISH_QUEUE).empty()
    with app.app_context():
        chores.reconcile()
    assert detail(client, tenant, body["id"])["tasks"][0]["first_comment"]["status"] == "posting"
    lease_runs_out(redis_client, app)
    return task_id


def test_a_comment_whose_worker_died_is_looked_for_then_sent(fake, client, tenant, redis_client, app):
    page = connect(client, tenant, "facebook", PAGE_TOKEN)
    body = publish(client, tenant, [page]).get_json()
    claim_then_die(client, tenant, redis_client, app, body)
    comment = detail(client, tenant, body["id"])["tasks"][0]["first_comment"]
    assert comment["status"] == "pending" and "stopped before it recorded" in comment["error"]
    advance(redis_client, 2)
    assert work(redis_client) == 1
    [task] = detail(client, tenant, body["id"])["tasks"]
    assert task["first_comment"]["status"] == "posted" and len(fake.comments(task["platform_post_id"])) == 1
    assert [call.method for call in fake.calls(path_regex=r"/comments$")] == ["GET", "POST"]


def test_a_comment_whose_worker_died_after_sending_it_is_found(fake, client, tenant, redis_client, app):
    from fakes.graph import PAGE_NAME

    page = connect(client, tenant, "facebook", PAGE_TOKEN)
    body = publish(client, tenant, [page]).get_json()
    worker = queue.make_worker(redis_client, [queue.PUBLISH_QUEUE])
    worker.work(burst=True, max_jobs=1, with_scheduler=False, logging_level="WARNING")
    [task] = detail(client, tenant, body["id"])["tasks"]
    sent = fake.add_comment(task["platform_post_id"], COMMENT, author=PAGE_ID, username=PAGE_NAME)
    claim_comment(app, int(task["id"].removeprefix("task_")))  # sent, then killed
    queue.get_queue(redis_client, queue.PUBLISH_QUEUE).empty()
    lease_runs_out(redis_client, app)
    advance(redis_client, 2)
    assert work(redis_client) == 1
    [task] = detail(client, tenant, body["id"])["tasks"]
    assert task["first_comment"]["status"] == "posted" and task["first_comment"]["id"] == sent
    assert fake.calls("POST", r"/comments$") == []


def test_a_worker_that_died_while_commenting_leaves_it_unconfirmed_without_a_way_to_look(
        fake, client, tenant, redis_client, app, monkeypatch):
    from herald_facebook import FacebookPlatform

    monkeypatch.delattr(FacebookPlatform, "find_comment")
    page = connect(client, tenant, "facebook", PAGE_TOKEN)
    body = publish(client, tenant, [page]).get_json()
    claim_then_die(client, tenant, redis_client, app, body)
    comment = detail(client, tenant, body["id"])["tasks"][0]["first_comment"]
    assert comment["status"] == "unconfirmed" and "stopped before it recorded" in comment["error"]
    assert fake.calls("POST", r"/comments$") == []


def test_instagram_first_comment_through_the_pipeline(fake, client, tenant, redis_client):
    from graph_drive import upload_jpeg

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
        comment = FirstComment.get(FirstComment.task == task)
    assert comment.status == "posted" and fake.comments(task.platform_post_id)[0]["message"] == COMMENT


def test_the_reconcilers_lookup_uses_an_index(app):
    """Every 30 s the reconciler looks for comments due soon: on SQLite that must be a search of the
    index of active comments by due time, not a scan (or a sort) of every comment ever posted."""
    if not isinstance(db.obj, pw.SqliteDatabase):
        pytest.skip("PostgreSQL picks its plan by table size")
    with app.app_context(), db.connection_context(), sql_sent() as statements:
        reconciler.reconcile_kind(app.extensions["herald"], first_comments.KIND)
        lookups = [sql for sql in statements if '"first_comment"' in sql]
        plans = [" ".join(row[-1] for row in db.execute_sql("EXPLAIN QUERY PLAN " + sql,
                                                             [None] * sql.count("?")).fetchall())
                 for sql in lookups]
    assert len(plans) == 2, lookups  # due now (no due_at), then due by the end of the lookahead
    assert all("USING INDEX first_comment_active_due" in plan and "TEMP B-TREE" not in plan for plan in plans), plans


def test_a_posts_first_comments_are_read_in_one_query_whatever_its_number_of_tasks(fake, client, tenant,
                                                                                    redis_client, app):
    from graph_drive import upload_jpeg

    accounts = [connect(client, tenant, "instagram", IG_TOKEN), connect(client, tenant, "facebook", PAGE_TOKEN)]
    body = publish(client, tenant, accounts, media=[upload_jpeg(client, tenant)]).get_json()
    work(redis_client)
    with sql_sent() as statements:
        post = detail(client, tenant, body["id"])
    assert [task["first_comment"]["status"] for task in post["tasks"]] == ["posted", "posted"]
    assert len([sql for sql in statements if 'FROM "first_comment"' in sql]) == 1, statements
