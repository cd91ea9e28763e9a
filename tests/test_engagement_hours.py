"""The per-hour engagement aggregates (:mod:`herald.db.engagement_hours`) agree with a recomputation from
scratch after a random mix of writes (the API, the worker, and rows written directly: snapshots recorded
out of order, tasks moved, posts moved and deleted), and the answers read from them (``GET /v1/analytics``,
the portal's stats and chart) equal those of walking the posts and snapshots, in several time zones."""

from __future__ import annotations

import datetime as dt
import random
import threading
from zoneinfo import ZoneInfo

import pytest
from migration_support import database_migrated_to
from peewee import Table, fn

from drive import advance, work
from herald import PublishOutcome
from herald.db import daily_figures, engagement_hours, post_counts
from herald.db.migrate import runner
from herald.db.models import (
    Account,
    Client,
    EngagementOwnerHour,
    EngagementSnapshot,
    Post,
    PublishTask,
    Workspace,
    db,
    utcnow,
    write_transaction,
)
from herald.intelligence import analytics_summary, engagement_chart
from herald.portal import page
from herald.publishing.engagement_figures import latest_by_post
from herald.publishing.posts import EngagementReading, record_engagement, record_engagements

ZONES = ("UTC", "Asia/Tokyo", "America/New_York", "Europe/Paris", "Pacific/Auckland")
STATUSES = ("published", "partially_published", "failed", "unconfirmed", "queued", "pending_approval", "draft",
            "rejected")
BASE = dt.datetime(2026, 10, 1)


@pytest.fixture
def app(build_app, plugin):
    """The application, with the scripted platform installed."""
    return build_app()


@pytest.fixture
def platform(plugin):
    return plugin.platform


def agree(workspace_id: int | None = None) -> list[tuple]:
    """The stored rows, after checking they equal a recomputation from scratch."""
    with db.connection_context():
        stored = engagement_hours.stored(db.obj, workspace_id)
        assert stored == engagement_hours.recompute(db.obj, workspace_id)
    return stored


def answers_agree(workspace_id: int, clients: list[int], nows: list[dt.datetime]) -> int:
    """The analytics figures, the portal's chart and its stats from the aggregates equal a walk of the rows,
    for every client, zone and moment given; returns how many comparisons read the aggregates."""
    read = 0
    with db.connection_context():
        for now in nows:
            for timezone in ZONES:
                zone = ZoneInfo(timezone)
                for period in (1, 7, 30, 90):
                    today = now.replace(tzinfo=dt.UTC).astimezone(zone).date()
                    start = analytics_summary._utc(today - dt.timedelta(days=period - 1), zone)
                    end = analytics_summary._utc(today + dt.timedelta(days=1), zone)
                    for scope in (None, *clients):
                        figures = analytics_summary.from_hours(workspace_id, scope, start, end, zone)
                        assert figures == analytics_summary.walk(workspace_id, scope, start, end, zone), \
                            (now, timezone, period, scope)
                        read += 1
                for client_id in clients:
                    shown = [row.id for row in Post.select(Post.id).where(
                        (Post.workspace == workspace_id) & (Post.client == client_id)
                        & Post.status.in_(list(page.SHOWN)))]
                    series = engagement_chart.client_daily_interactions(workspace_id, client_id, page.SHOWN, 30,
                                                                        now, zone)
                    assert series == engagement_chart.daily_interactions(shown, 30, now, zone), (now, timezone)
        for client_id in clients:
            shown = [row.id for row in Post.select(Post.id).where(
                (Post.workspace == workspace_id) & (Post.client == client_id) & Post.status.in_(list(page.SHOWN)))]
            totals = {name: 0 for name in page.METRICS}
            for snapshot in latest_by_post(shown).values():
                for name in page.METRICS:
                    totals[name] += getattr(snapshot, name) or 0
            assert page.engagement_totals(workspace_id, client_id) == totals
            counted = dict(Post.select(Post.status, fn.COUNT(Post.id)).where(
                (Post.workspace == workspace_id) & (Post.client == client_id)).group_by(Post.status).tuples())
            assert post_counts.by_status(workspace_id, client_id) == counted
    return read


def connect(client, tenant, token):
    response = client.post("/v1/accounts", json={"platform": "scripted", "access_token": token},
                           headers=tenant.headers)
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()["id"]


