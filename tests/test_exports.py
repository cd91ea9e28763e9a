"""Exports: the posts CSV (quoting, formula-injection guard, every column, batches), the daily
analytics CSV and a client's JSON export; each scoped to the caller's workspace."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from conftest import assert_error
from drive import sql_sent
from herald.db.models import Account, Client, EngagementSnapshot, Post, PostVersion, PublishTask, Workspace, db, utcnow

NASTY = [
    "Plain caption",
    'Commas, "quotes" and\na newline',
    "=HYPERLINK(\"http://evil.example\",\"click\")",
    "+1 555 0100",
    "-2 for the price of one",
    "@SUM(A1:A9)",
    "\tleading tab",
    "\rleading carriage return",
]


def parse(response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True), newline="")))


def create_post(client, tenant, caption, topic="Topic", client_id=None):
    response = client.post("/api/webhooks", headers=tenant.headers, json={
        "action": "create_post", "client_id": client_id or tenant.client.id, "topic": topic, "caption": caption})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["post"]["id"]


def test_posts_csv_quotes_neutralises_formulas_and_has_every_column(client, tenant, make_tenant):
    ids = [create_post(client, tenant, caption, topic=f"-topic {index}") for index, caption in enumerate(NASTY)]
    engaged = ids[1]
    with db.connection_context():
        old = utcnow() - dt.timedelta(days=2)
        EngagementSnapshot.create(post=engaged, likes=1, comments=1, saves=1, shares=1, reach=10, recorded_at=old)
        EngagementSnapshot.create(post=engaged, likes=150, comments=23, saves=45, shares=12, reach=5000)
        Post.update(score=87.5, status="published", published_at=dt.datetime(2026, 3, 4, 5, 6, 7),
                    scheduled_at=dt.datetime(2026, 3, 4, 5, 0, 0)).where(Post.id == engaged).execute()
    other = make_tenant("Other agency")
    create_post(client, other, "not yours")

    response = client.get("/api/export/posts", headers=tenant.headers)
    assert response.is_streamed
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="herald-posts-')
    rows = parse(response)
    assert list(rows[0]) == ["id", "client_id", "topic", "caption", "type", "platforms", "status", "score", "likes",
                             "comments", "saves", "shares", "reach", "scheduled_at", "published_at", "created_at"]
    assert [int(row["id"]) for row in rows] == ids
    by_id = {int(row["id"]): row for row in rows}
    expected_captions = ["Plain caption", 'Commas, "quotes" and\na newline',
                         "'=HYPERLINK(\"http://evil.example\",\"click\")", "'+1 555 0100",
                         "'-2 for the price of one", "'@SUM(A1:A9)", "'\tleading tab", "'\rleading carriage return"]
    assert [by_id[post_id]["caption"] for post_id in ids] == expected_captions
    assert all(by_id[post_id]["topic"] == f"'-topic {index}" for index, post_id in enumerate(ids))
    with db.connection_context():
        created = {post.id: post.created_at for post in Post.select()}
    assert by_id[engaged] == {
        "id": str(engaged), "client_id": str(tenant.client.id), "topic": "'-topic 1",
        "caption": 'Commas, "quotes" and\na newline', "type": "post", "platforms": "", "status": "published",
        "score": "87.5", "likes": "150", "comments": "23", "saves": "45", "shares": "12", "reach": "5000",
        "scheduled_at": "2026-03-04T05:00:00Z", "published_at": "2026-03-04T05:06:07Z",
        "created_at": created[engaged].isoformat(timespec="seconds") + "Z"}
    plain = by_id[ids[0]]
    with db.connection_context():
        heuristic = Post.get_by_id(ids[0]).score  # scored when created
    assert heuristic is not None and plain["score"] == str(heuristic)
    assert [plain[name] for name in ("likes", "reach", "scheduled_at", "published_at")] == [""] * 4
    assert "not yours" not in response.get_data(as_text=True)


@pytest.mark.parametrize("moment", [dt.datetime(2026, 6, 1, 9, 0, 0, 999999), dt.datetime(2026, 12, 31, 23, 59, 59, 1),
                                    dt.datetime(999, 1, 2, 3, 4, 5), dt.datetime(2028, 2, 29, 0, 0, 0)])
def test_posts_csv_times_are_the_apis_text_written_by_the_database(client, tenant, moment):
    """The database writes the CSV's times (to the second, microseconds dropped as ``isoformat`` drops them)."""
    post_id = create_post(client, tenant, "timed")
    with db.connection_context():
        Post.update(scheduled_at=moment, published_at=moment - dt.timedelta(seconds=1), created_at=moment,
                    status="published").where(Post.id == post_id).execute()
        stored = Post.get_by_id(post_id)
    [row] = parse(client.get("/api/export/posts", headers=tenant.headers))
    expected = {name: getattr(stored, name).isoformat(timespec="seconds") + "Z"
                for name in ("scheduled_at", "published_at", "created_at")}
    assert {name: row[name] for name in expected} == expected


