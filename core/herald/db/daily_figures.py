"""Per-day and per-hour, per-client figures that the reports read instead of scanning every post (issue 25).

One ``daily_figures`` row per (workspace, client, UTC day), and one ``hourly_figures`` row per
(workspace, UTC hour, client), hold what the health scores and the analytics export count (see
:mod:`herald.intelligence.daily_analytics` for what each means):

- ``posts_created`` by the post's ``created_at``; ``posts_published`` by its ``published_at``;
- ``tasks_published`` / ``tasks_failed`` / ``tasks_unconfirmed``: publish tasks that ended so, by the
  task's ``updated_at``;
- ``engaged_posts`` and ``likes`` … ``reach``: each post's newest engagement snapshot (by
  ``recorded_at``, then id), counted once, on the day the post went out
  (``COALESCE(published_at, scheduled_at, created_at)``).

Each :class:`Bucket` (:data:`DAY`, :data:`HOUR`) is a table with the same counts, keyed by the UTC day
or the UTC hour (truncated) of the same moments; the same statements fill both, one upsert per bucket.
The hours let a report sum a period that does not start or end at midnight UTC (the edge days of
"the last 28 days", a local day in another time zone) without walking the posts of its edge days.

Posts without a client count under ``client_id`` 0. Beside them, ``client_account`` counts the
publish tasks of each client's posts per account: a client's health looks at the accounts with tasks.

The rows are kept by database triggers, so every write that changes a figure (the API, a worker, a
cascade, a migration) changes it in the same transaction, with ``INSERT … ON CONFLICT DO UPDATE SET
x = x + excluded.x`` (never read, modify, write). A post's update that moves it (client, times)
takes its whole contribution off the old day and puts it on the new one. A new snapshot that becomes
the post's newest adds the difference from the one before. On PostgreSQL the triggers take a
transaction-scoped advisory lock per post, so two transactions recording engagement for the same
post at once are applied one after the other (each sees the other's snapshot once it committed) and
the sums stay exact.

Snapshots are append-only (they go with their post); the triggers do not follow a snapshot deleted
or edited by hand: :func:`rebuild` recomputes everything from scratch (``herald derived rebuild figures``),
and the cron's check (:mod:`herald.derived`) does so when a workspace's rows differ from a recomputation.

SQLite rebuilds a table to alter or drop one of its columns (peewee's migrator copies it), and the
copy has no triggers: a migration that does so to ``post``, ``publish_task`` or
``engagement_snapshot`` must call :func:`install` again afterwards.
"""

from __future__ import annotations

import dataclasses

import peewee as pw

from . import triggers as trigger_names

ACCOUNTS_TABLE = "client_account"
COUNTS = ("posts_created", "posts_published", "tasks_published", "tasks_failed", "tasks_unconfirmed",
          "engaged_posts", "likes", "comments", "saves", "shares", "reach")
METRICS = ("likes", "comments", "saves", "shares", "reach")
ENDED = {"tasks_published": "published", "tasks_failed": "failed", "tasks_unconfirmed": "unconfirmed"}
LOCK_CLASS = 25030  # the advisory lock class of these triggers (PostgreSQL), the migration's number



@dataclasses.dataclass(frozen=True)
class Bucket:
    """One granularity of the figures: its table, its key column, and the key of a stored naive UTC
    timestamp on PostgreSQL and on SQLite (which keeps them as ISO text, ``YYYY-MM-DD HH:MM:SS[.ffffff]``)."""

    table: str
    column: str
    postgres: str
    sqlite: str
    width: int  # the characters of the key's text form (what :func:`stored` and :func:`recompute` compare)

    def key(self, expression: str, postgres: bool) -> str:
        """SQL for the bucket holding the timestamp ``expression``."""
        return (self.postgres if postgres else self.sqlite).format(expression)


DAY = Bucket("daily_figures", "day", "CAST({} AS date)", "substr({}, 1, 10)", 10)
HOUR = Bucket("hourly_figures", "hour", "date_trunc('hour', {})", "substr({}, 1, 13) || ':00:00'", 19)
BUCKETS = (DAY, HOUR)


def _is_postgres(database: pw.Database) -> bool:
    return isinstance(database, pw.PostgresqlDatabase)