def test_aggregates_agree_after_a_random_mix_of_api_and_worker_operations(client, tenant, platform, redis_client):
    rng = random.Random(25035)
    accounts = [connect(client, tenant, f"tok_live_{n:04d}") for n in range(3)]
    with db.connection_context():
        second = Client.create(workspace=tenant.workspace.id, name="Second", timezone="Asia/Tokyo")
        clients = [tenant.client.id, second.id]
    posts: list[str] = []
    for _ in range(50):
        operation = rng.choice(["now", "now", "later", "reschedule", "cancel", "work", "work", "engagement",
                                "engagement", "batch", "advance"])
        if operation in ("now", "later"):
            later = utcnow() + dt.timedelta(hours=rng.randint(1, 72))
            when = "now" if operation == "now" else later.isoformat() + "Z"
            body = {"content": "Hello", "accounts": rng.sample(accounts, rng.randint(1, 3)), "schedule": when}
            if rng.random() < 0.8:
                body["client_id"] = rng.choice(clients)
            response = client.post("/v1/publish", json=body, headers=tenant.headers)
            assert response.status_code == 201, response.get_json()
            posts.append(response.get_json()["id"])
        elif operation == "reschedule" and posts:
            moved = (utcnow() + dt.timedelta(days=rng.randint(1, 9))).isoformat() + "Z"
            client.patch(f"/v1/posts/{rng.choice(posts)}", json={"schedule": moved}, headers=tenant.headers)
        elif operation == "cancel" and posts:
            client.delete(f"/v1/posts/{rng.choice(posts)}", headers=tenant.headers)
        elif operation == "work":
            platform.script.extend(rng.choice([PublishOutcome.published(f"sp_{rng.randint(1, 10**9)}"),
                                               PublishOutcome.permanent("Rejected by the platform"),
                                               PublishOutcome.transient("Try later")]) for _ in range(3))
            work(redis_client)
        elif operation == "engagement" and posts:
            metrics = {name: rng.randint(0, 500) for name in rng.sample(["likes", "comments", "saves", "shares",
                                                                         "reach", "impressions"], rng.randint(1, 6))}
            response = client.post("/api/intelligence/engagement", json={"post_id": rng.choice(posts), **metrics},
                                   headers=tenant.headers)
            assert response.status_code in (200, 201), response.get_json()
        elif operation == "batch" and posts:
            items = [{"post_id": rng.choice(posts), "likes": rng.randint(0, 90), "reach": rng.randint(0, 900)}
                     for _ in range(rng.randint(1, 6))]
            response = client.post("/api/intelligence/engagement/batch", json={"items": items},
                                   headers=tenant.headers)
            assert response.status_code in (200, 201, 207), response.get_json()
        elif operation == "advance":
            advance(redis_client, rng.choice([600, 3600, 86400]))
            work(redis_client)
    work(redis_client)
    stored = agree(tenant.workspace.id)
    assert any(row[0] == engagement_hours.GAINS for row in stored)
    now = utcnow()
    assert answers_agree(tenant.workspace.id, clients, [now, now + dt.timedelta(days=2)]) > 0
    with db.connection_context():
        Workspace.delete().where(Workspace.id == tenant.workspace.id).execute()
        assert not EngagementOwnerHour.select().where(EngagementOwnerHour.workspace_id == tenant.workspace.id).exists()
    agree()


