"""The client portal's lists read indexes in their orders (migration 0036, issue 25): the migration goes
up and down, and each list's query (the one the page runs) walks its index for each of its statuses
with no sort, but the one of the few rows of a group of several statuses, on SQLite and on PostgreSQL
(HERALD_TEST_POSTGRES)."""

from __future__ import annotations

import datetime as dt
import json

import peewee as pw
import pytest
from migration_support import database_migrated_to

from herald.db.migrate import runner
from herald.db.models import PortalToken, db, utcnow
from herald.portal import page

MIGRATION = "0036_portal_list_indexes"
PUBLISHED, SCHEDULED, UPDATED = (f"post_client_id_status_{name}_at" for name in ("published", "scheduled", "updated"))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_at_0035(request, tmp_path):
    """A database migrated to 0035 (SQLite, or a PostgreSQL database of its own when HERALD_TEST_POSTGRES is set)."""
    yield from database_migrated_to(request.param, tmp_path, "0035_engagement_hours")


def post_indexes(database: pw.Database) -> dict[str, str]:
    """Each index on ``post``: its name and the SQL that made it."""
    return {index.name: index.sql or "" for index in database.get_indexes("post")}


def test_the_migration_adds_the_indexes_in_the_lists_orders_and_goes_down_and_up_again(database_at_0035):
    database = database_at_0035
    postgres = isinstance(database, pw.PostgresqlDatabase)
    expected = {PUBLISHED: "PUBLISHED_AT DESC NULLS LAST, ID DESC" if postgres else "PUBLISHED_AT DESC, ID DESC",
                SCHEDULED: "SCHEDULED_AT NULLS FIRST, ID" if postgres else "SCHEDULED_AT, ID",
                UPDATED: "UPDATED_AT DESC, ID DESC"}
    with database.connection_context():
        runner(database).up(MIGRATION)
        made = post_indexes(database)
        for name, columns in expected.items():
            assert "(CLIENT_ID, STATUS, " + columns + ")" in made[name].upper().replace('"', ""), made[name]
        runner(database).down(MIGRATION)
        assert not set(expected) & set(post_indexes(database))
        runner(database).up(MIGRATION)
        assert set(expected) <= set(post_indexes(database))


def test_on_sqlite_the_migration_gives_the_indexes_statistics_as_the_others_have(tmp_path):
    """SQLite takes an index without statistics for a very selective one: after an ANALYZE (a bulk load's)
    a new index without them was chosen over better ones (the health scores' hour edges: 11 s at 1M)."""
    for database in database_migrated_to("sqlite", tmp_path, "0035_engagement_hours"):
        with database.connection_context():
            database.execute_sql("INSERT INTO workspace (name, plan, settings, created_at) "
                                 "VALUES ('w', 'pro', '{}', CURRENT_TIMESTAMP)")
            for number in range(20):
                status = "published" if number % 2 else "draft"
                database.execute_sql("INSERT INTO post (workspace_id, topic, caption, post_type, platforms, media, "
                                     "status, created_at, updated_at) VALUES (1, '', '', 'post', '[]', '[]', "
                                     f"'{status}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)")
            database.execute_sql("ANALYZE")
            runner(database).up(MIGRATION)
            analyzed = {row[0] for row in database.execute_sql("SELECT idx FROM sqlite_stat1 WHERE tbl = 'post'")}
            assert {PUBLISHED, SCHEDULED, UPDATED} <= analyzed, analyzed


GROUPS = [  # (the page's list, its statuses, its order, whether it looks at recent posts only, its index)
    ("awaiting", page.AWAITING, page.SCHEDULED_ORDER, False, SCHEDULED),
    ("upcoming", page.UPCOMING, page.SCHEDULED_ORDER, False, SCHEDULED),
    ("published", page.PUBLISHED, page.PUBLISHED_ORDER, False, PUBLISHED),
    ("problems", page.PROBLEMS, page.UPDATED_ORDER, True, UPDATED),
    ("rejected", page.REJECTED, page.UPDATED_ORDER, True, UPDATED),
]


def plan_of(tenant, statuses, order, recent: bool) -> tuple[str, list[str]]:
    """The backend and the plan of a group's query for ``tenant``'s client (PostgreSQL: node types and
    index names, with sorting and sequential scans priced out, so the plan uses an index when it can
    serve the order at all; the tables are too small to prefer it on their own)."""
    link = PortalToken(workspace=tenant.workspace.id, client=tenant.client.id)
    since = utcnow() - dt.timedelta(days=page.RECENT_DAYS) if recent else None
    sql, params = page.group_query(link, statuses, order, since, recent=("failed",) if recent else None).sql()
    with db.connection_context():
        if not isinstance(db.obj, pw.PostgresqlDatabase):
            return "sqlite", [row[3] for row in db.execute_sql("EXPLAIN QUERY PLAN " + sql, params).fetchall()]
        with db.atomic():
            for setting in ("enable_sort", "enable_seqscan", "enable_bitmapscan"):
                db.execute_sql(f"SET LOCAL {setting} = off")
            plan = db.execute_sql("EXPLAIN (FORMAT JSON) " + sql, params).fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    nodes, stack = [], [plan[0]["Plan"]]
    while stack:
        node = stack.pop()
        nodes.append(f"{node['Node Type']} {node.get('Index Name', '')}".strip())
        stack += node.get("Plans", [])
    return "postgresql", nodes


@pytest.mark.parametrize(("name", "statuses", "order", "recent", "index"), GROUPS, ids=[group[0] for group in GROUPS])
def test_each_list_walks_its_index_in_order_for_each_status(app, tenant, name, statuses, order, recent, index):
    backend, plan = plan_of(tenant, statuses, order, recent)
    # a group of several statuses sorts once the at most 50 posts of each: nothing that grows with the client
    sorts = 0 if len(statuses) == 1 else 1
    if backend == "sqlite":
        assert sum(f"USING INDEX {index} " in step for step in plan) == len(statuses), plan
        assert sum("TEMP B-TREE" in step for step in plan) == sorts, plan
    else:
        assert sum(node == f"Index Scan {index}" for node in plan) == len(statuses), plan
        assert sum("Sort" in node for node in plan) == sorts, plan


@pytest.fixture
def app(build_app, plugin):
    return build_app()
