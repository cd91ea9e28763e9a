"""The analysed posts a process holds per client (issue 25, item 3: the first read after a write): brought
up to date from the posts that entered, left or changed, they stay exactly what a load from scratch gives,
after every kind of write, through the API or straight to the tables (the triggers record the change)."""

from __future__ import annotations

import datetime as dt
import json
import random

import intel_reference
import pytest
from intel_data import make_post, push
from migration_support import database_migrated_to
from peewee import Table
from test_intelligence_insights import as_json, caption

from herald.cli import cli
from herald.db import intelligence_revisions
from herald.db.migrate import runner
from herald.db.models import Client, EngagementSnapshot, Post, db
from herald.intelligence import history, items, lookups, openers, results

START = dt.datetime(2026, 3, 1, 9)
WINDOW = 15  # the newest posts the analyses read, small so that posts enter and leave it


@pytest.fixture
def small_window(monkeypatch):
    monkeypatch.setattr(history, "MAX_POSTS", WINDOW)
    items.cache.clear()
    yield
    items.cache.clear()


def held_and_loaded(tenant):
    """The items as the cache answers them and as a load from scratch does."""
    with db.connection_context():
        client_row = Client.get_by_id(tenant.client.id)
        return items.items(tenant.workspace.id, client_row), history.load(tenant.workspace.id, client_row)


REFERENCES = {"memory": intel_reference.brand_memory,
              "scores": lambda client_row, loaded: intel_reference.scores(loaded),
              "hooks": lambda client_row, loaded: intel_reference.top_openers(loaded),
              "patterns": lambda client_row, loaded: intel_reference.pattern_analysis(loaded),
              "learned_model": lambda client_row, loaded: intel_reference.learned_model(loaded)}


def assert_held_is_loaded(tenant, what: str) -> None:
    """The held items are what a load gives, and each tally (made at the first check, then kept up to
    date) answers what the straightforward analysis of the loaded items does."""
    held, loaded = held_and_loaded(tenant)
    assert [item.post_id for item in held] == [item.post_id for item in loaded], what
    assert held == loaded, what
    with db.connection_context():
        client_row = Client.get_by_id(tenant.client.id)
        for kind, tally in lookups.TALLIES.items():
            answered = items.result(tenant.workspace.id, client_row, kind, tally)
            if isinstance(answered, results.Json):
                answered = json.loads(answered)
            assert as_json(answered) == as_json(REFERENCES[kind](client_row, loaded)), f"{what}: {kind}"


@pytest.mark.parametrize("one_by_one", [64, 0], ids=["openers-moved-one-by-one", "openers-sorted-whole"])
def test_the_held_items_follow_every_kind_of_write_and_stay_what_a_load_gives(app, client, tenant, make_tenant,
                                                                             small_window, monkeypatch, one_by_one):
    monkeypatch.setattr(openers, "REPLACED_ONE_BY_ONE", one_by_one)
    rng = random.Random(37)
    other = make_tenant("Other bakery")
    ids = [make_post(tenant, caption(rng), START + dt.timedelta(hours=rng.randint(0, 24 * 20))) for _ in range(20)]
    push(client, tenant, [{"post_id": post_id, "likes": rng.randint(0, 90), "reach": 1000} for post_id in ids])
    assert_held_is_loaded(tenant, "first load")
    loads, updates = items.cache.loads, items.cache.updates

    def newest() -> int:
        return max(ids)

    def some() -> int:
        return rng.choice(ids)

    writes = [
        ("new post", lambda: ids.append(make_post(tenant, caption(rng),
                                                  START + dt.timedelta(days=rng.randint(0, 30))))),
        ("new cancelled post", lambda: ids.append(make_post(tenant, caption(rng), START, status="cancelled"))),
        ("snapshot", lambda: EngagementSnapshot.create(post=some(), source="instagram", likes=rng.randint(0, 99),
                                                       reach=rng.randint(1, 3000))),
        ("snapshot of the newest", lambda: EngagementSnapshot.create(post=newest(), source="facebook", likes=5,
                                                                     reach=100)),
        ("snapshot edited by hand", lambda: EngagementSnapshot.update(reach=rng.randint(1, 5000))
         .where(EngagementSnapshot.id == EngagementSnapshot.select(EngagementSnapshot.id).order_by(
             EngagementSnapshot.id.desc()).limit(1)).execute()),
        ("raw snapshot", lambda: db.execute_sql(
            "INSERT INTO engagement_snapshot (post_id, likes, comments, saves, shares, reach, source, recorded_at) "
            f"VALUES ({int(some())}, 7, 1, 0, 0, 300, 'api', '2026-04-01')")),
        ("caption", lambda: Post.update(caption=caption(rng)).where(Post.id == some()).execute()),
        ("topic and score", lambda: Post.update(topic="rye", score=71.5).where(Post.id == some()).execute()),
        ("published later", lambda: Post.update(published_at=START + dt.timedelta(days=40)).where(
            Post.id == some()).execute()),
        ("cancelled", lambda: Post.update(status="cancelled").where(Post.id == newest()).execute()),
        ("back to draft", lambda: Post.update(status="draft").where(Post.id == newest()).execute()),
        ("rejected oldest held", lambda: Post.update(status="rejected").where(
            Post.id == sorted(ids)[-WINDOW]).execute()),
        ("moved to another client", lambda: Post.update(client=other.client.id).where(
            Post.id == some()).execute()),
        ("moved back", lambda: Post.update(client=tenant.client.id).where(
            Post.client == other.client.id).execute()),
        ("deleted", lambda: Post.delete().where(Post.id == ids.pop(rng.randrange(len(ids)))).execute()),
        ("snapshot deleted", lambda: EngagementSnapshot.delete().where(
            EngagementSnapshot.post == some()).execute()),
    ]
    for round_number in range(3):
        for what, write in writes:
            with db.connection_context():
                write()
            assert_held_is_loaded(tenant, f"round {round_number}: {what}")
    assert items.cache.loads == loads  # every write above was followed, never loaded again
    assert items.cache.updates - updates >= 2 * len(writes)  # (a write that changed nothing needs no update)

    with db.connection_context():  # a new time zone moves every local time: loaded again
        Client.update(timezone="Asia/Kolkata").where(Client.id == tenant.client.id).execute()
    assert_held_is_loaded(tenant, "time zone")
    assert items.cache.loads == loads + 1
    # A rebuild of derived data (writes may have gone in without the triggers): loaded again.
    with db.connection_context():
        intelligence_revisions.CHANGE_TRIGGERS.uninstall(db.obj)
        EngagementSnapshot.create(post=newest(), source="instagram", likes=44, reach=400)
    result = app.test_cli_runner().invoke(cli, ["derived", "rebuild", "intelligence"])
    assert result.exit_code == 0, result.output
    assert_held_is_loaded(tenant, "after a rebuild")
    assert items.cache.loads == loads + 2


