"""Intelligence reads as lookups (issue 25, item 3): a client's revision is bumped by triggers in the
transaction of every write the reads depend on, whatever writes it; results are computed together (one
walk of the history) once per revision and read back while it is unchanged, and they stay what a
computation from scratch gives: the audit and the export too, whatever "now" and period they cover."""

from __future__ import annotations

import datetime as dt
import json
import random

import pytest
from intel_data import make_post, push
from migration_support import database_migrated_to
from peewee import Table
from test_ids_never_reused import bound
from test_intelligence_insights import OPENERS, STATUSES, as_json, assert_same_as_from_scratch, caption

from herald import chores
from herald.cli import cli
from herald.db.migrate import runner
from herald.db.models import Client, EngagementSnapshot, IntelligenceResult, Post, Workspace, db
from herald.intelligence import audit, history, items, lookups, report, results
from herald.intelligence import memory as intelligence_memory

START = dt.datetime(2026, 1, 1, 6)
READ_KINDS = {"learned_model", "memory", "hooks", "patterns"}  # what read_all reads


def revision(tenant) -> int:
    with db.connection_context():
        return results.revision(tenant.client.id)


def read_all(client, tenant) -> None:
    """One read of each kind (memory, hooks, patterns, a caption's score)."""
    base, client_id = "/api/intelligence", tenant.client.id
    for path in (f"memory?client_id={client_id}", f"hooks?client_id={client_id}",
                 f"top-patterns?client_id={client_id}&min_sample=2"):
        assert client.get(f"{base}/{path}", headers=tenant.headers).status_code == 200
    response = client.post(f"{base}/score", headers=tenant.headers,
                           json={"caption": OPENERS[1] + "\n#bread", "client_id": client_id})
    assert response.status_code == 200


def test_every_write_the_reads_depend_on_bumps_the_revision_and_nothing_else_does(client, tenant):
    assert revision(tenant) == 0
    post_id = make_post(tenant, "Why do we bake at 4am?", START)
    after_insert = revision(tenant)
    assert after_insert > 0
    steps = [
        ("caption", lambda: Post.update(caption="How to shape a boule").where(Post.id == post_id).execute(), True),
        ("status", lambda: Post.update(status="scheduled").where(Post.id == post_id).execute(), True),
        ("time", lambda: Post.update(published_at=START + dt.timedelta(days=1)).where(Post.id == post_id).execute(),
         True),
        ("same caption", lambda: Post.update(caption="How to shape a boule").where(Post.id == post_id).execute(),
         False),
        ("updated_at", lambda: Post.update(updated_at=START).where(Post.id == post_id).execute(), False),
        ("snapshot", lambda: EngagementSnapshot.create(post=post_id, likes=3, reach=100), True),
        ("snapshot update", lambda: EngagementSnapshot.update(likes=4).execute(), True),
        ("snapshot delete", lambda: EngagementSnapshot.delete().execute(), True),
        ("time zone", lambda: Client.update(timezone="Europe/Paris").where(Client.id == tenant.client.id).execute(),
         True),
        ("client updated_at", lambda: Client.update(updated_at=START).where(Client.id == tenant.client.id).execute(),
         False),
        ("post delete", lambda: Post.delete().where(Post.id == post_id).execute(), True),
    ]
    for name, write, bumps in steps:
        before = revision(tenant)
        with db.connection_context():
            write()
        assert (revision(tenant) > before) is bumps, name
    # A post moved to another client bumps both; a post without a client bumps nobody.
    other = Client.create(workspace=tenant.workspace.id, name="Other")
    moved = make_post(tenant, "Fresh out of the oven", START)
    before, other_before = revision(tenant), results.revision(other.id)
    with db.connection_context():
        Post.update(client=other.id).where(Post.id == moved).execute()
        assert results.revision(other.id) > other_before
        Post.create(workspace=tenant.workspace.id, client=None, caption="Unassigned")
    assert revision(tenant) > before


