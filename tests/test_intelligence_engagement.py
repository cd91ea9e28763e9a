"""Engagement: one push, batches of up to 1,000 with per-item results, history kept, and the
scheduled pull from Instagram and Facebook (fake Graph API, real RQ worker in this process)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from intel_data import make_post

from conftest import assert_error, start_app, with_changes
from drive import sql_sent, work
from fakes.graph import IG_TOKEN, IG_USER_ID, PAGE_ID, PAGE_TOKEN
from herald import chores, cron, crypto, hookimpl, plugins
from herald.db.models import Account, EngagementSnapshot, Event, PublishTask, db
from herald.intelligence import pull
from herald.work.queue import get_queue


def push_one(client, tenant, **body):
    return client.post("/api/intelligence/engagement", json=body, headers=tenant.headers)


def batch(client, tenant, items):
    return client.post("/api/intelligence/engagement/batch", json={"items": items}, headers=tenant.headers)


def snapshots(post_id: int) -> list[EngagementSnapshot]:
    with db.connection_context():
        return list(EngagementSnapshot.select().where(EngagementSnapshot.post == post_id)
                    .order_by(EngagementSnapshot.id))


def test_push_keeps_history_and_answers_with_the_rate(client, tenant):
    post_id = make_post(tenant, "Rye day", dt.datetime(2026, 3, 1, 9))
    first = push_one(client, tenant, post_id=post_id, likes=150, comments=23, saves=45, shares=12, reach=5000)
    assert first.status_code == 201
    body = first.get_json()
    assert body["engagement"]["likes"] == 150 and body["engagement"]["source"] == "api"
    assert body["engagement_rate"] == 0.046  # (150 + 23 + 45 + 12) / 5000
    second = push_one(client, tenant, post_id=f"post_{post_id}", likes=200, comments=30, saves=50, shares=20,
                      reach=6000).get_json()
    assert second["current"] == {"metrics": {"likes": 200, "comments": 30, "saves": 50, "shares": 20, "reach": 6000},
                                 "engagement_rate": 0.05, "snapshots": 2}
    assert [row.likes for row in snapshots(post_id)] == [150, 200]


def test_current_engagement_adds_the_newest_snapshot_of_each_source(client, tenant):
    post_id = make_post(tenant, "Rye day", dt.datetime(2026, 3, 1, 9))
    with db.connection_context():
        for likes, source in ((1, "instagram"), (7, "instagram"), (100, "action")):
            EngagementSnapshot.create(post=post_id, likes=likes, reach=10 * likes, source=source)
    pushed = push_one(client, tenant, post_id=post_id, likes=200, reach=2000).get_json()  # "api": replaces "action"
    assert pushed["current"]["metrics"] == {"likes": 207, "comments": 0, "saves": 0, "shares": 0, "reach": 2070}
    assert pushed["current"]["snapshots"] == 4


def test_an_omitted_metric_keeps_the_value_its_source_last_pushed(client, tenant):
    post_id = make_post(tenant, "Rye day", dt.datetime(2026, 3, 1, 9))
    with db.connection_context():  # a platform's own figures are another source: not mixed in
        EngagementSnapshot.create(post=post_id, likes=1, shares=50, reach=10, source="instagram")
    push_one(client, tenant, post_id=post_id, likes=150, comments=23, saves=45, shares=12, reach=5000)
    pushed = push_one(client, tenant, post_id=post_id, likes=160, reach=5100).get_json()
    assert pushed["engagement"] | {"recorded_at": None} == {
        "likes": 160, "comments": 23, "saves": 45, "shares": 12, "reach": 5100, "impressions": None,
        "source": "api", "recorded_at": None}
    assert pushed["current"]["metrics"] == {"likes": 161, "comments": 23, "saves": 45, "shares": 62, "reach": 5110}
    assert [(row.source, row.shares) for row in snapshots(post_id)] == [("instagram", 50), ("api", 12), ("api", 12)]


def test_a_batch_item_without_a_metric_keeps_its_last_value(client, tenant):
    post_id = make_post(tenant, "Rye day", dt.datetime(2026, 3, 1, 9))
    batch(client, tenant, [{"post_id": post_id, "likes": 10, "shares": 3, "reach": 100}])
    body = batch(client, tenant, [{"post_id": post_id, "likes": 11}, {"post_id": post_id, "reach": 120}]).get_json()
    assert body["succeeded"] == 2
    first, second = (row["engagement"] for row in body["results"])
    assert (first["likes"], first["shares"], first["reach"]) == (11, 3, 100)
    assert (second["likes"], second["shares"], second["reach"]) == (11, 3, 120)
    assert [(row.likes, row.shares, row.reach) for row in snapshots(post_id)] == [(10, 3, 100), (11, 3, 100),
                                                                                  (11, 3, 120)]


def test_push_errors(client, tenant, make_tenant):
    post_id = make_post(tenant, "Rye day", dt.datetime(2026, 3, 1, 9))
    assert_error(push_one(client, tenant, post_id=post_id), 400, "validation_error", "likes")
    assert_error(push_one(client, tenant, post_id=post_id, likes=-1), 400, "validation_error", "likes")
    assert_error(push_one(client, tenant, post_id=999, likes=1), 404, "not_found", "post_id")
    other = make_tenant("Other agency")
    assert_error(push_one(client, other, post_id=post_id, likes=1), 404, "not_found", "post_id")
    assert snapshots(post_id) == []


def test_batch_keeps_valid_items_and_reports_each_failure_by_index(client, tenant, make_tenant):
    mine = [make_post(tenant, f"Post {n}", dt.datetime(2026, 3, n + 1, 9)) for n in range(2)]
    theirs = make_post(make_tenant("Other agency"), "Theirs", dt.datetime(2026, 3, 1, 9))
    response = batch(client, tenant, [
        {"post_id": mine[0], "likes": 10, "reach": 100},
        {"post_id": theirs, "likes": 10, "reach": 100},
        {"post_id": mine[1], "likes": "many"},
        {"post_id": 424242, "likes": 1},
        {"post_id": mine[1]},
        "not an object",
        {"post_id": f"post_{mine[1]}", "comments": 4, "reach": 80, "extra": 1},
        {"post_id": f"post_{mine[1]}", "comments": 4, "reach": 80},
    ])
    assert response.status_code == 200
    body = response.get_json()
    assert (body["succeeded"], body["failed"]) == (2, 6)
    results = body["results"]
    assert [row["index"] for row in results] == list(range(8))
    assert [row["status"] for row in results] == ["created", "error", "error", "error", "error", "error", "error",
                                                  "created"]
    assert results[0]["engagement_rate"] == 0.1 and results[7]["engagement"]["comments"] == 4
    assert results[1]["error"]["code"] == "not_found" and results[1]["error"]["field"] == "post_id"
    assert (results[2]["error"]["code"], results[2]["error"]["field"]) == ("validation_error", "likes")
    assert results[3]["error"]["code"] == "not_found"
    assert results[4]["error"]["field"] == "likes" and "at least one metric" in results[4]["error"]["message"]
    assert results[5]["error"]["code"] == "validation_error"
    assert results[6]["error"]["field"] == "extra"
    assert [(row.likes, row.comments) for row in snapshots(mine[0])] == [(10, 0)]
    assert [(row.likes, row.comments) for row in snapshots(mine[1])] == [(0, 4)]
    with db.connection_context():
        assert Event.select().where(Event.type == "engagement.updated").count() == 2


def test_batch_limit_is_1000_items(client, tenant):
    post_id = make_post(tenant, "Busy post", dt.datetime(2026, 3, 1, 9))
    items = [{"post_id": post_id, "likes": n, "reach": 1000} for n in range(1001)]
    assert_error(batch(client, tenant, items), 400, "validation_error", "items")
    assert_error(batch(client, tenant, []), 400, "validation_error", "items")
    assert snapshots(post_id) == []
    body = batch(client, tenant, items[:1000]).get_json()
    assert (body["succeeded"], body["failed"]) == (1000, 0)
    assert len(snapshots(post_id)) == 1000


def test_engagement_needs_the_intelligence_scope(client, make_tenant):
    reader = make_tenant("Readers", scopes=["posts:read", "posts:write"])
    assert_error(push_one(client, reader, post_id=1, likes=1), 403, "forbidden")


# -- the scheduled pull from the platforms ---------------------------------------------------------

@pytest.fixture
def graph_app(clock, config, fake, tenant):
    """Herald on the fake Graph API; built after ``tenant``'s app, so jobs run in this process use it."""
    application = start_app(clock, with_changes(config, **fake.hosts(),
                                                 public_url="https://herald.test"))
    yield application
    db.obj.close_all()