def _upsert(bucket: Bucket, select: str) -> str:
    """``INSERT`` the rows of ``select`` (workspace, client, bucket key, then :data:`COUNTS`) into
    ``bucket``'s table, adding to rows that exist."""
    columns = ", ".join(COUNTS)
    added = ", ".join(f"{name} = {bucket.table}.{name} + excluded.{name}" for name in COUNTS)
    return (f"INSERT INTO {bucket.table} (workspace_id, client_id, {bucket.column}, {columns}) {select} "
            f"ON CONFLICT (workspace_id, {bucket.column}, client_id) DO UPDATE SET {added}")


def _values(**given: str) -> str:
    """The :data:`COUNTS` columns of a select list: the given expressions, 0 for the others."""
    return ", ".join(given.get(name, "0") for name in COUNTS)


def _went_out(row: str) -> str:
    return f"COALESCE({row}.published_at, {row}.scheduled_at, {row}.created_at)"


def _newest_snapshot(post_id: str, *, besides: str | None = None) -> str:
    """A scalar subquery: the id of the newest snapshot of ``post_id`` (other than ``besides``)."""
    other = f" AND s.id <> {besides}" if besides else ""
    return (f"(SELECT s.id FROM engagement_snapshot s WHERE s.post_id = {post_id}{other} "
            "ORDER BY s.recorded_at DESC, s.id DESC LIMIT 1)")


def _post_statements(row: str, sign: str, postgres: bool, buckets: tuple[Bucket, ...]) -> list[str]:
    """The statements adding ``sign`` × the whole contribution of post ``row`` (``NEW`` or ``OLD``) to
    each of ``buckets`` and to the tasks of its client per account."""
    statements = [statement for bucket in buckets for statement in _post_upserts(bucket, row, sign, postgres)]
    return [*statements,
            _account_upsert(f"SELECT {row}.workspace_id, {row}.client_id, t.account_id, {sign} * COUNT(*) "
                            f"FROM publish_task t WHERE t.post_id = {row}.id AND {row}.client_id IS NOT NULL "
                            "GROUP BY t.account_id")]


def _post_upserts(bucket: Bucket, row: str, sign: str, postgres: bool) -> list[str]:
    """The upserts of post ``row``'s contribution to ``bucket``: its creation, its publication, its
    newest snapshot and its ended tasks, each in the bucket of its own moment."""
    def at(expression: str) -> str:
        return bucket.key(expression, postgres)

    key = f"{row}.workspace_id, COALESCE({row}.client_id, 0)"
    ended = ", ".join(f"'{status}'" for status in ENDED.values())
    tasks = {name: f"{sign} * SUM(CASE WHEN t.status = '{status}' THEN 1 ELSE 0 END)" for name, status in ENDED.items()}
    metrics = {name: f"{sign} * COALESCE(e.{name}, 0)" for name in METRICS}
    return [
        _upsert(bucket, f"SELECT {key}, {at(f'{row}.created_at')}, {_values(posts_created=sign)} "
                f"WHERE {row}.created_at IS NOT NULL"),
        _upsert(bucket, f"SELECT {key}, {at(f'{row}.published_at')}, {_values(posts_published=sign)} "
                f"WHERE {row}.published_at IS NOT NULL"),
        _upsert(bucket, f"SELECT {key}, {at(_went_out(row))}, {_values(engaged_posts=sign, **metrics)} "
                f"FROM engagement_snapshot e WHERE e.id = {_newest_snapshot(f'{row}.id')}"),
        _upsert(bucket, f"SELECT {key}, {at('t.updated_at')}, {_values(**tasks)} FROM publish_task t "
                f"WHERE t.post_id = {row}.id AND t.status IN ({ended}) GROUP BY {at('t.updated_at')}"),
    ]