def test_aggregates_and_answers_agree_after_random_rows_written_directly(tenant):
    """Snapshots from pulls and pushes recorded out of order, posts on several platforms and accounts (some
    without tasks), tasks added, moved and deleted, posts moved, re-statused and deleted."""
    rng = random.Random(2503)
    workspace_id = tenant.workspace.id

    def moment() -> dt.datetime:
        return BASE + dt.timedelta(minutes=rng.randint(0, 60 * 24 * 70), seconds=rng.choice([0, 0, 17]))

    def has_task(post: Post, account: Account) -> bool:
        return PublishTask.select().where((PublishTask.post == post) & (PublishTask.account == account)).exists()

    with db.connection_context():
        second = Client.create(workspace=workspace_id, name="Second")
        clients = [tenant.client.id, second.id]
        accounts = [Account.create(workspace=workspace_id, platform=platform, external_id=f"{platform}{n}",
                                   username=f"{platform}_{n}", token_encrypted="x")
                    for platform in ("instagram", "facebook") for n in range(2)]
        posts: list[Post] = []
        for _ in range(220):
            operation = rng.choice(["post", "post", "snapshot", "snapshot", "snapshot", "snapshot", "task",
                                    "task_move", "task_delete", "status", "move", "delete"])
            if operation == "post" or not posts:
                published = moment() if rng.random() < 0.7 else None
                post = Post.create(workspace=workspace_id, client=rng.choice([*clients, None]), caption="c",
                                   status=rng.choice(STATUSES), published_at=published,
                                   scheduled_at=moment() if rng.random() < 0.4 else None, created_at=moment(),
                                   platforms=rng.choice([[], ["instagram"], ["facebook"], ["instagram", "facebook"],
                                                         ["instagram", "instagram"]]))
                for account in rng.sample(accounts, rng.choice([0, 1, 1, 2, 3])):
                    PublishTask.create(workspace=workspace_id, post=post, account=account, platform=account.platform,
                                       status="published")
                posts.append(post)
            elif operation == "snapshot":
                metrics = {name: rng.randint(0, 400) for name in ("likes", "comments", "saves", "shares", "reach")}
                EngagementSnapshot.create(post=rng.choice(posts), source=rng.choice(["api", "action", "instagram",
                                                                                      "facebook", "api"]),
                                          recorded_at=moment(), impressions=rng.choice([None, rng.randint(0, 900)]),
                                          **metrics)
            elif operation == "task":
                post, account = rng.choice(posts), rng.choice(accounts)
                if not has_task(post, account):
                    PublishTask.create(workspace=workspace_id, post=post, account=account, platform=account.platform,
                                       status="published")
            elif operation == "task_move":
                task = PublishTask.select().where(PublishTask.workspace == workspace_id).order_by(
                    PublishTask.id).offset(rng.randint(0, 20)).first()
                post, account = rng.choice(posts) if rng.random() < 0.3 else None, rng.choice(accounts)
                if task is not None and not has_task(post or task.post, account):
                    task.account, task.platform, task.post = account, account.platform, post or task.post
                    task.save()
            elif operation == "task_delete":
                PublishTask.delete().where(PublishTask.id == PublishTask.select(PublishTask.id).where(
                    PublishTask.workspace == workspace_id).order_by(PublishTask.id.desc()).limit(1)).execute()
            elif operation == "status":
                Post.update(status=rng.choice(STATUSES)).where(Post.id == rng.choice(posts).id).execute()
            elif operation == "move":
                changes = rng.choice([{"client": rng.choice([*clients, None])}, {"published_at": moment()},
                                      {"published_at": None}, {"platforms": ["facebook"]}])
                Post.update(**changes).where(Post.id == rng.choice(posts).id).execute()
            elif operation == "delete":
                gone = posts.pop(rng.randrange(len(posts)))
                Post.delete().where(Post.id == gone.id).execute()
    stored = agree(workspace_id)
    assert {row[0] for row in stored} == set(engagement_hours.TABLES)
    nows = [BASE + dt.timedelta(days=days, hours=rng.randint(0, 23)) for days in (3, 20, 41, 66, 75)]
    assert answers_agree(workspace_id, clients, nows) > 0


def test_zones_whose_hours_are_not_utc_hours_are_read_by_walking(tenant):
    with db.connection_context():
        post = Post.create(workspace=tenant.workspace.id, client=tenant.client.id, caption="c", status="published",
                           published_at=dt.datetime(2026, 10, 5, 9, 40))
        record_engagement(post, {"likes": 3, "reach": 10}, "api")
        start, end = dt.datetime(2026, 10, 4, 18, 30), dt.datetime(2026, 10, 5, 18, 30)  # a day in Kolkata
        kolkata = ZoneInfo("Asia/Kolkata")
        assert analytics_summary.from_hours(tenant.workspace.id, None, start, end, kolkata) is None
        now = dt.datetime(2026, 10, 5, 12)
        assert engagement_chart.client_daily_interactions(tenant.workspace.id, tenant.client.id, page.SHOWN, 30,
                                                          now, kolkata) is None
        answer = analytics_summary.summary(tenant.workspace.id, 1, client_id=None, timezone="Asia/Kolkata", now=now)
        assert answer["totals"]["likes"] == 3 and answer["totals"]["posts"] == 1