def published_post(http, tenant, redis_client, platform: str, token: str) -> dict:
    account = http.post("/v1/accounts", json={"platform": platform, "access_token": token},
                        headers=tenant.headers).get_json()["id"]
    body = http.post("/v1/publish", json={"content": "Fresh bread at 7 #bakery", "accounts": [account]},
                     headers=tenant.headers).get_json()
    assert work(redis_client) == 1
    detail = http.get(f"/v1/posts/{body['id']}", headers=tenant.headers).get_json()
    assert detail["status"] == "published", detail
    return detail


def run_pull(redis_client) -> None:
    get_queue(redis_client).enqueue("herald.chores.pull_engagement")
    assert work(redis_client) == 1


def test_scheduled_pull_records_platform_metrics_as_history(graph_app, fake, tenant, redis_client):
    http = graph_app.test_client()
    fb = published_post(http, tenant, redis_client, "facebook", PAGE_TOKEN)
    fb_id = fb["tasks"][0]["platform_post_id"]
    assert fb_id == fake.published(PAGE_ID)[0]["id"]
    fake.set_metrics(fb_id, reactions=8, comments=2, shares=1, post_total_media_view_unique=90)
    run_pull(redis_client)
    post_id = int(fb["id"].removeprefix("post_"))
    [first] = snapshots(post_id)
    assert (first.source, first.likes, first.comments, first.shares, first.reach) == ("facebook", 8, 2, 1, 90)
    fake.set_metrics(fb_id, reactions=20, comments=5, shares=3, post_total_media_view_unique=200)
    run_pull(redis_client)
    assert [(row.source, row.likes, row.reach) for row in snapshots(post_id)] == [("facebook", 8, 90),
                                                                                   ("facebook", 20, 200)]
    with db.connection_context():
        assert Event.select().where(Event.type == "engagement.updated").count() == 2