def test_posts_csv_for_one_client_and_bad_client_ids(client, tenant, make_tenant):
    with db.connection_context():
        second = Client.create(workspace=tenant.workspace.id, name="Second")
    mine = create_post(client, tenant, "first client's")
    theirs = create_post(client, tenant, "second client's", client_id=second.id)
    rows = parse(client.get(f"/api/export/posts?client_id={second.id}", headers=tenant.headers))
    assert [(int(row["id"]), row["caption"]) for row in rows] == [(theirs, "second client's")]
    assert mine != theirs
    assert_error(client.get("/api/export/posts?client_id=abc", headers=tenant.headers), 400, "validation_error",
                 "client_id")
    other = make_tenant("Other agency")
    assert_error(client.get(f"/api/export/posts?client_id={second.id}", headers=other.headers), 404, "not_found",
                 "client_id")
    reader = make_tenant("No scopes", scopes=["webhooks"])
    assert_error(client.get("/api/export/posts", headers=reader.headers), 403, "forbidden")


def test_posts_csv_reads_in_batches_without_a_query_per_post(app, client, tenant):
    with db.connection_context():
        now = utcnow()
        Post.insert_many([{"workspace": tenant.workspace.id, "client": tenant.client.id, "caption": f"post {n}",
                           "created_at": now, "updated_at": now} for n in range(1203)]).execute()
        ids = [post.id for post in Post.select(Post.id).order_by(Post.id)]
        EngagementSnapshot.insert_many([{"post": post_id, "likes": post_id, "recorded_at": now} for post_id in ids[::2]]
                                       ).execute()
    with sql_sent() as statements:
        rows = parse(client.get("/api/export/posts", headers=tenant.headers))
    assert [int(row["id"]) for row in rows] == ids
    assert [row["likes"] for row in rows[:4]] == [str(ids[0]), "", str(ids[2]), ""]
    selects = [sql for sql in statements if sql.lstrip().upper().startswith("SELECT")]
    assert len(selects) <= 12, len(selects)  # 3 batches of posts + 3 of engagement, plus auth


def day(offset: int, hour: int = 12) -> dt.datetime:
    today = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    return today - dt.timedelta(days=offset) + dt.timedelta(hours=hour)