def test_rebuild_and_repair_recompute_rows_changed_behind_the_triggers(tenant):
    with db.connection_context():
        post = Post.create(workspace=tenant.workspace.id, client=tenant.client.id, caption="c", status="published",
                           published_at=utcnow())
        record_engagement(post, {"likes": 3, "reach": 10}, "api")
        assert not engagement_hours.repair(db.obj, tenant.workspace.id)
        EngagementSnapshot.update(likes=50).where(EngagementSnapshot.post == post.id).execute()  # behind the triggers
        assert engagement_hours.stored(db.obj) != engagement_hours.recompute(db.obj)
        assert engagement_hours.repair(db.obj, tenant.workspace.id)
        assert page.engagement_totals(tenant.workspace.id, tenant.client.id)["likes"] == 50
        EngagementOwnerHour.delete().execute()
        assert engagement_hours.rebuild(db.obj, tenant.workspace.id) >= 4
    agree()


def test_concurrent_engagement_for_one_post_keeps_the_sums_exact(client, tenant):
    with db.connection_context():
        posts = [Post.create(workspace=tenant.workspace.id, client=tenant.client.id, caption="c", status="published",
                             published_at=utcnow()) for _ in range(2)]
    start, errors = threading.Barrier(6), []

    def push(number: int) -> None:
        try:
            start.wait()
            for round_ in range(6):
                with db.connection_context(), write_transaction():
                    post = Post.get_by_id(posts[(number + round_) % 2].id)
                    record_engagement(post, {"likes": number * 10 + round_, "reach": 100 + round_}, "api")
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=push, args=(number,)) for number in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    agree(tenant.workspace.id)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_at_0032(request, tmp_path):
    """A database migrated to 0032 (SQLite, or a PostgreSQL database of its own when HERALD_TEST_POSTGRES is set)."""
    yield from database_migrated_to(request.param, tmp_path, "0032_intelligence_revisions")


def test_the_migration_fills_the_tables_and_goes_down_and_up_again(database_at_0032):
    database = database_at_0032
    # Rows written without today's models (later migrations may add columns).
    post = Table("post", ("id", "workspace_id", "client_id", "topic", "caption", "post_type", "platforms", "media",
                          "status", "created_at", "updated_at", "published_at")).bind(database)
    workspace = Table("workspace", ("id", "name", "plan", "settings", "created_at")).bind(database)
    now = dt.datetime(2026, 6, 1, 9, 30)

    def add_post(likes: int) -> None:
        post.insert(workspace_id=1, client_id=None, topic="", caption="Hi", post_type="post", platforms="[]",
                    media="[]", status="published", created_at=now, updated_at=now, published_at=now).execute()
        post_id = database.execute_sql("SELECT MAX(id) FROM post").fetchone()[0]
        database.execute_sql(f"INSERT INTO engagement_snapshot (post_id, likes, comments, saves, shares, reach, "
                             f"source, recorded_at) VALUES ({int(post_id)}, {likes}, 0, 0, 0, 10, 'api', "
                             "'2026-06-02 10:00:00')")

    def totals() -> tuple:
        return database.execute_sql("SELECT SUM(posts), SUM(likes) FROM engagement_owner_hour "
                                    "WHERE client_id = 0").fetchone()

    migration = "0035_engagement_hours"
    with database.connection_context():
        workspace.insert(id=1, name="w", plan="free", settings="{}", created_at=now).execute()
        add_post(4)
        runner(database).up(migration)
        assert totals() == (1, 4)
        add_post(5)
        assert totals() == (2, 9)
        assert engagement_hours.stored(database) == engagement_hours.recompute(database)
        runner(database).down(migration)
        assert not set(engagement_hours.TABLES) & set(database.get_tables())
        add_post(6)  # no trigger left behind
        runner(database).up(migration)
        assert totals() == (3, 15)
        assert engagement_hours.stored(database) == engagement_hours.recompute(database)