def test_pull_covers_instagram_and_skips_old_posts(graph_app, fake, tenant, redis_client):
    http = graph_app.test_client()
    from graph_drive import upload_jpeg

    media = upload_jpeg(http, tenant)
    account = http.post("/v1/accounts", json={"platform": "instagram", "access_token": IG_TOKEN},
                        headers=tenant.headers).get_json()["id"]
    body = http.post("/v1/publish", json={"content": "Rye #bread", "accounts": [account], "media": [media],
                                          "client_id": tenant.client.id}, headers=tenant.headers).get_json()
    assert work(redis_client) == 1
    [media_row] = fake.published(IG_USER_ID)
    fake.set_metrics(media_row["id"], like_count=12, comments_count=3, reach=140, saved=9, shares=2)
    run_pull(redis_client)
    post_id = int(body["id"].removeprefix("post_"))
    [row] = snapshots(post_id)
    assert (row.source, row.likes, row.comments, row.saves, row.shares, row.reach) == ("instagram", 12, 3, 9, 2, 140)
    memory = http.get(f"/api/intelligence/memory?client_id={tenant.client.id}", headers=tenant.headers).get_json()
    assert memory["averages"]["engagement_rate"] == round(26 / 140, 6)
    with db.connection_context():  # published 31 days ago: outside the 30-day window
        long_ago = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=31)
        PublishTask.update(published_at=long_ago).execute()
    run_pull(redis_client)
    assert len(snapshots(post_id)) == 1


def test_pull_survives_a_platform_error_and_goes_on(graph_app, fake, tenant, redis_client):
    http = graph_app.test_client()
    fb = published_post(http, tenant, redis_client, "facebook", PAGE_TOKEN)
    fake.set_metrics(fb["tasks"][0]["platform_post_id"], reactions=4, post_total_media_view_unique=40)
    fake.fail_next(r"^/\d+_\d+$", code=2, method="GET")
    run_pull(redis_client)
    post_id = int(fb["id"].removeprefix("post_"))
    assert snapshots(post_id) == [] and fake.calls("GET", r"^/\d+_\d+$")[-1].status == 500
    run_pull(redis_client)  # the next run tries again
    assert [(row.likes, row.reach) for row in snapshots(post_id)] == [(4, 40)]


def test_the_pull_is_a_cron_job(config, redis_client):
    scheduler = cron.make_cron(redis_client, config)
    pull = [job for job in scheduler._cron_jobs if job.func is chores.pull_engagement]
    assert len(pull) == 1 and pull[0].interval == config.engagement_pull_interval_seconds == 3 * 3600


# -- what the pull costs the database ----------------------------------------------------------------

class MeteredPlatform:
    """Platform ``metered``: publishes nothing; every post it is asked about has 5 likes and a reach of 100."""

    name = "metered"
    post_types = ("post",)

    def __init__(self):
        self.asked: list[str] = []

    def publish(self, ctx):
        raise AssertionError("the pull never publishes")

    def fetch_metrics(self, account, platform_post_id, *, config):
        self.asked.append(platform_post_id)
        return {"likes": 5, "reach": 100}