def test_analytics_csv_has_every_day_and_attributes_engagement_to_the_publish_day(client, tenant, make_tenant):
    with db.connection_context():
        account = Account.create(workspace=tenant.workspace.id, platform="scripted", external_id="1",
                                 token_encrypted="x")

        def post(**fields):
            return Post.create(workspace=tenant.workspace.id, client=tenant.client.id, caption="c", **fields)

        published = post(created_at=day(5), published_at=day(3), status="published")
        EngagementSnapshot.create(post=published, likes=10, comments=2, saves=3, shares=5, reach=100,
                                  recorded_at=day(2))
        EngagementSnapshot.create(post=published, likes=40, comments=4, saves=4, shares=2, reach=200,
                                  recorded_at=day(1))  # the latest one counts, on the publish day
        elsewhere = post(created_at=day(2, hour=1))  # published outside Herald: counted on its creation day
        EngagementSnapshot.create(post=elsewhere, likes=1, reach=0, recorded_at=day(1))
        failed = post(created_at=day(1), status="failed")
        PublishTask.create(workspace=tenant.workspace.id, post=failed, account=account, platform="scripted",
                           status="failed", updated_at=day(1, hour=15))
        unsure = post(created_at=day(1), status="unconfirmed")  # may be live: counted beside the failed ones
        PublishTask.create(workspace=tenant.workspace.id, post=unsure, account=account, platform="scripted",
                           status="unconfirmed", updated_at=day(1, hour=16))
        PublishTask.create(workspace=tenant.workspace.id, post=published, account=account, platform="scripted",
                           status="published", updated_at=day(3))
        post(created_at=day(9))  # before the period
    other = make_tenant("Other agency")
    with db.connection_context():
        Post.create(workspace=other.workspace.id, client=other.client.id, caption="x", created_at=day(1),
                    published_at=day(1))

    response = client.get("/api/analytics/export?period=7", headers=tenant.headers)
    assert response.headers["Content-Disposition"].startswith('attachment; filename="herald-analytics-7d-')
    assert response.headers["X-Herald-Timezone"] == "UTC"
    rows = parse(response)
    assert list(rows[0]) == ["date", "posts_created", "posts_published", "failed_publishes", "unconfirmed_publishes",
                             "likes", "comments", "saves", "shares", "reach", "engagement_rate"]
    assert [row["date"] for row in rows] == [day(offset).date().isoformat() for offset in range(6, -1, -1)]
    table = {row["date"]: [row[name] for name in list(row)[1:]] for row in rows}
    zero = ["0", "0", "0", "0", "0", "0", "0", "0", "0", "0.00"]
    assert table == {
        day(6).date().isoformat(): zero,
        day(5).date().isoformat(): ["1", "0", "0", "0", "0", "0", "0", "0", "0", "0.00"],
        day(4).date().isoformat(): zero,
        day(3).date().isoformat(): ["0", "1", "0", "0", "40", "4", "4", "2", "200", "25.00"],
        day(2).date().isoformat(): ["1", "0", "0", "0", "1", "0", "0", "0", "0", "0.00"],
        day(1).date().isoformat(): ["2", "0", "1", "1", "0", "0", "0", "0", "0", "0.00"],
        day(0).date().isoformat(): zero,
    }


def test_analytics_days_follow_the_workspace_time_zone_and_period_is_checked(client, tenant):
    assert client.patch("/api/workspace", json={"timezone": "Pacific/Kiritimati"},  # UTC+14
                        headers=tenant.headers).status_code == 200
    with db.connection_context():
        late = day(1, hour=20)  # 20:00 UTC yesterday is 10:00 today in Kiritimati
        Post.create(workspace=tenant.workspace.id, client=tenant.client.id, caption="c", created_at=late)
    response = client.get("/api/analytics/export?period=2", headers=tenant.headers)
    assert response.headers["X-Herald-Timezone"] == "Pacific/Kiritimati"
    rows = parse(response)
    local_today = (utcnow() + dt.timedelta(hours=14)).date()
    local_day_of_post = (late + dt.timedelta(hours=14)).date()
    assert local_day_of_post != late.date()  # the post counts on its local day, not its UTC day
    assert [row["date"] for row in rows] == [(local_today - dt.timedelta(days=1)).isoformat(), local_today.isoformat()]
    assert {row["date"]: row["posts_created"] for row in rows}[local_day_of_post.isoformat()] == "1"
    assert sum(int(row["posts_created"]) for row in rows) == 1
    assert len(parse(client.get("/api/analytics/export", headers=tenant.headers))) == 30
    assert len(parse(client.get("/api/analytics/export?period=365", headers=tenant.headers))) == 365
    for bad in ("0", "366", "abc"):
        assert_error(client.get(f"/api/analytics/export?period={bad}", headers=tenant.headers), 400,
                     "validation_error", "period")