def test_a_snapshot_recorded_out_of_order_moves_the_gain_of_the_one_after_it(tenant):
    """Day 1: 10 interactions, day 3: 30; a snapshot of day 2 (25) recorded last gains 15 on day 2 and leaves
    day 3 with 5, as the walk of the snapshots in time order counts them."""
    now = dt.datetime(2026, 10, 4, 12)
    with db.connection_context():
        post = Post.create(workspace=tenant.workspace.id, client=tenant.client.id, caption="c", status="published",
                           published_at=dt.datetime(2026, 10, 1, 8))
        for day, likes in ((1, 10), (3, 30), (2, 25)):
            EngagementSnapshot.create(post=post, likes=likes, recorded_at=dt.datetime(2026, 10, day, 9))
        series = engagement_chart.client_daily_interactions(tenant.workspace.id, tenant.client.id, page.SHOWN, 4,
                                                            now, ZoneInfo("UTC"))
        assert [value for _, value in series] == [10, 15, 5, 0]
        assert series == engagement_chart.daily_interactions([post.id], 4, now)
        assert page.engagement_totals(tenant.workspace.id, tenant.client.id)["likes"] == 30
    agree()


def test_the_largest_counts_the_api_accepts_add_up_without_overflow(client, tenant):
    """Each count is at most 2,147,483,647 (PostgreSQL's integer); their sums are not, in the triggers and in
    the reads (the fuzzer found PostgreSQL's "integer out of range" as a 500)."""
    biggest = 2147483647
    with db.connection_context():
        posts = [Post.create(workspace=tenant.workspace.id, client=tenant.client.id, caption="c", status="published",
                             published_at=utcnow() - ago) for ago in (dt.timedelta(hours=30), dt.timedelta(seconds=1))]
    for post in posts:  # the second in the current hour: health walks its row (the first is in the sums)
        for likes in (biggest - 1, biggest):  # a second snapshot: the gain is a difference of two such sums
            response = client.post("/api/intelligence/engagement", headers=tenant.headers,
                                   json={"post_id": post.id, "likes": likes, "comments": biggest, "saves": biggest,
                                         "shares": biggest, "reach": biggest, "impressions": biggest})
            assert response.status_code == 201, response.get_json()
    agree()
    for path in ("/api/workspace/health", f"/api/clients/{tenant.client.id}/health",
                 f"/v1/analytics?client_id={tenant.client.id}&period=7", "/api/analytics/export?period=7"):
        response = client.get(path, headers=tenant.headers)
        assert response.status_code == 200, (path, response.get_data(as_text=True)[:300])
    body = client.get(f"/v1/analytics?client_id={tenant.client.id}&period=7", headers=tenant.headers).get_json()
    assert body["totals"]["interactions"] == 2 * 4 * biggest


# -- a new snapshot that is its owner's newest: the triggers add the difference (the fast path) ----------

T = [dt.datetime(2026, 10, 2, hour, 30) for hour in range(8)]  # recorded_at values, in order


def _post(tenant, platforms: list[str], accounts: list[Account]) -> Post:
    post = Post.create(workspace=tenant.workspace.id, client=tenant.client.id, caption="c", status="published",
                       platforms=platforms, published_at=dt.datetime(2026, 10, 1, 8, 15))
    for account in accounts:
        PublishTask.create(workspace=tenant.workspace.id, post=post, account=account, platform=account.platform,
                           status="published")
    return post


def _accounts(tenant) -> dict[str, Account]:
    return {name: Account.create(workspace=tenant.workspace.id, platform=platform, external_id=name,
                                 username=name, token_encrypted="x")
            for name, platform in (("ig", "instagram"), ("fb", "facebook"), ("ig2", "instagram"))}


def _snap(post: Post, source: str, at: dt.datetime, likes: int, impressions: int | None = None) -> None:
    EngagementSnapshot.create(post=post, source=source, recorded_at=at, likes=likes, comments=likes % 7,
                              saves=1, shares=likes % 3, reach=likes * 10, impressions=impressions)