class MeteredPlugin:
    def __init__(self):
        self.platform = MeteredPlatform()

    @hookimpl
    def register_platforms(self, register):
        register(self.platform)


@pytest.fixture
def metered(clock, config, tenant):
    """(the application state, the platform): Herald with only the built-in plugins and ``metered``,
    so what the database sees is the pull's own work (a webhook sink reads its endpoints per event)."""
    before = set(plugins._managers)
    pm = plugins.get_plugin_manager(only=())
    plugin = MeteredPlugin()
    pm.register(plugin, name="metered")
    application = start_app(clock, dataclasses.replace(config, plugins=()))
    yield application.extensions["herald"], plugin.platform
    db.obj.close_all()
    for key in set(plugins._managers) - before:  # managers are cached per HERALD_PLUGINS for the process
        plugins._managers.pop(key)


def metered_account(state, tenant, **fields) -> Account:
    with db.connection_context():
        return Account.create(workspace=tenant.workspace.id, platform="metered",
                              external_id=f"m{Account.select().count()}",
                              token_encrypted=crypto.encrypt(state.config.resolved_secret_key(), "token"), **fields)


def publish_metered(tenant, account: Account, count: int) -> list[int]:
    """``count`` posts published to ``account`` an hour ago; returns their ids."""
    when = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=1)
    ids = [make_post(tenant, f"Loaf {n}", when, platforms=("metered",)) for n in range(count)]
    with db.connection_context():
        for post_id in ids:
            PublishTask.create(workspace=tenant.workspace.id, post=post_id, account=account.id, platform="metered",
                               status="published", platform_post_id=f"mp_{post_id}", published_at=when)
    return ids


def pull_counting_statements(state) -> tuple[dict[str, int], list[str]]:
    """Run the pull; returns its counts and every SQL statement it sent."""
    with sql_sent() as sent, db.connection_context():
        counts = pull.pull(state)
    return counts, sent


def test_the_pull_sends_as_many_statements_for_40_posts_as_for_20(metered, tenant):
    state, platform = metered
    account = metered_account(state, tenant)
    first = publish_metered(tenant, account, 20)
    counts, twenty = pull_counting_statements(state)
    assert counts == {"recorded": 20}
    second = publish_metered(tenant, account, 20)
    counts, forty = pull_counting_statements(state)
    assert counts == {"recorded": 40}
    # The tasks with their accounts; the last values of each source; the snapshots; their events; the
    # events marked dispatched.
    assert len(forty) == len(twenty) == 5, forty
    assert sorted(platform.asked) == sorted([f"mp_{post_id}" for post_id in first] * 2
                                            + [f"mp_{post_id}" for post_id in second])
    with db.connection_context():  # the history and the events, as one pull per post would have left them
        rows = list(EngagementSnapshot.select().order_by(EngagementSnapshot.id))
        assert [(row.post_id, row.source, row.likes, row.reach) for row in rows] == (
            [(post_id, "metered", 5, 100) for post_id in first + first + second])
        updates = list(Event.select().where(Event.type == "engagement.updated").order_by(Event.id))
    assert [(event.workspace_id, event.data["post_id"]) for event in updates] == (
        [(tenant.workspace.id, f"post_{post_id}") for post_id in first + first + second])
    assert all(event.dispatched_at is not None for event in updates)
    assert updates[-1].data["engagement"]["likes"] == 5 and updates[-1].data["engagement"]["source"] == "metered"


def test_the_pull_writes_a_batch_at_a_time_and_checks_each_account_once(metered, tenant, monkeypatch):
    state, platform = metered
    monkeypatch.setattr(pull, "BATCH", 3)
    posts = publish_metered(tenant, metered_account(state, tenant), 7)
    expired = metered_account(state, tenant, token_expires_at=dt.datetime(2000, 1, 1))
    publish_metered(tenant, expired, 4)
    counts, sent = pull_counting_statements(state)
    assert counts == {"recorded": 7, "account_unusable": 4}
    assert sum(sql.startswith("UPDATE \"account\"") for sql in sent) == 1  # marked expired once
    with db.connection_context():
        assert [row.post_id for row in EngagementSnapshot.select().order_by(EngagementSnapshot.id)] == posts
        assert Account.get_by_id(expired.id).status == "expired"
        assert Event.select().where(Event.dispatched_at.is_null()).count() == 0