def test_analytics_for_one_client(client, tenant):
    with db.connection_context():
        second = Client.create(workspace=tenant.workspace.id, name="Second", timezone="UTC")
        Post.create(workspace=tenant.workspace.id, client=tenant.client.id, caption="a", created_at=day(0, 0))
        Post.create(workspace=tenant.workspace.id, client=second.id, caption="b", created_at=day(0, 0))
        Post.create(workspace=tenant.workspace.id, client=second.id, caption="c", created_at=day(0, 0))
    everyone = parse(client.get("/api/analytics/export?period=1", headers=tenant.headers))
    one = parse(client.get(f"/api/analytics/export?period=1&client_id={second.id}", headers=tenant.headers))
    assert [row["posts_created"] for row in everyone] == ["3"]
    assert [row["posts_created"] for row in one] == ["2"]


def test_client_export_has_posts_with_versions_engagement_and_tasks_but_no_tokens(client, tenant, make_tenant):
    post_id = create_post(client, tenant, "Hello, world")
    with db.connection_context():
        account = Account.create(workspace=tenant.workspace.id, platform="scripted", external_id="77",
                                 username="brand", token_encrypted="gAAAA-very-secret-ciphertext")
        PublishTask.create(workspace=tenant.workspace.id, post=post_id, account=account, platform="scripted",
                           status="failed", error="Meta said no")
        EngagementSnapshot.create(post=post_id, likes=3, reach=30, recorded_at=utcnow() - dt.timedelta(hours=1))
        EngagementSnapshot.create(post=post_id, likes=5, reach=50)
        second = Client.create(workspace=tenant.workspace.id, name="Second")
        Post.create(workspace=tenant.workspace.id, client=second.id, caption="other client's")

    response = client.get(f"/api/clients/{tenant.client.id}/export", headers=tenant.headers)
    assert response.status_code == 200
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith(f'attachment; filename="herald-client-{tenant.client.id}-')
    body = response.get_json()
    assert body["client"]["id"] == tenant.client.id and body["client"]["name"] == tenant.client.name
    assert body["exported_at"].endswith("Z")
    assert [post["id"] for post in body["posts"]] == [post_id]
    post = body["posts"][0]
    assert post["caption"] == "Hello, world"
    assert [version["number"] for version in post["versions"]] == [1]
    assert post["versions"][0]["changes"]["caption"] == {"before": None, "after": "Hello, world"}
    assert [(row["likes"], row["reach"]) for row in post["engagement"]] == [(3, 30), (5, 50)]
    assert [(task["account_id"], task["status"], task["error"]) for task in post["tasks"]] == [
        (f"acc_{account.id}", "failed", "Meta said no")]
    assert body["accounts"] == [{"id": f"acc_{account.id}", "platform": "scripted", "username": "brand",
                                 "status": "active", "status_reason": None, "token_expires_at": None,
                                 "checked_at": None, "created_at": body["accounts"][0]["created_at"]}]
    assert "very-secret" not in response.get_data(as_text=True)

    other = make_tenant("Other agency")
    assert_error(client.get(f"/api/clients/{tenant.client.id}/export", headers=other.headers), 404, "not_found")
    with db.connection_context():
        assert PostVersion.select().count() >= 1 and Workspace.select().count() == 2


@pytest.mark.parametrize("path", ["/api/export/posts", "/api/analytics/export", "/api/clients/1/export"])
def test_exports_need_a_key(client, tenant, path):
    assert_error(client.get(path), 401, "unauthorized")
