"""``daily_figures`` and ``hourly_figures`` (the reports' per-day and per-hour aggregates,
:mod:`herald.db.daily_figures`) agree with a recomputation from scratch after a random mix of
operations through the API and the worker, after rows are moved or deleted, and while engagement for
one post is recorded by several transactions at once; periods and local days summed from them equal
a scan of the rows."""

from __future__ import annotations

import datetime as dt
import random
import threading
from zoneinfo import ZoneInfo

import peewee as pw
import pytest
from migration_support import database_migrated_to
from test_ids_never_reused import bound

from drive import advance, work
from herald import PublishOutcome, chores, cron
from herald.cli import cli
from herald.db import daily_figures
from herald.db.migrate import runner
from herald.db.models import (
    Account,
    Client,
    DailyFigures,
    EngagementSnapshot,
    HourlyFigures,
    Post,
    PublishTask,
    Workspace,
    db,
    utcnow,
    write_transaction,
)
from herald.intelligence import daily_analytics, period_figures
from herald.publishing.engagement_figures import interactions, latest_by_post
from herald.publishing.posts import record_engagement


@pytest.fixture
def app(build_app, plugin):
    """The application, with the scripted platform installed."""
    return build_app()


@pytest.fixture
def platform(plugin):
    return plugin.platform


def agree(workspace_id: int | None = None, bucket: daily_figures.Bucket = daily_figures.DAY) -> list[tuple]:
    """The stored figures of ``bucket``, after checking those of every bucket equal a recomputation from scratch."""
    with db.connection_context():
        found = {}
        for each in daily_figures.BUCKETS:
            found[each] = daily_figures.stored(db.obj, workspace_id, each)
            assert found[each] == daily_figures.recompute(db.obj, workspace_id, each), each.table
        assert daily_figures.stored_accounts(db.obj, workspace_id) == daily_figures.recompute_accounts(db.obj,
                                                                                                        workspace_id)
        if workspace_id is not None:
            assert daily_figures.agrees(db.obj, workspace_id)
    totals = {each: [sum(row[index] for row in rows) for index in range(3, 3 + len(daily_figures.COUNTS))]
              for each, rows in found.items()}
    assert totals[daily_figures.HOUR] == totals[daily_figures.DAY]  # the hours add up to the days
    return found[bucket]


def connect(client, tenant, token):
    response = client.post("/v1/accounts", json={"platform": "scripted", "access_token": token},
                           headers=tenant.headers)
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()["id"]


def test_figures_agree_with_a_recomputation_after_a_random_mix_of_operations(client, tenant, platform,
                                                                              redis_client):
    rng = random.Random(25030)
    accounts = [connect(client, tenant, f"tok_live_{n:04d}") for n in range(3)]
    with db.connection_context():
        second = Client.create(workspace=tenant.workspace.id, name="Second", timezone="Asia/Tokyo")
        clients = [tenant.client.id, second.id]
    posts: list[str] = []
    for _ in range(60):
        operation = rng.choice(["now", "now", "later", "reschedule", "cancel", "work", "work", "engagement",
                                "batch", "advance"])
        if operation in ("now", "later"):
            later = utcnow() + dt.timedelta(hours=rng.randint(1, 72))
            when = "now" if operation == "now" else later.isoformat() + "Z"
            body = {"content": "Hello", "accounts": rng.sample(accounts, rng.randint(1, 3)), "schedule": when}
            if rng.random() < 0.8:
                body["client_id"] = rng.choice(clients)
            response = client.post("/v1/publish", json=body, headers=tenant.headers)
            assert response.status_code == 201, response.get_json()
            posts.append(response.get_json()["id"])
        elif operation == "reschedule" and posts:  # to another day, or another hour of the same day
            moved = (utcnow() + rng.choice([dt.timedelta(days=rng.randint(1, 9)),
                                            dt.timedelta(minutes=rng.randint(20, 300))])).isoformat() + "Z"
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
                                                                         "reach"], rng.randint(1, 5))}
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
    figures = agree(tenant.workspace.id)
    totals = [sum(row[index] for row in figures) for index in range(3, 3 + len(daily_figures.COUNTS))]
    counts = dict(zip(daily_figures.COUNTS, totals, strict=True))
    assert counts["posts_created"] == len(posts)
    assert counts["posts_published"] > 0 and counts["tasks_failed"] > 0 and counts["engaged_posts"] > 0

    with db.connection_context():  # a post deleted outright (its tasks and snapshots go with it), a client archived
        Post.delete().where(Post.id.in_([int(post.removeprefix("post_")) for post in posts[:5]])).execute()
        Client.update(timezone="Europe/Paris").where(Client.id == clients[1]).execute()
        moved = [int(post.removeprefix("post_")) for post in posts[5:9]]  # to another client, or to none
        Post.update(client=clients[1]).where(Post.id.in_(moved[:2])).execute()
        Post.update(client=None, published_at=utcnow()).where(Post.id.in_(moved[2:])).execute()
        later = [int(post.removeprefix("post_")) for post in posts[9:12]]  # to another hour, or a minute on
        Post.update(scheduled_at=utcnow() + dt.timedelta(hours=2)).where(Post.id.in_(later)).execute()
        for post in Post.select().where(Post.id.in_(later)):
            post.created_at += dt.timedelta(minutes=61)
            post.published_at = (post.published_at or utcnow()) + dt.timedelta(minutes=1)
            post.save()
        PublishTask.update(updated_at=utcnow() - dt.timedelta(hours=5)).where(
            PublishTask.post.in_(later)).execute()
    assert agree(tenant.workspace.id, daily_figures.HOUR)
    with db.connection_context():
        Workspace.delete().where(Workspace.id == tenant.workspace.id).execute()
        assert not DailyFigures.select().where(DailyFigures.workspace_id == tenant.workspace.id).exists()
        assert not HourlyFigures.select().where(HourlyFigures.workspace_id == tenant.workspace.id).exists()
    agree()