FAST_PATH_CASES = {
    # each step: (source, index into T, likes[, impressions]) or a string naming another write
    "newest after newest": [("instagram", 0, 5), ("instagram", 1, 9, 40), ("instagram", 2, 7), ("instagram", 3, 30)],
    "out of order": [("instagram", 0, 5), ("instagram", 3, 30), ("instagram", 1, 9), ("instagram", 2, 12),
                     ("instagram", 4, 31)],
    "same recorded_at": [("instagram", 1, 5), ("instagram", 1, 8), ("instagram", 1, 2, 10), ("instagram", 0, 50)],
    "a second owner": [("instagram", 0, 5), ("facebook", 1, 3), ("facebook", 2, 4, 5), ("instagram", 3, 6)],
    "newest for one owner, not another": [("instagram", 3, 5), ("facebook", 1, 3), ("facebook", 2, 8),
                                          ("instagram", 2, 40), ("facebook", 0, 1), ("facebook", 4, 2)],
    "status changes between snapshots": [("instagram", 0, 5), "failed", ("instagram", 1, 9), "published",
                                         ("instagram", 2, 4), "draft", ("facebook", 3, 1), ("facebook", 4, 7)],
    "pushed figures beside pulled ones": [("api", 0, 5), ("api", 1, 7), ("instagram", 2, 3), ("action", 3, 9),
                                          ("facebook", 4, 2), ("api", 5, 1), ("instagram", 1, 8)],
    "tasks change between snapshots": [("instagram", 0, 5), ("api", 1, 2), "task on facebook", ("api", 2, 6),
                                       ("instagram", 3, 8), "task moved to ig2", ("instagram", 4, 9), ("api", 5, 3)],
    "the post moves between snapshots": [("instagram", 0, 5), "moved", ("instagram", 1, 6), ("facebook", 2, 2),
                                         "moved", ("facebook", 3, 4)],
}


@pytest.mark.parametrize("case", FAST_PATH_CASES)
def test_each_snapshot_keeps_the_aggregates_exact(tenant, case):
    """After every write of the case, on a post with one Instagram task (and a post without tasks naming
    both platforms, whose pushed figures have no owner), the rows equal a recomputation."""
    with db.connection_context():
        accounts = _accounts(tenant)
        posts = [_post(tenant, ["instagram"], [accounts["ig"]]), _post(tenant, ["instagram", "facebook"], [])]
        for post in posts:
            for step in FAST_PATH_CASES[case]:
                if step in STATUSES:
                    Post.update(status=step).where(Post.id == post.id).execute()
                elif step == "moved":
                    Post.update(published_at=T[0] + dt.timedelta(days=3)).where(Post.id == post.id).execute()
                elif step == "task on facebook":
                    PublishTask.create(workspace=tenant.workspace.id, post=post, account=accounts["fb"],
                                       platform="facebook", status="published")
                elif step == "task moved to ig2":
                    PublishTask.update(account=accounts["ig2"]).where(
                        (PublishTask.post == post) & (PublishTask.account == accounts["ig"])).execute()
                else:
                    source, at, likes, *impressions = step
                    _snap(post, source, T[at], likes, *impressions)
                agree(tenant.workspace.id)


def test_snapshots_of_one_post_in_one_statement_keep_the_aggregates_exact(tenant):
    """The pull writes its readings with one ``INSERT`` (a post with tasks on two platforms, or two accounts on
    one, has several in it): PostgreSQL fires the row triggers after the whole statement, each seeing every row."""
    with db.connection_context():
        accounts = _accounts(tenant)
        post = _post(tenant, ["instagram", "facebook"], [accounts["ig"], accounts["fb"], accounts["ig2"]])
        other = _post(tenant, ["instagram"], [accounts["ig"]])
        for number, at in enumerate((T[1], T[0], T[2], T[2])):
            readings = [EngagementReading(tenant.workspace.id, post.id, {"likes": 3 + number}, "instagram", at),
                        EngagementReading(tenant.workspace.id, post.id, {"likes": 5 * number}, "facebook", at),
                        EngagementReading(tenant.workspace.id, other.id, {"likes": number}, "instagram", at),
                        EngagementReading(tenant.workspace.id, post.id, {"likes": 7 + number}, "instagram", at)]
            with write_transaction():
                record_engagements(readings)
            assert daily_figures.agrees(db.obj, tenant.workspace.id)
            agree(tenant.workspace.id)