def _task_statements(row: str, sign: str, postgres: bool, buckets: tuple[Bucket, ...]) -> list[str]:
    """Add ``sign`` × task ``row`` to its post's day and hour of ``updated_at`` when it ended, and to the
    tasks of its client with its account."""
    tasks = {name: f"CASE WHEN {row}.status = '{status}' THEN {sign} ELSE 0 END" for name, status in ENDED.items()}
    ended = ", ".join(f"'{status}'" for status in ENDED.values())
    return [
        *(_upsert(bucket, f"SELECT p.workspace_id, COALESCE(p.client_id, 0), "
                  f"{bucket.key(f'{row}.updated_at', postgres)}, {_values(**tasks)} FROM post p "
                  f"WHERE p.id = {row}.post_id AND {row}.status IN ({ended})")
          for bucket in buckets),
        _account_upsert(f"SELECT p.workspace_id, p.client_id, {row}.account_id, {sign} FROM post p "
                        f"WHERE p.id = {row}.post_id AND p.client_id IS NOT NULL"),
    ]


def _account_upsert(select: str) -> str:
    """``INSERT`` the ``(workspace_id, client_id, account_id, tasks)`` rows of ``select``, adding to rows that exist."""
    return (f"INSERT INTO {ACCOUNTS_TABLE} (workspace_id, client_id, account_id, tasks) {select} "
            f"ON CONFLICT (client_id, account_id) DO UPDATE SET tasks = {ACCOUNTS_TABLE}.tasks + excluded.tasks")


def _snapshot_statement(postgres: bool, bucket: Bucket) -> str:
    """Adds the difference between a new snapshot and the post's previous newest, when the new one is newest."""
    metrics = {name: f"NEW.{name} - COALESCE(prev.{name}, 0)" for name in METRICS}
    newer = ("SELECT 1 FROM engagement_snapshot s WHERE s.post_id = NEW.post_id AND s.id <> NEW.id "
             "AND (s.recorded_at > NEW.recorded_at OR (s.recorded_at = NEW.recorded_at AND s.id > NEW.id))")
    return _upsert(
        bucket,
        f"SELECT p.workspace_id, COALESCE(p.client_id, 0), {bucket.key(_went_out('p'), postgres)}, "
        f"{_values(engaged_posts='CASE WHEN prev.id IS NULL THEN 1 ELSE 0 END', **metrics)} "
        f"FROM post p LEFT JOIN engagement_snapshot prev ON prev.id = "
        f"{_newest_snapshot('NEW.post_id', besides='NEW.id')} "
        f"WHERE p.id = NEW.post_id AND NOT EXISTS ({newer})")


_POST_MOVES = ("workspace_id", "client_id", "created_at", "published_at", "scheduled_at")
_TASK_MOVES = ("post_id", "account_id", "status", "updated_at")


def _changed(columns, postgres: bool) -> str:
    operator = "IS DISTINCT FROM" if postgres else "IS NOT"
    return " OR ".join(f"OLD.{column} {operator} NEW.{column}" for column in columns)


def _sqlite_ddl(buckets: tuple[Bucket, ...]) -> list[str]:
    def trigger(name: str, when: str, statements: list[str], condition: str = "") -> str:
        body = "; ".join(statements)
        return f"CREATE TRIGGER {name} {when} FOR EACH ROW {condition} BEGIN {body}; END"

    return [
        trigger("daily_figures_post_insert", "AFTER INSERT ON post", _post_statements("NEW", "1", False, buckets)),
        trigger("daily_figures_post_update", "AFTER UPDATE ON post",
                _post_statements("OLD", "-1", False, buckets) + _post_statements("NEW", "1", False, buckets),
                f"WHEN {_changed(_POST_MOVES, False)}"),
        # Before the row goes: its snapshots and tasks (deleted by the cascade) are still there to subtract.
        trigger("daily_figures_post_delete", "BEFORE DELETE ON post", _post_statements("OLD", "-1", False, buckets)),
        trigger("daily_figures_task_insert", "AFTER INSERT ON publish_task",
                _task_statements("NEW", "1", False, buckets)),
        trigger("daily_figures_task_update", "AFTER UPDATE ON publish_task",
                _task_statements("OLD", "-1", False, buckets) + _task_statements("NEW", "1", False, buckets),
                f"WHEN {_changed(_TASK_MOVES, False)}"),
        # A task deleted with its post finds no post here: the post's own trigger took it off.
        trigger("daily_figures_task_delete", "AFTER DELETE ON publish_task",
                _task_statements("OLD", "-1", False, buckets)),
        trigger("daily_figures_snapshot_insert", "AFTER INSERT ON engagement_snapshot",
                [_snapshot_statement(False, bucket) for bucket in buckets]),
        trigger("daily_figures_workspace_delete", "AFTER DELETE ON workspace", _workspace_deletes(buckets)),
    ]