def test_rebuild_recomputes_figures_changed_behind_the_triggers(client, tenant):
    with db.connection_context():
        post = Post.create(workspace=tenant.workspace.id, client=tenant.client.id, caption="c", published_at=utcnow())
        record_engagement(post, {"likes": 3, "reach": 10}, "api")
        DailyFigures.update(likes=DailyFigures.likes + 100).execute()
        HourlyFigures.update(reach=HourlyFigures.reach - 1).execute()
        assert daily_figures.stored(db.obj) != daily_figures.recompute(db.obj)
        hour = daily_figures.HOUR
        assert daily_figures.stored(db.obj, bucket=hour) != daily_figures.recompute(db.obj, bucket=hour)
        assert daily_figures.rebuild(db.obj, tenant.workspace.id) == {"day": 1, "hour": 1}
    assert agree()[0][3:] == (1, 1, 0, 0, 0, 1, 3, 0, 0, 0, 10)
    assert agree(bucket=daily_figures.HOUR)[0][2] == post.published_at.strftime("%Y-%m-%d %H:00:00")


def test_a_rebuild_writes_the_rows_in_the_order_of_their_key(client, tenant):
    """A period's rows lie together after a rebuild, as the triggers append them day after day (in the
    aggregate's order PostgreSQL's health at 1M read a page per row)."""
    with db.connection_context():
        clients = [tenant.client.id, Client.create(workspace=tenant.workspace.id, name="Second").id]
        start = utcnow() - dt.timedelta(days=9)
        for number in range(30):  # clients, days and hours interleaved
            Post.create(workspace=tenant.workspace.id, client=clients[number % 2], caption="c",
                        created_at=start + dt.timedelta(days=(number * 7) % 9, hours=(number * 5) % 24))
        daily_figures.rebuild(db.obj)
        position = "ctid" if isinstance(db.obj, pw.PostgresqlDatabase) else "rowid"
        for bucket in daily_figures.BUCKETS:
            stored = db.execute_sql(f"SELECT workspace_id, {bucket.column}, client_id FROM {bucket.table} "
                                    f"ORDER BY {position}").fetchall()
            assert len(stored) > 10 and stored == sorted(stored), bucket.table


