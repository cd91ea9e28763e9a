"""Row ids that name RQ jobs (and Redis keys, and platforms' idempotency keys) are never handed out
twice, so work created after rows were deleted is enqueued at once, not swallowed by the finished job
RQ still keeps under the same id (issue 19, item 5).

SQLite gave a new row the largest id in use plus one: after an endpoint was deleted (its deliveries
with it), the next delivery got the id of a deleted one, its job id collided with that delivery's
finished job (kept 300 s), and it arrived only when the reconciler came, 26 to 90 s later.
"""

from __future__ import annotations

import contextlib
import time

import pytest
from webhooks_drive import create_post, create_webhook, work

from herald.db.migrate import runner
from herald.db.models import Account, Post, PublishTask, Workspace, db, open_database
from herald.upgrading import plugin_runners, upgrade
from herald_webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

DELIVERED_WITHIN = 2.0  # seconds from the request that creates a delivery to its arrival


@pytest.fixture
def app(build_app, plugin):
    return build_app(webhook_allow_private=True)


def ids_of(model) -> set[int]:
    with db.connection_context():
        return {row.id for row in model.select(model.id)}


def test_endpoints_deleted_and_re_created_get_their_deliveries_at_once(client, tenant, receiver, redis_client):
    seen = {WebhookEndpoint: set(), WebhookDelivery: set(), WebhookAttempt: set()}
    secrets = []
    for round_number in range(3):
        hook = create_webhook(client, tenant, receiver.url())
        secrets.append(hook["secret"])
        for created_by in ("test", "event"):
            before = len(receiver.received())
            started = time.time()  # (the receiver stamps arrivals with time.time())
            if created_by == "test":
                response = client.post(f"/v1/webhooks/{hook['id']}/test", headers=tenant.headers)
                assert response.status_code == 202, response.get_json()
            else:
                create_post(client, tenant, caption=f"round {round_number}")
            work(redis_client)  # the worker runs what is queued: a swallowed job is simply not there
            assert len(receiver.received()) == before + 1, (round_number, created_by)
            assert receiver.received()[-1].received_at - started < DELIVERED_WITHIN
        for model, earlier in seen.items():
            now = ids_of(model)
            assert not now & earlier, f"{model.__name__} ids {sorted(now & earlier)} were handed out again"
            earlier |= now
        assert client.delete(f"/v1/webhooks/{hook['id']}", headers=tenant.headers).status_code == 204
    assert len(receiver.verified(*secrets)) == 6


def test_a_task_created_after_the_newest_was_deleted_is_published_at_once(client, tenant, plugin, redis_client):
    account = client.post("/v1/accounts", json={"platform": "scripted", "access_token": "tok_live_0001"},
                          headers=tenant.headers).get_json()["id"]
    seen: set[int] = set()
    for number in range(3):
        response = client.post("/v1/publish", headers=tenant.headers, json={
            "content": f"post {number}", "accounts": [account], "schedule": "now"})
        assert response.status_code == 201, response.get_json()
        work(redis_client)
        with db.connection_context():
            (task,) = PublishTask.select()
            assert task.status == "published", task.error
            assert task.id not in seen, f"task id {task.id} was handed out again"
            seen.add(task.id)
            Post.delete().execute()  # the post and its task go (as with a deleted workspace or account)
    assert [post["caption"] for post in plugin.platform.posts] == ["post 0", "post 1", "post 2"]


def test_the_migration_keeps_every_row_and_link_and_ids_go_on_from_the_largest(tmp_path):
    """An existing SQLite database: the tables are rebuilt with every row, id and foreign key."""
    database = open_database(f"sqlite:///{tmp_path / 'before.db'}")
    with database.connection_context():
        runner(database).up("0010_first_comments")
        dict(plugin_runners(database))["webhooks"].up("0001_initial")
    with bound(database):
        workspace = Workspace.create(name="w")
        account = Account.create(workspace=workspace, platform="scripted", external_id="1", token_encrypted="x")
        tasks = [as_of_then(database, PublishTask, workspace=workspace, post=Post.create(workspace=workspace),
                            account=account, platform="scripted", status="queued") for _ in range(3)]
        endpoint = WebhookEndpoint.create(workspace=workspace, url="https://example.com", secret_encrypted="x")
        delivery = as_of_then(database, WebhookDelivery, workspace=workspace, endpoint=endpoint,
                              event_type="webhook.test", message_id="msg_1", payload="{}")
        WebhookAttempt.create(workspace=workspace, endpoint=endpoint, delivery=delivery, number=1, trigger="manual")
    assert {"0011_ids_never_reused", "webhooks:0002_ids_never_reused"} <= set(upgrade(database))
    with bound(database):
        assert [task.id for task in PublishTask.select().order_by(PublishTask.id)] == [task.id for task in tasks]
        assert WebhookAttempt.get().delivery.endpoint.id == endpoint.id
        assert database.execute_sql("PRAGMA foreign_key_check").fetchall() == []
        PublishTask.delete().where(PublishTask.id == tasks[-1].id).execute()
        newer = PublishTask.create(workspace=workspace, post=tasks[-1].post_id, account=account, platform="scripted",
                                   status="queued")
        assert newer.id == tasks[-1].id + 1
        WebhookEndpoint.delete().execute()  # its delivery and attempt go with it
        assert WebhookDelivery.select().count() == WebhookAttempt.select().count() == 0
        again = WebhookEndpoint.create(workspace=workspace, url="https://example.com", secret_encrypted="x")
        assert again.id == endpoint.id + 1
        assert WebhookDelivery.create(workspace=workspace, endpoint=again, event_type="webhook.test",
                                      message_id="msg_2", payload="{}").id == delivery.id + 1
    database.close_all()


def as_of_then(database, model, **values):
    """A row of ``model`` written with only the columns its table has at this migration (later
    migrations add columns the model already names)."""
    present = {column.name for column in database.get_columns(model._meta.table_name)}
    row = {field: field.default() if callable(field.default) else field.default
           for field in model._meta.sorted_fields if field.default is not None}
    row.update({model._meta.fields[name]: value for name, value in values.items()})
    row = {field: field.db_value(value) for field, value in row.items() if field.column_name in present}
    columns = ", ".join(f'"{field.column_name}"' for field in row)
    cursor = database.execute_sql(f'INSERT INTO "{model._meta.table_name}" ({columns}) '
                                  f'VALUES ({", ".join("?" for _ in row)})', list(row.values()))
    return model(id=cursor.lastrowid, **values)  # not read back: its select would name the later columns


@contextlib.contextmanager
def bound(database):
    """The models bound to ``database`` inside the block (the test's own database is put back after)."""
    previous = db.obj
    db.initialize(database)
    try:
        with database.connection_context():
            yield
    finally:
        db.initialize(previous)