def test_random_snapshots_on_few_moments_keep_the_aggregates_exact(tenant):
    """Snapshots of every source on eight moments (ties and out of order often), with tasks, statuses and
    times changing between them, in single inserts and in batches."""
    rng = random.Random(25036)
    with db.connection_context():
        accounts = list(_accounts(tenant).values())
        posts = [_post(tenant, rng.choice([["instagram"], ["instagram", "facebook"], []]),
                       rng.sample(accounts, rng.randint(0, 2))) for _ in range(4)]
        for _ in range(120):
            post = rng.choice(posts)
            operation = rng.choice(["snapshot"] * 6 + ["batch", "status", "task", "move"])
            if operation == "snapshot":
                _snap(post, rng.choice(["instagram", "facebook", "api", "action"]), rng.choice(T),
                      rng.randint(0, 90), rng.choice([None, rng.randint(0, 500)]))
            elif operation == "batch":
                with write_transaction():
                    record_engagements([EngagementReading(tenant.workspace.id, rng.choice(posts).id,
                                                          {"likes": rng.randint(0, 90)},
                                                          rng.choice(["instagram", "facebook", "api"]), rng.choice(T))
                                        for _ in range(rng.randint(2, 6))])
            elif operation == "status":
                Post.update(status=rng.choice(STATUSES)).where(Post.id == post.id).execute()
            elif operation == "task":
                account = rng.choice(accounts)
                found = PublishTask.get_or_none((PublishTask.post == post) & (PublishTask.account == account))
                if found is None:
                    PublishTask.create(workspace=tenant.workspace.id, post=post, account=account,
                                       platform=account.platform, status="published")
                else:
                    found.delete_instance()
            else:
                Post.update(published_at=rng.choice(T) - dt.timedelta(days=rng.randint(0, 3))).where(
                    Post.id == post.id).execute()
            agree(tenant.workspace.id)


def test_the_migration_to_differences_installs_triggers_that_keep_the_rows(database_at_0032):
    """0038 installs the triggers again over the rows 0035 filled; a pulled snapshot then adds its difference."""
    database = database_at_0032
    with database.connection_context():
        runner(database).up("0035_engagement_hours")
        database.execute_sql("INSERT INTO workspace (id, name, plan, settings, created_at) "
                             "VALUES (1, 'w', 'free', '{}', '2026-06-01 09:00:00')")
        database.execute_sql("INSERT INTO post (workspace_id, topic, caption, post_type, platforms, media, status, "
                             "created_at, updated_at, published_at) VALUES (1, '', 'Hi', 'post', '[]', '[]', "
                             "'published', '2026-06-01 09:30:00', '2026-06-01 09:30:00', '2026-06-01 09:30:00')")

        def snapshot(likes: int, hour: int) -> None:
            database.execute_sql(f"INSERT INTO engagement_snapshot (post_id, likes, comments, saves, shares, reach, "
                                 f"source, recorded_at) VALUES (1, {likes}, 0, 0, 0, 10, 'instagram', "
                                 f"'2026-06-02 {hour:02d}:00:00')")

        snapshot(4, 10)
        runner(database).up("0038_engagement_by_difference")
        snapshot(9, 11)
        assert database.execute_sql("SELECT posts, likes FROM engagement_owner_hour WHERE client_id = 0").fetchone() \
            == (1, 9)
        assert engagement_hours.stored(database) == engagement_hours.recompute(database)
        runner(database).down("0038_engagement_by_difference")
        snapshot(2, 12)
        assert engagement_hours.stored(database) == engagement_hours.recompute(database)


def test_tasks_moved_between_two_posts_in_crossing_ways_at_once_do_not_deadlock(tenant):
    """One transaction moves a task from post A to post B while another moves one from B to A: each trigger
    locks both posts in the order of their ids first (on PostgreSQL they locked A then B, and B then A)."""
    with db.connection_context():
        accounts = _accounts(tenant)
        posts = [_post(tenant, ["instagram", "facebook"], []) for _ in range(2)]
        tasks = [PublishTask.create(workspace=tenant.workspace.id, post=post, account=account,
                                    platform=account.platform, status="published")
                 for post, account in zip(posts, (accounts["ig"], accounts["fb"]), strict=True)]
        for post in posts:
            _snap(post, "instagram", T[0], 5)
            _snap(post, "facebook", T[1], 7)
    rounds, start, errors = 12, threading.Barrier(2), []

    def move(number: int) -> None:
        try:
            for round_ in range(rounds):
                start.wait()
                with db.connection_context(), write_transaction():
                    # round 0: task 0 goes A -> B while task 1 goes B -> A; then back
                    target = posts[(number + round_ + 1) % 2]
                    PublishTask.update(post=target).where(PublishTask.id == tasks[number].id).execute()
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
            start.abort()

    threads = [threading.Thread(target=move, args=(number,)) for number in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    agree(tenant.workspace.id)
    with db.connection_context():
        assert daily_figures.agrees(db.obj, tenant.workspace.id)