def test_the_cron_chore_and_the_cli_find_and_rebuild_figures_changed_behind_the_triggers(app, tenant, config,
                                                                                         redis_client):
    with db.connection_context():
        post = Post.create(workspace=tenant.workspace.id, client=tenant.client.id, caption="c", published_at=utcnow())
        record_engagement(post, {"likes": 3, "reach": 10}, "api")
    runner = app.test_cli_runner()
    assert runner.invoke(cli, ["derived", "check", "figures"]).exit_code == 0
    with db.connection_context():
        EngagementSnapshot.update(likes=50).where(EngagementSnapshot.post == post.id).execute()  # behind the triggers
    result = runner.invoke(cli, ["derived", "check", "figures"])
    assert result.exit_code == 1 and f"figures workspace {tenant.workspace.id}: client" in result.output
    assert chores.repair_derived()["repaired"] > 1  # the day's and the hour's figures, and the engagement sums
    assert chores.repair_derived() == {"repaired": 0}
    assert agree()[0][3 + daily_figures.COUNTS.index("likes")] == 50
    with db.connection_context():  # an hour's row changed behind the triggers is found too
        HourlyFigures.update(posts_created=2).execute()
    result = runner.invoke(cli, ["derived", "check", "figures"])
    assert result.exit_code == 1 and "hour" in result.output
    assert chores.repair_derived() == {"repaired": 1}
    with db.connection_context():
        DailyFigures.delete().execute()
        HourlyFigures.delete().execute()
    result = runner.invoke(cli, ["derived", "rebuild", "figures", "--workspace", str(tenant.workspace.id)])
    assert result.exit_code == 0 and "Rebuilt figures (2 rows)" in result.output
    agree()
    checks = [job for job in cron.make_cron(redis_client, config)._cron_jobs if job.func is chores.repair_derived]
    assert len(checks) == 1 and checks[0].interval == config.derived_check_interval_seconds == 24 * 3600


def test_concurrent_engagement_for_one_post_keeps_the_sums_exact(client, tenant):
    with db.connection_context():
        posts = [Post.create(workspace=tenant.workspace.id, client=tenant.client.id, caption="c",
                             published_at=utcnow()) for _ in range(2)]
    start, errors = threading.Barrier(6), []

    def push(number: int) -> None:
        try:
            start.wait()
            for round_ in range(8):
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
    figures = agree(tenant.workspace.id)
    assert sum(row[3 + daily_figures.COUNTS.index("engaged_posts")] for row in figures) == 2


def add_random_rows(tenant, rng: random.Random, base: dt.datetime, days: int = 70) -> None:
    """300 posts of the tenant's client, a second client or none, created, published, scheduled, their
    tasks ended and their snapshots recorded at random moments of the ``days`` days from ``base``."""
    def moment() -> dt.datetime:
        return base + dt.timedelta(minutes=rng.randint(0, days * 24 * 60), microseconds=rng.choice([0, 250000]))

    second = Client.create(workspace=tenant.workspace.id, name="Second")
    account = Account.create(workspace=tenant.workspace.id, platform="scripted", external_id="a", token_encrypted="x")
    for _ in range(300):
        fields = {"created_at": moment(), "published_at": moment() if rng.random() < 0.6 else None,
                  "scheduled_at": moment() if rng.random() < 0.5 else None}
        post = Post.create(workspace=tenant.workspace.id, client=rng.choice([tenant.client.id, second.id, None]),
                           caption="c", **fields)
        if rng.random() < 0.7:
            PublishTask.create(workspace=tenant.workspace.id, post=post, account=account, platform="scripted",
                               status=rng.choice(["published", "failed", "unconfirmed", "queued"]),
                               updated_at=moment())
        for _ in range(rng.choice([0, 0, 1, 2, 3])):
            EngagementSnapshot.create(post=post, likes=rng.randint(0, 50), comments=rng.randint(0, 9),
                                      shares=rng.randint(0, 5), reach=rng.randint(0, 900), recorded_at=moment())