def test_the_held_posts_are_bounded_and_the_least_recently_read_client_goes_first(client, tenant, make_tenant,
                                                                                 small_window):
    second = make_tenant("Second bakery")
    for owner in (tenant, second):
        for number in range(12):
            make_post(owner, f"Loaf number {number}", START + dt.timedelta(hours=number))
    items.configure(20)  # room for one client's 12 posts, not two
    try:
        with db.connection_context():
            first_row, second_row = Client.get_by_id(tenant.client.id), Client.get_by_id(second.client.id)
            loads = items.cache.loads
            items.items(tenant.workspace.id, first_row)
            items.items(second.workspace.id, second_row)  # the first client is dropped
            items.items(second.workspace.id, second_row)
            assert items.cache.loads - loads == 2
            assert not items.holds(first_row) and items.holds(second_row)
            items.configure(0)  # nothing held: every read loads
            items.items(tenant.workspace.id, first_row)
            items.items(tenant.workspace.id, first_row)
            assert items.cache.loads - loads == 4
    finally:
        items.configure(items.DEFAULT_CAPACITY)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_at_0035(request, tmp_path):
    """A database migrated to 0035 (SQLite, or a PostgreSQL database of its own when HERALD_TEST_POSTGRES is set)."""
    yield from database_migrated_to(request.param, tmp_path, "0035_engagement_hours")


def test_the_migration_records_changes_from_then_on_and_goes_down_and_up_again(database_at_0035):
    database, migration = database_at_0035, "0037_intelligence_post_changes"
    now = dt.datetime(2026, 6, 1, 9, 30)
    post = Table("post", ("id", "workspace_id", "client_id", "topic", "caption", "post_type", "platforms", "media",
                          "status", "created_at", "updated_at", "published_at")).bind(database)

    def add_post() -> int:
        post.insert(workspace_id=1, client_id=1, topic="", caption="Hi", post_type="post", platforms="[]",
                    media="[]", status="published", created_at=now, updated_at=now, published_at=now).execute()
        return database.execute_sql("SELECT MAX(id) FROM post").fetchone()[0]

    def snapshot(post_id: int) -> None:
        database.execute_sql(f"INSERT INTO engagement_snapshot (post_id, likes, comments, saves, shares, reach, "
                             f"source, recorded_at) VALUES ({int(post_id)}, 1, 0, 0, 0, 10, 'api', '2026-06-02')")

    def recorded() -> tuple:
        changes = database.execute_sql("SELECT post_id FROM intelligence_post_change ORDER BY post_id").fetchall()
        windows = database.execute_sql("SELECT client_id FROM intelligence_window").fetchall()
        return [row[0] for row in changes], [row[0] for row in windows]

    with database.connection_context():
        Table("workspace", ("id", "name", "plan", "settings", "created_at")).bind(database).insert(
            id=1, name="w", plan="free", settings="{}", created_at=now).execute()
        Table("client", ("id", "workspace_id", "name", "brand_voice", "timezone", "created_at", "updated_at")).bind(
            database).insert(id=1, workspace_id=1, name="c", brand_voice="", timezone="UTC", created_at=now,
                             updated_at=now).execute()
        before = add_post()
        runner(database).up(migration)
        assert recorded() == ([], [])  # what was there before needs no row
        snapshot(before)
        added = add_post()
        assert recorded() == ([before], [1])
        revision = database.execute_sql("SELECT revision FROM intelligence_revision").fetchone()[0]
        # the revision of the insert, or (SQLite fires the triggers of one write in no set order) the one before
        assert database.execute_sql("SELECT revision FROM intelligence_window").fetchone()[0] in (revision - 1,
                                                                                                  revision)
        snapshot(added)
        assert recorded() == ([before, added], [1])
        runner(database).down(migration)
        assert not {"intelligence_post_change", "intelligence_window"} & set(database.get_tables())
        snapshot(added)  # no trigger left behind
        runner(database).up(migration)
        snapshot(added)
        assert recorded() == ([added], [])