def _workspace_deletes(buckets: tuple[Bucket, ...]) -> list[str]:
    return [*(f"DELETE FROM {bucket.table} WHERE workspace_id = OLD.id" for bucket in buckets),
            f"DELETE FROM {ACCOUNTS_TABLE} WHERE workspace_id = OLD.id"]


def _lock(post_id: str) -> str:
    return f"PERFORM pg_advisory_xact_lock({LOCK_CLASS}, mod({post_id}, 2147483647)::int)"


def _pg_function(name: str, body: str) -> str:
    return (f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body} "
            "IF TG_OP = 'DELETE' THEN RETURN OLD; END IF; RETURN NEW; END $$")


def _pg_ddl(buckets: tuple[Bucket, ...]) -> list[str]:
    def block(op_test: str, row: str, statements: list[str]) -> str:
        return f"IF {op_test} THEN {'; '.join(statements)}; END IF;"

    old_post = [_lock("OLD.id"), *_post_statements("OLD", "-1", True, buckets)]
    new_post = [_lock("NEW.id"), *_post_statements("NEW", "1", True, buckets)]
    # A task moved to another post locks both first, in the order of their ids: two tasks moved between
    # the same posts in crossing ways at once wait for each other instead of deadlocking.
    both_posts = block("TG_OP = 'UPDATE'", "NEW", [_lock("LEAST(OLD.post_id, NEW.post_id)"),
                                                   _lock("GREATEST(OLD.post_id, NEW.post_id)")])
    old_task = [_lock("OLD.post_id"), *_task_statements("OLD", "-1", True, buckets)]
    new_task = [_lock("NEW.post_id"), *_task_statements("NEW", "1", True, buckets)]
    snapshot = "; ".join([_lock("NEW.post_id"), *(_snapshot_statement(True, bucket) for bucket in buckets)])
    return [
        _pg_function("herald_figures_post", block("TG_OP IN ('UPDATE', 'DELETE')", "OLD", old_post)
                     + block("TG_OP IN ('INSERT', 'UPDATE')", "NEW", new_post)),
        _pg_function("herald_figures_task", both_posts + block("TG_OP IN ('UPDATE', 'DELETE')", "OLD", old_task)
                     + block("TG_OP IN ('INSERT', 'UPDATE')", "NEW", new_task)),
        _pg_function("herald_figures_snapshot", f"{snapshot};"),
        _pg_function("herald_figures_workspace", "; ".join(_workspace_deletes(buckets)) + ";"),
        "CREATE TRIGGER daily_figures_post_insert AFTER INSERT ON post FOR EACH ROW "
        "EXECUTE FUNCTION herald_figures_post()",
        f"CREATE TRIGGER daily_figures_post_update AFTER UPDATE ON post FOR EACH ROW "
        f"WHEN ({_changed(_POST_MOVES, True)}) EXECUTE FUNCTION herald_figures_post()",
        "CREATE TRIGGER daily_figures_post_delete BEFORE DELETE ON post FOR EACH ROW "
        "EXECUTE FUNCTION herald_figures_post()",
        "CREATE TRIGGER daily_figures_task_insert AFTER INSERT ON publish_task FOR EACH ROW "
        "EXECUTE FUNCTION herald_figures_task()",
        f"CREATE TRIGGER daily_figures_task_update AFTER UPDATE ON publish_task FOR EACH ROW "
        f"WHEN ({_changed(_TASK_MOVES, True)}) EXECUTE FUNCTION herald_figures_task()",
        "CREATE TRIGGER daily_figures_task_delete AFTER DELETE ON publish_task FOR EACH ROW "
        "EXECUTE FUNCTION herald_figures_task()",
        "CREATE TRIGGER daily_figures_snapshot_insert AFTER INSERT ON engagement_snapshot FOR EACH ROW "
        "EXECUTE FUNCTION herald_figures_snapshot()",
        "CREATE TRIGGER daily_figures_workspace_delete AFTER DELETE ON workspace FOR EACH ROW "
        "EXECUTE FUNCTION herald_figures_workspace()",
    ]