def test_periods_cut_anywhere_read_the_same_figures_as_a_scan_of_the_rows(client, tenant):
    """Whole days from daily_figures, whole hours from hourly_figures and the partial hours from the rows
    equal a scan of every row, for periods starting and ending at random moments (midnight and whole
    hours included, and periods inside one hour)."""
    rng = random.Random(7)
    base = dt.datetime(2026, 10, 1)

    def moment() -> dt.datetime:
        return base + dt.timedelta(minutes=rng.randint(0, 70 * 24 * 60), microseconds=rng.choice([0, 250000]))

    with db.connection_context():
        add_random_rows(tenant, rng, base)
        ids = [row.id for row in Post.select(Post.id).where(Post.workspace == tenant.workspace.id)]
        latest = latest_by_post(ids)
        rows = list(Post.select().where(Post.workspace == tenant.workspace.id))
        task_rows = list(PublishTask.select(PublishTask, Post.client).join(Post)
                         .where(PublishTask.workspace == tenant.workspace.id))
        cuts = ([base + dt.timedelta(days=rng.randint(0, 70)) for _ in range(5)]
                + [base + dt.timedelta(hours=rng.randint(0, 70 * 24)) for _ in range(5)]
                + [moment() for _ in range(15)])
        lengths = [dt.timedelta(days=days) for days in (0.5, 1, 3, 28, 30)] + [
            dt.timedelta(hours=1), dt.timedelta(hours=5), dt.timedelta(minutes=20), dt.timedelta(0)]
        # every period is also asked of one Reading per scope, read once at the end (overlapping periods,
        # shared partial hours, days and hours joined in the statements' WHERE)
        together = {scope: (period_figures.Reading(tenant.workspace.id, scope), [])
                    for scope in (None, tenant.client.id)}
        for start in cuts:
            end = start + rng.choice(lengths)
            for scope in (None, tenant.client.id):
                mine = [post for post in rows if scope is None or post.client_id == scope]
                published = {}
                for post in mine:
                    if post.published_at is not None and start <= post.published_at <= end:
                        published[post.client_id] = published.get(post.client_id, 0) + 1
                assert period_figures.published_by_client(tenant.workspace.id, scope, start, end) == published
                ended = {status: sum(1 for task in task_rows if task.status == status and task.updated_at >= start
                                     and (scope is None or task.post.client_id == scope))
                         for status in ("published", "failed", "unconfirmed")}
                assert period_figures.ended_tasks(tenant.workspace.id, scope, start) == ended
                went_out = [post for post in mine if post.id in latest
                            and start <= (post.published_at or post.scheduled_at or post.created_at) < end]
                expected = (len(went_out), sum(interactions(latest[post.id]) for post in went_out))
                assert period_figures.engagement(tenant.workspace.id, scope, start, end) == expected
                reading, asked = together[scope]
                asked += [(reading.published_by_client(start, end), published),
                          (reading.ended_tasks(start), ended), (reading.engagement(start, end), expected)]
        for reading, asked in together.values():
            reading.read()
            assert [wanted.value for wanted, _ in asked] == [expected for _, expected in asked]


def hour(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"2026-10-{text}")


@pytest.mark.parametrize(("start", "end", "first", "last", "hours", "edges"), [
    # whole days only; whole days and whole hours; days, hours and partial hours at both edges
    ("01 00:00", "03 00:00", "01", "02", [], []),
    ("01 05:00", "03 07:00", "02", "02", [("01 05:00", "02 00:00"), ("03 00:00", "03 07:00")], []),
    ("01 05:10", "03 07:20", "02", "02", [("01 06:00", "02 00:00"), ("03 00:00", "03 07:00")],
     [("01 05:10", "01 06:00"), ("03 07:00", "03 07:20")]),
    # a period inside one day: hours and partial hours, no day; inside one hour; empty
    ("01 05:10", "01 09:00", None, None, [("01 06:00", "01 09:00")], [("01 05:10", "01 06:00")]),
    ("01 05:10", "01 05:50", None, None, [], [("01 05:10", "01 05:50")]),
    ("01 05:00", "01 06:00", None, None, [("01 05:00", "01 06:00")], []),
    ("01 05:00", "01 05:00", None, None, [], []),
    # the edge days hold no whole hour; a period from 23:30 across midnight
    ("01 23:30", "03 00:30", "02", "02", [], [("01 23:30", "02 00:00"), ("03 00:00", "03 00:30")]),
    ("01 23:30", "02 00:30", None, None, [], [("01 23:30", "02 00:30")]),
    ("01 22:30", "02 01:30", None, None, [("01 23:00", "02 01:00")],
     [("01 22:30", "01 23:00"), ("02 01:00", "02 01:30")]),
])
def test_split_cuts_a_period_into_whole_days_whole_hours_and_at_most_two_partial_hours(start, end, first, last,
                                                                                       hours, edges):
    whole = period_figures.split(hour(start), hour(end))
    assert whole.first == (hour(f"{first} 00:00").date() if first else None)
    assert whole.last == (hour(f"{last} 00:00").date() if last else None)
    assert whole.hours == tuple((hour(a), hour(b)) for a, b in hours)
    assert whole.edges == tuple((hour(a), hour(b)) for a, b in edges)


def test_split_without_an_end_sums_every_day_from_the_next_midnight():
    whole = period_figures.split(hour("01 05:10"), None)
    assert (whole.first, whole.last) == (dt.date(2026, 10, 2), None)
    assert whole.hours == ((hour("01 06:00"), hour("02 00:00")),)
    assert whole.edges == ((hour("01 05:10"), hour("01 06:00")),)
    assert period_figures.split(hour("01 00:00"), None) == period_figures.Split(dt.date(2026, 10, 1), None, (), ())


@pytest.mark.parametrize("zone", ["UTC", "Europe/London", "America/New_York", "Europe/Paris", "Asia/Tokyo",
                                  "America/St_Johns", "Asia/Kolkata", "Asia/Kathmandu", "Australia/Lord_Howe"])