def test_an_unchanged_revision_is_read_back_and_a_change_computes_each_kind_read_from_one_walk(client, tenant):
    rng = random.Random(32)
    ids = [make_post(tenant, caption(rng), START + dt.timedelta(hours=rng.randint(0, 24 * 30))) for _ in range(20)]
    push(client, tenant, [{"post_id": post_id, "likes": rng.randint(0, 100), "reach": 1000} for post_id in ids])
    before, loads, updates = results.computations, items.cache.loads, items.cache.updates
    read_all(client, tenant)
    assert results.computations - before == len(READ_KINDS)  # each kind read was computed once...
    assert items.cache.loads - loads == 1  # ... from one walk of the history
    with db.connection_context():
        stored = {row.kind: row.revision for row in IntelligenceResult.select()}
    assert stored == dict.fromkeys(READ_KINDS, revision(tenant))
    before = results.computations
    read_all(client, tenant)
    read_all(client, tenant)
    assert results.computations == before  # nothing changed: every read was a lookup
    with db.connection_context():
        EngagementSnapshot.create(post=ids[0], source="instagram", likes=50, reach=500)  # straight to the table
    read_all(client, tenant)
    read_all(client, tenant)
    assert results.computations - before == len(READ_KINDS)
    assert items.cache.loads - loads == 1  # the held items were brought up to date from the changed post
    assert items.cache.updates - updates == 1
    with db.connection_context():
        assert {row.kind: row.revision for row in IntelligenceResult.select()} == dict.fromkeys(
            READ_KINDS, revision(tenant))


def assert_export_same_as_from_scratch(client, tenant, clock) -> None:
    body = client.get(f"/api/intelligence/export?client_id={tenant.client.id}&period=365",
                      headers=tenant.headers).get_json()
    with db.connection_context():
        client_row = Client.get_by_id(tenant.client.id)
        items = history.recompute(tenant.workspace.id, client_row)
        assert body == as_json(report.build(tenant.workspace.id, client_row, items, period_days=365, now=clock.now()))


def assert_audit_same_as_from_scratch(client, tenant, clock, period: int) -> None:
    body = client.post("/api/intelligence/analyze-performance", headers=tenant.headers,
                       json={"client_id": tenant.client.id, "period": period}).get_json()
    with db.connection_context():
        client_row = Client.get_by_id(tenant.client.id)
        items = history.recompute(tenant.workspace.id, client_row)
        assert body == as_json(audit.run(client_row, items, period, clock.now())), period


def test_reads_equal_the_computation_from_scratch_after_random_writes_and_reuse_it_until_the_next(client, tenant,
                                                                                                   clock):
    rng = random.Random(2532)
    ids: list[int] = []
    for round_number in range(5):
        for _ in range(10):
            ids.append(make_post(tenant, caption(rng), START + dt.timedelta(hours=rng.randint(0, 24 * 60)),
                                 post_type=rng.choice(["post", "reel"]), status=rng.choice(STATUSES)))
        push(client, tenant, [{"post_id": post_id, "likes": rng.randint(0, 300), "comments": rng.randint(0, 40),
                               "reach": rng.choice([0, 500, 1000])} for post_id in rng.sample(ids, min(len(ids), 8))])
        with db.connection_context():
            for post_id in rng.sample(ids, 3):
                EngagementSnapshot.create(post=post_id, source="facebook", likes=rng.randint(0, 100),
                                          reach=rng.randint(1, 2000))
            for post_id in rng.sample(ids, 3):
                Post.update(caption=caption(rng)).where(Post.id == post_id).execute()
            for post_id in rng.sample(ids, 1):
                Post.delete().where(Post.id == post_id).execute()
                ids.remove(post_id)
            if round_number == 2:
                Client.update(timezone="Asia/Tokyo").where(Client.id == tenant.client.id).execute()
        assert_same_as_from_scratch(client, tenant)  # computed at the new revision
        computed = results.computations
        assert_same_as_from_scratch(client, tenant)  # read back, still equal
        for period in (1, 7, 30, 365):
            assert_audit_same_as_from_scratch(client, tenant, clock, period)
        assert results.computations == computed  # the audit reads the held items (or the stored timeline)
        assert_export_same_as_from_scratch(client, tenant, clock)  # computes the scores it had not read
        computed = results.computations
        assert_export_same_as_from_scratch(client, tenant, clock)
        assert results.computations == computed  # the export reads the stored results
        clock.set(START + dt.timedelta(days=rng.randint(0, 70), seconds=rng.randint(0, 86400)))


