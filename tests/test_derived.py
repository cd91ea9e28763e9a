"""The registry of derived data (:mod:`herald.derived`): every trigger of every family exists after an
upgrade, a missing one is reported (``herald derived check``, ``/health``) and reinstalled by a rebuild,
and a bulk load with the triggers suspended ends with every family rebuilt from the rows there are.
On SQLite, and on PostgreSQL with HERALD_TEST_POSTGRES."""

from __future__ import annotations

import json

import peewee as pw
import pytest
from migration_support import database_migrated_to

from herald import chores, cron, derived
from herald.cli import cli
from herald.config import Config
from herald.db import daily_figures, post_counts
from herald.db.models import EngagementSnapshot, IntelligenceResult, Post, PostCount, db, utcnow
from herald.intelligence import results
from herald.publishing.posts import record_engagement
from herald.upgrading import upgrade


def catalogue_triggers(database: pw.Database) -> set[str]:
    """The triggers the database's own catalogue lists (not through :mod:`herald.db.triggers`)."""
    query = ("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal" if isinstance(database, pw.PostgresqlDatabase)
             else "SELECT name FROM sqlite_master WHERE type = 'trigger'")
    return {row[0] for row in database.execute_sql(query).fetchall()}


def drop(database: pw.Database, name: str) -> None:
    """Drop trigger ``name`` as a SQLite table rebuild would (PostgreSQL: from the table it is on)."""
    table = ""
    if isinstance(database, pw.PostgresqlDatabase):
        table = " ON " + database.execute_sql("SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                                              "WHERE t.tgname = %s", (name,)).fetchone()[0]
    database.execute_sql(f"DROP TRIGGER {name}{table}")


@pytest.fixture(params=["sqlite", "postgresql"])
def upgraded(request, tmp_path):
    """A database of its own (SQLite, or PostgreSQL when HERALD_TEST_POSTGRES is set) upgraded to the head."""
    for database in database_migrated_to(request.param, tmp_path, "0001_initial"):
        upgrade(database)
        yield database


def test_every_trigger_of_every_family_exists_after_an_upgrade(upgraded):
    with upgraded.connection_context():
        present = catalogue_triggers(upgraded)
        for entry in derived.REGISTRY:
            names = entry.trigger_names(upgraded)
            assert names, entry.name
            assert set(names) <= present, (entry.name, set(names) - present)
        assert derived.missing_triggers(upgraded) == []


@pytest.fixture
def app(build_app, plugin):
    return build_app()


def test_a_dropped_trigger_is_reported_by_check_and_reinstalled_by_rebuild(app, tenant):
    with db.connection_context():
        for entry in derived.REGISTRY:
            dropped = entry.trigger_names(db.obj)[-1]
            drop(db.obj, dropped)
            assert dropped not in catalogue_triggers(db.obj)
            assert [d.message for d in entry.check(db.obj)] == [f"trigger {dropped} is missing"]
            assert derived.missing_triggers(db.obj) == [dropped]
            entry.rebuild(db.obj)
            assert dropped in catalogue_triggers(db.obj)
            assert entry.check(db.obj) == []


def test_the_cli_health_and_cron_report_and_repair_a_missing_trigger(app, client, tenant, caplog):
    runner = app.test_cli_runner()
    listed = runner.invoke(cli, ["derived", "list"])
    assert listed.exit_code == 0 and listed.output.count("all present") == len(derived.REGISTRY), listed.output
    assert client.get("/health").get_json()["checks"]["derived"]["missing_triggers"] == []
    with db.connection_context():
        name = post_counts.TRIGGERS.names(db.obj)[0]  # the one that counts a new post
        drop(db.obj, name)
    health = client.get("/health")
    assert health.status_code == 200, health.get_json()  # reported, not a reason to take the service out
    assert health.get_json()["checks"]["derived"]["ok"] is False
    assert health.get_json()["checks"]["derived"]["missing_triggers"] == [name]
    created = client.post("/api/webhooks", headers=tenant.headers, json={
        "action": "create_post", "client_id": tenant.client.id, "caption": "Behind the counters' back",
        "platforms": "instagram"})
    assert created.status_code in (200, 201), created.get_json()
    result = runner.invoke(cli, ["derived", "check", "--json"])
    assert result.exit_code == 1
    found = json.loads(result.output)
    assert {"name": "counters", "workspace_id": None, "message": f"trigger {name} is missing"} in found
    assert any(d["name"] == "counters" and d["workspace_id"] == tenant.workspace.id and "stored 0, counted 1"
               in d["message"] for d in found), found
    assert "missing" in runner.invoke(cli, ["derived", "list"]).output
    assert len(derived.repair(db.obj)) == len(found)
    assert runner.invoke(cli, ["derived", "check"]).exit_code == 0
    repaired = [record.getMessage() for record in caplog.records if record.name == "herald.derived"]
    assert f"derived data counters: trigger {name} is missing: repairing" in repaired
    checked = client.get("/health").get_json()["checks"]["derived"]
    assert checked["ok"] is True and checked["missing_triggers"] == [] and "message" not in checked
    assert client.get("/v1/posts", headers=tenant.headers).get_json()["total"] == 1


def test_the_cli_refuses_an_unknown_name(app):
    result = app.test_cli_runner().invoke(cli, ["derived", "check", "countres"])
    assert result.exit_code != 0 and "no derived data called 'countres'" in result.output
    assert "known: counters, figures, engagement, intelligence" in result.output


def test_a_load_with_the_triggers_suspended_ends_with_everything_rebuilt(app, client, tenant):
    read = client.get(f"/api/intelligence/memory?client_id={tenant.client.id}", headers=tenant.headers)
    assert read.status_code == 200, read.get_json()
    with db.connection_context():
        assert IntelligenceResult.select().count() >= 1
        revisions_before = results.revision(tenant.client.id)
        with derived.suspended(db.obj):
            assert all(entry.missing_triggers(db.obj) == list(entry.trigger_names(db.obj))
                       for entry in derived.REGISTRY)
            for number in range(3):
                post = Post.create(workspace=tenant.workspace.id, client=tenant.client.id, caption=f"Loaded {number}",
                                   status="published", published_at=utcnow())
                record_engagement(post, {"likes": number, "reach": 10 * number}, "api")
            assert PostCount.select().count() == 0  # nothing followed the rows in
            assert results.revision(tenant.client.id) == revisions_before
        assert derived.missing_triggers(db.obj) == []
        assert [difference for entry in derived.REGISTRY for difference in entry.check(db.obj)] == []
        assert post_counts.total(tenant.workspace.id) == 3
        assert daily_figures.stored(db.obj) == daily_figures.recompute(db.obj) != []
        assert IntelligenceResult.select().count() == 0  # stored at revisions that missed the load
        assert EngagementSnapshot.select().count() == 3


def planner_rows(database: pw.Database, table: str) -> int | None:
    """The rows the planner's statistics say ``table`` has (None: never analyzed): PostgreSQL's
    ``pg_class.reltuples`` (-1 before the first ANALYZE), SQLite's first number in ``sqlite_stat1``."""
    if isinstance(database, pw.PostgresqlDatabase):
        rows = database.execute_sql("SELECT reltuples FROM pg_class WHERE oid = CAST(%s AS regclass)",
                                    (table,)).fetchone()[0]
        return None if rows < 0 else int(rows)
    if not database.execute_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone():
        return None
    stat = database.execute_sql("SELECT stat FROM sqlite_stat1 WHERE tbl = ?", (table,)).fetchone()
    return None if stat is None else int(stat[0].split()[0])


def test_a_load_ends_with_statistics_of_the_rows_loaded_and_of_the_rebuilt_data(app, tenant):
    """The rebuild after a bulk load plans with statistics of what was loaded (an empty PostgreSQL
    database loaded with 1M posts spent over 25 minutes rebuilding without them), and the derived
    tables it filled are analyzed after it."""
    with db.connection_context():
        before = Post.select().count()
        with derived.suspended(db.obj):
            for number in range(7):
                post = Post.create(workspace=tenant.workspace.id, client=tenant.client.id, caption=f"Loaded {number}",
                                   status="published", published_at=utcnow())
                record_engagement(post, {"likes": number, "reach": 10 * number}, "api")
        assert Post.select().count() == before + 7
        assert planner_rows(db.obj, "post") == before + 7
        assert planner_rows(db.obj, "engagement_snapshot") == EngagementSnapshot.select().count() == 7
        owner_hours = db.execute_sql("SELECT COUNT(*) FROM engagement_owner_hour").fetchone()[0]
        assert owner_hours > 0 and planner_rows(db.obj, "engagement_owner_hour") == owner_hours
        assert [difference for entry in derived.REGISTRY for difference in entry.check(db.obj)] == []
        assert daily_figures.stored(db.obj) == daily_figures.recompute(db.obj) != []


def test_the_triggers_come_back_when_the_load_fails(app, tenant):
    with db.connection_context():
        with pytest.raises(RuntimeError), derived.suspended(db.obj):
            Post.create(workspace=tenant.workspace.id, client=tenant.client.id, caption="half a load")
            raise RuntimeError("the load broke")
        assert derived.missing_triggers(db.obj) == []
        assert post_counts.total(tenant.workspace.id) == 1


def test_one_setting_says_how_often_cron_checks_and_repairs_everything(redis_client):
    config = Config.from_env({"HERALD_DERIVED_CHECK_INTERVAL_SECONDS": "3600"})
    jobs = [job for job in cron.make_cron(redis_client, config)._cron_jobs if job.func is chores.repair_derived]
    assert [job.interval for job in jobs] == [3600]
    assert not [job for job in cron.make_cron(redis_client, config)._cron_jobs
                if job.func.__name__ in ("repair_post_counts", "check_figures")]
    with pytest.raises(ValueError, match="HERALD_DERIVED_CHECK_INTERVAL_SECONDS"):
        Config.from_env({"HERALD_DERIVED_CHECK_INTERVAL_SECONDS": "30"})