def test_the_daily_export_in_any_zone_equals_a_scan_of_the_rows(client, tenant, zone):
    """Local days from the days and hours (whole-hour zones, across the DST changes of October and
    November 2026; midnights before and after noon UTC) or from the days, hours and the rows of the part
    of an hour before a local midnight (30/45-minute zones, Lord Howe's 30-minute DST) equal the same
    days counted row by row."""
    rng = random.Random(zone)
    base = dt.datetime(2026, 9, 20)
    with db.connection_context():
        add_random_rows(tenant, rng, base, days=60)
        latest = latest_by_post(row.id for row in Post.select(Post.id).where(Post.workspace == tenant.workspace.id))
        rows = list(Post.select().where(Post.workspace == tenant.workspace.id))
        task_rows = list(PublishTask.select(PublishTask, Post.client).join(Post)
                         .where(PublishTask.workspace == tenant.workspace.id))
        local = ZoneInfo(zone)

        def day_of(moment: dt.datetime) -> dt.date:
            return moment.replace(tzinfo=dt.UTC).astimezone(local).date()

        for now in (dt.datetime(2026, 11, 3, 4, 30), dt.datetime(2026, 10, 30, 23, 59, 59),
                    dt.datetime(2026, 11, 15, 0, 0)):
            for scope in (None, tenant.client.id):
                mine = [post for post in rows if scope is None or post.client_id == scope]
                days = daily_analytics.daily(tenant.workspace.id, 30, client_id=scope, timezone=zone, now=now)
                assert len(days) == 30 and days[-1].date == day_of(now)
                expected = {day.date: daily_analytics.Day(day.date) for day in days}

                def add(moment, name, value=1, expected=expected):
                    if moment is not None and day_of(moment) in expected:
                        day = expected[day_of(moment)]
                        setattr(day, name, getattr(day, name) + value)

                for post in mine:
                    add(post.created_at, "posts_created")
                    add(post.published_at, "posts_published")
                    if post.id in latest:
                        for name in daily_analytics.METRICS:
                            add(post.published_at or post.scheduled_at or post.created_at, name,
                                getattr(latest[post.id], name) or 0)
                for task in task_rows:
                    column = {"failed": "failed_publishes", "unconfirmed": "unconfirmed_publishes"}.get(task.status)
                    if column and (scope is None or task.post.client_id == scope):
                        add(task.updated_at, column)
                assert [day.row() for day in days] == [expected[key].row() for key in sorted(expected)]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_at_0032(request, tmp_path):
    """A database migrated to 0032 (SQLite, or a PostgreSQL database of its own when HERALD_TEST_POSTGRES is set)."""
    yield from database_migrated_to(request.param, tmp_path, "0032_intelligence_revisions")


def test_the_migration_fills_the_hours_keeps_them_and_goes_down_and_up_again(database_at_0032):
    database, migration = database_at_0032, "0033_hourly_figures"
    with bound(database):
        workspace = Workspace.create(name="w")
        client_id = Client.create(workspace=workspace, name="c").id

        def add_post(hour: int) -> None:
            post = Post.create(workspace=workspace, client=client_id, caption="c",
                               created_at=dt.datetime(2026, 6, 1, hour, 20),
                               published_at=dt.datetime(2026, 6, 1, hour, 40))
            EngagementSnapshot.create(post=post, likes=hour, reach=10, recorded_at=dt.datetime(2026, 6, 2))

        def hours() -> list[tuple]:
            found = daily_figures.stored(database, workspace.id, daily_figures.HOUR)
            assert found == daily_figures.recompute(database, workspace.id, daily_figures.HOUR)
            assert daily_figures.stored(database, workspace.id) == daily_figures.recompute(database, workspace.id)
            return [row[2:5] for row in found]

        add_post(5)
        runner(database).up(migration)
        assert hours() == [("2026-06-01 05:00:00", 1, 1)]
        add_post(7)
        assert hours() == [("2026-06-01 05:00:00", 1, 1), ("2026-06-01 07:00:00", 1, 1)]
        runner(database).down(migration)
        assert "hourly_figures" not in database.get_tables()
        add_post(9)  # the days are still kept, by triggers that no longer write hours
        assert daily_figures.stored(database, workspace.id) == daily_figures.recompute(database, workspace.id)
        runner(database).up(migration)
        assert [row[0] for row in hours()] == [f"2026-06-01 {hour:02d}:00:00" for hour in (5, 7, 9)]