def _triggers(buckets: tuple[Bucket, ...] = BUCKETS) -> trigger_names.Triggers:
    """The triggers filling ``buckets`` (the same names whatever the buckets: only their bodies differ)."""
    return trigger_names.Triggers(tuple(_sqlite_ddl(buckets)), tuple(_pg_ddl(buckets)))


def install(database: pw.Database, buckets: tuple[Bucket, ...] = BUCKETS) -> None:
    """Create (or re-create) the triggers that keep the tables of ``buckets`` up to date (a migration
    passes the buckets whose tables exist at its point in the history)."""
    _triggers(buckets).install(database)


def uninstall(database: pw.Database) -> None:
    """Drop the triggers (a migration's ``down``)."""
    _triggers().uninstall(database)


def _from_scratch(postgres: bool, where_post: str, bucket: Bucket) -> str:
    """A select of every figure of ``bucket`` computed from the posts, tasks and snapshots (key columns,
    then COUNTS)."""
    key = "p.workspace_id AS workspace_id, COALESCE(p.client_id, 0) AS client_id"
    ended = ", ".join(f"'{status}'" for status in ENDED.values())
    tasks = {name: f"CASE WHEN t.status = '{status}' THEN 1 ELSE 0 END" for name, status in ENDED.items()}
    metrics = {name: f"COALESCE(e.{name}, 0)" for name in METRICS}
    ranked = ("SELECT s.*, ROW_NUMBER() OVER (PARTITION BY s.post_id ORDER BY s.recorded_at DESC, s.id DESC) "
              "AS newest FROM engagement_snapshot s")
    first = ", ".join(f"{value} AS {name}" for name, value in zip(COUNTS, _values(posts_created="1").split(", "),
                                                                   strict=True))
    at = bucket.key
    parts = [
        f"SELECT {key}, {at('p.created_at', postgres)} AS bucket, {first} FROM post p "
        f"WHERE p.created_at IS NOT NULL{where_post}",
        f"SELECT {key}, {at('p.published_at', postgres)}, {_values(posts_published='1')} FROM post p "
        f"WHERE p.published_at IS NOT NULL{where_post}",
        f"SELECT {key}, {at('t.updated_at', postgres)}, {_values(**tasks)} FROM publish_task t "
        f"JOIN post p ON p.id = t.post_id WHERE t.status IN ({ended}){where_post}",
        f"SELECT {key}, {at(_went_out('p'), postgres)}, {_values(engaged_posts='1', **metrics)} "
        f"FROM ({ranked}) e JOIN post p ON p.id = e.post_id WHERE e.newest = 1{where_post}",
    ]
    sums = ", ".join(f"SUM({name})" for name in COUNTS)
    return (f"SELECT workspace_id, client_id, bucket, {sums} FROM ({' UNION ALL '.join(parts)}) AS parts "
            "GROUP BY workspace_id, client_id, bucket")


def _where_post(workspace_id: int | None) -> str:
    return f" AND p.workspace_id = {int(workspace_id)}" if workspace_id is not None else ""


def recompute(database: pw.Database, workspace_id: int | None = None, bucket: Bucket = DAY) -> list[tuple]:
    """Every figure of ``bucket`` computed from scratch: ``(workspace_id, client_id, day or hour, *COUNTS)``
    rows with a count not 0 (the key as text), sorted."""
    rows = database.execute_sql(_from_scratch(_is_postgres(database), _where_post(workspace_id), bucket)).fetchall()
    return sorted(_normal(row, bucket) for row in rows if any(row[3:]))


def stored(database: pw.Database, workspace_id: int | None = None, bucket: Bucket = DAY) -> list[tuple]:
    """The stored rows of ``bucket`` with a count not 0, in the shape and order of :func:`recompute`."""
    where = f" WHERE workspace_id = {int(workspace_id)}" if workspace_id is not None else ""
    rows = database.execute_sql(f"SELECT workspace_id, client_id, {bucket.column}, {', '.join(COUNTS)} "
                                f"FROM {bucket.table}{where}")
    return sorted(_normal(row, bucket) for row in rows.fetchall() if any(row[3:]))