def test_scoring_a_stored_post_leaves_it_out_of_the_model(client, tenant):
    ids = [make_post(tenant, f"Why is rye so dense? #bread {n}", START + dt.timedelta(days=n)) for n in range(6)]
    push(client, tenant, [{"post_id": post_id, "likes": 10 * (n + 1), "reach": 1000} for n, post_id in enumerate(ids)])
    body = client.post("/api/intelligence/score", headers=tenant.headers, json={"post_id": ids[0]}).get_json()
    learned = next(part for part in body["strategies"] if part["name"] == "learned")
    assert learned["details"]["history_posts"] == 5
    body = client.post("/api/intelligence/score", headers=tenant.headers,
                       json={"caption": "Why is rye so dense? #bread", "client_id": tenant.client.id}).get_json()
    learned = next(part for part in body["strategies"] if part["name"] == "learned")
    assert learned["details"]["history_posts"] == 6


@pytest.fixture(params=["sqlite", "postgresql"])
def database_at_0031(request, tmp_path):
    """A database migrated to 0031 (SQLite, or a PostgreSQL database of its own when HERALD_TEST_POSTGRES is set)."""
    yield from database_migrated_to(request.param, tmp_path, "0031_post_insights")


def test_the_migration_adds_the_triggers_and_goes_down_and_up_again(database_at_0031):
    database = database_at_0031
    # Rows written without today's models (later migrations may add post columns).
    old_post = Table("post", ("id", "workspace_id", "client_id", "topic", "caption", "post_type", "platforms",
                              "media", "status", "created_at", "updated_at")).bind(database)
    now = dt.datetime(2026, 6, 1, 9)
    with bound(database):
        workspace = Workspace.create(name="w")
        client_id = Client.create(workspace=workspace, name="c").id

    def add_post():
        old_post.insert(workspace_id=workspace.id, client_id=client_id, topic="", caption="Hi",
                               post_type="post", platforms="[]", media="[]", status="draft", created_at=now,
                               updated_at=now).execute()

    def counter():
        row = database.execute_sql("SELECT revision FROM intelligence_revision WHERE client_id = "
                                   f"{int(client_id)}").fetchone()
        return row[0] if row else 0

    with database.connection_context():
        runner(database).up("0032_intelligence_revisions")
        add_post()
        post_id = database.execute_sql("SELECT MAX(id) FROM post").fetchone()[0]
        database.execute_sql(f"INSERT INTO engagement_snapshot (post_id, likes, comments, saves, shares, reach, "
                             f"source, recorded_at) VALUES ({int(post_id)}, 1, 0, 0, 0, 10, 'api', '2026-06-01')")
        assert counter() == 2
        runner(database).down("0032_intelligence_revisions")
        assert "intelligence_revision" not in database.get_tables()
        assert "intelligence_result" not in database.get_tables()
        add_post()  # no trigger left behind
        runner(database).up("0032_intelligence_revisions")
        add_post()
        assert counter() == 1