def _accounts_from_scratch(where_post: str) -> str:
    return ("SELECT p.workspace_id, p.client_id, t.account_id, COUNT(*) FROM publish_task t "
            f"JOIN post p ON p.id = t.post_id WHERE p.client_id IS NOT NULL{where_post} "
            "GROUP BY p.workspace_id, p.client_id, t.account_id")


def recompute_accounts(database: pw.Database, workspace_id: int | None = None) -> list[tuple]:
    """``(workspace_id, client_id, account_id, tasks)`` computed from the tasks, sorted."""
    return sorted(tuple(int(value) for value in row)
                  for row in database.execute_sql(_accounts_from_scratch(_where_post(workspace_id))).fetchall())


def stored_accounts(database: pw.Database, workspace_id: int | None = None) -> list[tuple]:
    """The stored ``client_account`` rows with tasks, in the shape of :func:`recompute_accounts`."""
    where = f" AND workspace_id = {int(workspace_id)}" if workspace_id is not None else ""
    rows = database.execute_sql(f"SELECT workspace_id, client_id, account_id, tasks FROM {ACCOUNTS_TABLE} "
                                f"WHERE tasks <> 0{where}").fetchall()
    return sorted(tuple(int(value) for value in row) for row in rows)


def _normal(row, bucket: Bucket) -> tuple:
    return (int(row[0]), int(row[1]), str(row[2])[:bucket.width], *(int(value or 0) for value in row[3:]))


def agrees(database: pw.Database, workspace_id: int) -> bool:
    """Whether the workspace's stored figures (every bucket, and the tasks per account) equal a
    recomputation from scratch."""
    return (all(stored(database, workspace_id, bucket) == recompute(database, workspace_id, bucket)
                for bucket in BUCKETS)
            and stored_accounts(database, workspace_id) == recompute_accounts(database, workspace_id))


def rebuild(database: pw.Database, workspace_id: int | None = None,
            buckets: tuple[Bucket, ...] = BUCKETS) -> dict[str, int]:
    """Recompute the figures of ``buckets`` and the tasks per account of ``workspace_id`` (every
    workspace when None) from scratch, in one transaction; returns the number of rows written per
    bucket (``{"day": n, "hour": m}``). The triggers keep them from then on."""
    postgres = _is_postgres(database)
    where = _where_post(workspace_id)
    only = f" WHERE workspace_id = {int(workspace_id)}" if workspace_id is not None else ""
    written = {}
    with database.atomic():
        if postgres:  # writers wait until the new figures are in: none is counted twice or missed
            database.execute_sql("LOCK TABLE post, publish_task, engagement_snapshot IN SHARE MODE")
        for bucket in buckets:
            database.execute_sql(f"DELETE FROM {bucket.table}{only}")
            # In the key's order (workspace, day or hour, client): a period's rows then lie together, as the
            # triggers append them day after day. In the aggregate's order, PostgreSQL's health at 1M read
            # a page per row (930 pages for 28 days of 50 clients): 68/76 ms at load 4-5, 44/55 clustered.
            cursor = database.execute_sql(f"INSERT INTO {bucket.table} (workspace_id, client_id, {bucket.column}, "
                                          f"{', '.join(COUNTS)}) {_from_scratch(postgres, where, bucket)} "
                                          "ORDER BY 1, 3, 2")
            written[bucket.column] = cursor.rowcount
        database.execute_sql(f"DELETE FROM {ACCOUNTS_TABLE}{only}")
        database.execute_sql(f"INSERT INTO {ACCOUNTS_TABLE} (workspace_id, client_id, account_id, tasks) "
                             f"{_accounts_from_scratch(where)}")
    return written


def repair(database: pw.Database, workspace_id: int) -> bool:
    """Compare the workspace's figures with a recomputation and rebuild them when they differ (a write
    went behind the triggers: a snapshot edited by hand, a table copied without them); returns whether
    they did."""
    if agrees(database, workspace_id):
        return False
    rebuild(database, workspace_id)
    return True


def triggers(database: pw.Database) -> tuple[str, ...]:
    """The names of the triggers :func:`install` creates on ``database``'s backend (read from its statements)."""
    return _triggers().names(database)