def test_results_of_another_version_or_forgotten_by_rebuild_are_computed_again(app, client, tenant):
    post_id = make_post(tenant, "Why is rye so dense? #bread", START)
    push(client, tenant, [{"post_id": post_id, "likes": 30, "reach": 1000}])
    read_all(client, tenant)
    with db.connection_context():
        row = IntelligenceResult.get(IntelligenceResult.kind == "memory")
        stored = json.loads(row.body)
        assert stored["version"] == results.VERSION
        row.body = json.dumps({**stored, "version": "0.0.0/0/0"})  # as an older Herald stored it
        row.save()
    before = results.computations
    read_all(client, tenant)
    assert results.computations - before == 1
    result = app.test_cli_runner().invoke(cli, ["derived", "rebuild", "intelligence", "--workspace",
                                                   str(tenant.workspace.id)])
    assert result.exit_code == 0, result.output
    with db.connection_context():
        assert IntelligenceResult.select().count() == 0
    read_all(client, tenant)
    assert results.computations - before == 1 + len(READ_KINDS)


def test_the_audit_from_the_stored_timeline_keeps_posts_on_the_edges_of_its_periods(client, tenant, clock):
    now = dt.datetime(2026, 3, 29, 1, 30, 0, 250)  # the night Europe/Berlin moves its clocks forward
    with db.connection_context():
        Client.update(timezone="Europe/Berlin").where(Client.id == tenant.client.id).execute()
    period = dt.timedelta(days=7)
    edges = [now, now - dt.timedelta(microseconds=1), now - period, now - period - dt.timedelta(microseconds=1),
             now - 2 * period, now - 2 * period - dt.timedelta(microseconds=1), now - period / 2,
             now - dt.timedelta(hours=1), now + dt.timedelta(hours=1)]
    ids = [make_post(tenant, f"{OPENERS[n % len(OPENERS)]} #bread {n}", when) for n, when in enumerate(edges)]
    push(client, tenant, [{"post_id": post_id, "likes": 10 * n, "comments": n, "reach": 1000}
                          for n, post_id in enumerate(ids)])
    clock.set(now)
    assert_audit_same_as_from_scratch(client, tenant, clock, 7)
    body = client.post("/api/intelligence/analyze-performance", headers=tenant.headers,
                       json={"client_id": tenant.client.id, "period": 7}).get_json()
    assert body["cadence"]["posts"] == 4 and body["cadence"]["previous_period_posts"] == 2


def test_the_cron_chore_refreshes_the_results_of_clients_read_before_whose_data_changed(client, tenant,
                                                                                        make_tenant):
    rng = random.Random(33)
    ids = [make_post(tenant, caption(rng), START + dt.timedelta(hours=rng.randint(0, 24 * 30))) for _ in range(12)]
    unread = make_tenant("Never read")
    make_post(unread, caption(rng), START)  # a client nobody reads intelligence for: never computed
    read_all(client, tenant)
    assert chores.refresh_intelligence() == {"refreshed": 0}  # nothing changed since the read
    with db.connection_context():
        EngagementSnapshot.create(post=ids[0], source="instagram", likes=70, reach=900)  # straight to the table
        assert results.stale_clients(10) == [tenant.client.id]
    assert chores.refresh_intelligence() == {"refreshed": 1}
    with db.connection_context():
        assert results.stale_clients(10) == []
        assert {row.kind: row.revision for row in IntelligenceResult.select()} == dict.fromkeys(
            lookups.KINDS, revision(tenant))  # every kind was computed again
    before = results.computations
    read_all(client, tenant)
    assert results.computations == before  # the read after the write was a lookup
    memory = client.get(f"/api/intelligence/memory?client_id={tenant.client.id}", headers=tenant.headers).get_json()
    with db.connection_context():
        client_row = Client.get_by_id(tenant.client.id)
        assert memory == as_json(intelligence_memory.build(client_row, history.recompute(tenant.workspace.id,
                                                                                            client_row)))
    with db.connection_context():
        Client.update(deleted_at=START).where(Client.id == tenant.client.id).execute()
        Client.update(brand_voice="Calm.").where(Client.id == tenant.client.id).execute()
        assert results.stale_clients(10) == []  # a deleted client is left alone, and takes no place in a batch
    assert chores.refresh_intelligence() == {"refreshed": 0}
