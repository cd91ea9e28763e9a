"""Per-hour engagement that ``GET /v1/analytics`` and the client portal read instead of walking every
post and snapshot of a period (issue 25, item 2).

Four tables, kept by database triggers in the transaction of every write that changes them:

- ``engagement_owner_hour``: per workspace, client, UTC hour the post went out
  (``COALESCE(published_at, scheduled_at, created_at)``) and owner (platform and account, ``''`` and
  0 where not known), the posts measured and the sums of their figures, counted as
  :mod:`herald.intelligence.analytics_summary` counts them: the newest snapshot per owner (see
  :mod:`herald.intelligence.engagement_history`), the owner "not known" only for a post with no
  platform's figures; ``impressions_reported`` counts the figures that report impressions.
- ``engagement_post_hour``: per workspace, client and hour went out, the measured posts and their
  interactions (the best times: an average per post).
- ``engagement_gain_hour``: per workspace, client, post status and UTC hour a snapshot was recorded,
  the interactions gained (a snapshot's interactions minus those of the post's snapshot before it,
  by ``recorded_at`` then id): the portal's chart of interactions gained per day.
- ``engagement_status``: per workspace, client and post status, the sums of each post's newest
  snapshot (the portal's stats).

Hours are UTC, so a zone whose offsets are whole hours reads any of its days and hours as a set of
UTC hours. Posts without a client count under ``client_id`` 0; the two "went out" tables also hold
each workspace's sum under ``client_id`` -1 (:data:`EVERY_CLIENT`), so a workspace's report reads one
row per hour and owner, not one per client.

How the triggers stay exact: who owns a snapshot depends on the post's tasks and platforms, so after
a write to a post, a task or a snapshot the trigger takes the post's whole "went out" contribution off
as it was (computed from the rows with the old row in place of the new one) and puts the new one on
(a post has a few owners: a handful of rows). The common write, a pull's snapshot of an owner measured
before, changes neither the post's owners nor its measured count: it adds its difference from that
owner's previous newest (nothing when it is not the newest, or has no owner beside owned ones; figures
in the README, measured by ``bench/snapshot_writes.py``); the first snapshot of an owner still goes off
and on. PostgreSQL tests which case once; a SQLite trigger has no control flow, so each statement tests
it. The triggers' functions use generic plans (``plan_cache_mode``): the custom plans PostgreSQL chose
for them otherwise were planned again at every call. The gains and the status sums follow a new
snapshot by differences: it adds its gain over the snapshot before it, and the snapshot after it (one recorded
out of order) gains that much less; when it is the post's newest, the status sums add its difference
from the previous newest. A post's update that changes its status or client moves its whole
contribution.

On PostgreSQL each trigger takes a transaction-scoped advisory lock per post first, as
:mod:`herald.db.daily_figures` does, runs after ``daily_figures``' trigger on the same row (both
AFTER, and PostgreSQL fires them by name) and writes its rows in the order of their keys, so two
transactions recording engagement for posts of the same hour lock the shared rows in one order. A task
moved from one post to another locks both posts first, in the order of their ids (here and in
``daily_figures``), so two tasks moved between the same posts in crossing ways wait for each other.
Transactions that write several posts in different orders, or posts of different hours in crossing
orders, can still deadlock; PostgreSQL then cancels one, which the API answers 503
``database_unavailable``, to be retried (:func:`herald.publishing.posts.record_engagements` writes its
posts in the order of their ids).

PostgreSQL fires a statement's row triggers once all its rows are in, so one ``INSERT`` must not hold
two snapshots of a post (:func:`herald.publishing.posts.record_engagements` writes a round per snapshot
of a post); a trigger would see the later one as counted already.

Snapshots are append-only (they go with their post); a snapshot edited or deleted by hand is not
followed: :func:`repair` finds it and :func:`rebuild` recomputes from scratch. SQLite rebuilds a
table to alter one of its columns and the copy has no triggers: a migration that does so to
``post``, ``publish_task`` or ``engagement_snapshot`` must call :func:`install` again.
"""

from __future__ import annotations

import dataclasses

import peewee as pw

from . import triggers as trigger_names

OWNERS, POSTS, GAINS, STATUS = "engagement_owner_hour", "engagement_post_hour", "engagement_gain_hour", \
    "engagement_status"
TABLES = (OWNERS, POSTS, GAINS, STATUS)
METRICS = ("likes", "comments", "saves", "shares", "reach")
INTERACTIONS = ("likes", "comments", "saves", "shares")
# Sources that mean "someone pushed the numbers" (the API, the update_engagement action), not a platform's pull.
PUSHED_SOURCES = frozenset({"api", "action"})
EVERY_CLIENT = -1  # the client_id of a workspace's sums in the "went out" tables
LOCK_CLASS = 25035  # the advisory lock class of these triggers (PostgreSQL), the migration's number

KEYS = {OWNERS: ("workspace_id", "client_id", "hour", "platform", "account_id"),
        POSTS: ("workspace_id", "client_id", "hour"),
        GAINS: ("workspace_id", "client_id", "status", "hour"),
        STATUS: ("workspace_id", "client_id", "status")}
VALUES = {OWNERS: ("posts", *METRICS, "impressions", "impressions_reported"),
          POSTS: ("posts", "interactions"),
          GAINS: ("interactions",),
          STATUS: METRICS}

_SQLITE_TRIGGERS = ("engagement_hours_post_move", "engagement_hours_post_status", "engagement_hours_post_delete",
                    "engagement_hours_task_insert", "engagement_hours_task_update", "engagement_hours_task_delete",
                    "engagement_hours_snapshot_insert", "engagement_hours_workspace_delete")
_PG_FUNCTIONS = tuple(name.replace("engagement_hours_", "herald_hours_") for name in _SQLITE_TRIGGERS)

_MOVES_OUT = ("workspace_id", "client_id", "created_at", "published_at", "scheduled_at", "platforms")
_MOVES_STATUS = ("workspace_id", "client_id", "status")
_TASK_MOVES = ("post_id", "platform", "account_id")


def _is_postgres(database: pw.Database) -> bool:
    return isinstance(database, pw.PostgresqlDatabase)


def _hour(expression: str, postgres: bool) -> str:
    """The UTC hour of a stored naive UTC timestamp (SQLite keeps them as ISO text)."""
    return f"date_trunc('hour', {expression})" if postgres else f"(substr({expression}, 1, 13) || ':00:00')"


def _interactions(row: str) -> str:
    # Each count fits PostgreSQL's integer, their sum may not: add them as bigint.
    return "(" + " + ".join(f"CAST(COALESCE({row}.{name}, 0) AS BIGINT)" for name in INTERACTIONS) + ")"


def _select(table: str, expressions: list[str], rest: str) -> str:
    """``SELECT`` ``expressions`` named as ``table``'s key columns then values, followed by ``rest``."""
    named = ", ".join(f"{expression} AS {name}"
                      for expression, name in zip(expressions, KEYS[table] + VALUES[table], strict=True))
    return f"SELECT {named} {rest}"


def _upsert(table: str, select: str) -> str:
    """``INSERT`` the rows of ``select`` (the table's key columns, then its values), adding to rows that exist."""
    keys, values = KEYS[table], VALUES[table]
    added = ", ".join(f"{name} = {table}.{name} + excluded.{name}" for name in values)
    return (f"INSERT INTO {table} ({', '.join(keys + values)}) {select} "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {added}")


# -- who owns a snapshot ---------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class _Rows:
    """The rows a contribution is computed from: the tables as they are, or as they were before the
    write a trigger follows (a relation in place of a table)."""

    posts: str = "post"
    tasks: str = "publish_task"
    snapshots: str = "engagement_snapshot"


NOW = _Rows()
_POST_COLUMNS = ("id", "workspace_id", "client_id", "created_at", "published_at", "scheduled_at", "platforms")
_TASK_COLUMNS = ("id", "post_id", "platform", "account_id")


def _row(row: str, columns) -> str:
    return "SELECT " + ", ".join(f"{row}.{column} AS {column}" for column in columns)


def _tasks_as_they_were(removed: str | None, restored: str | None) -> str:
    """``publish_task`` without the task ``removed`` (``NEW``: inserted or changed) and with ``restored``
    (``OLD``: deleted or changed) as it was."""
    columns = ", ".join(_TASK_COLUMNS)
    relation = f"SELECT {columns} FROM publish_task" + (f" WHERE id <> {removed}.id" if removed else "")
    if restored:
        relation += f" UNION ALL {_row(restored, _TASK_COLUMNS)}"
    return f"({relation})"


def _pushed_platform(post_id: str, rows: _Rows, postgres: bool) -> str:
    """The platform pushed figures of ``post_id`` belong to: its tasks' only platform, else (no tasks)
    the only one it names; NULL when there are several or none."""
    tasks = f"FROM {rows.tasks} t WHERE t.post_id = {post_id}"
    if postgres:
        array = "CAST(pp.platforms AS json)"
        named = (f"FROM {rows.posts} pp, json_array_elements_text(CASE WHEN json_typeof({array}) = 'array' "
                 f"THEN {array} ELSE CAST('[]' AS json) END) AS j(value) WHERE pp.id = {post_id}")
    else:
        named = f"FROM {rows.posts} pp, json_each(pp.platforms) j WHERE pp.id = {post_id}"
    return (f"(CASE WHEN EXISTS (SELECT 1 {tasks}) "
            f"THEN (SELECT CASE WHEN COUNT(DISTINCT t.platform) = 1 THEN MIN(t.platform) END {tasks}) "
            f"ELSE (SELECT CASE WHEN COUNT(DISTINCT j.value) = 1 THEN MIN(j.value) END {named}) END)")


def _account(post_id: str, platform: str, rows: _Rows) -> str:
    """The account of the post's only task on ``platform``; NULL when it has none or several."""
    return (f"(SELECT CASE WHEN COUNT(*) = 1 THEN MIN(t.account_id) END FROM {rows.tasks} t "
            f"WHERE t.post_id = {post_id} AND t.platform = {platform})")


def _owner(row: str, rows: _Rows, postgres: bool, post_id: str | None = None) -> str:
    """The owner of snapshot ``row`` (of post ``post_id``, when known beforehand: then the pushed platform
    is computed once, not per row): the platform whose figures it holds, NULL when not known."""
    return (f"CASE WHEN {row}.source IN ({', '.join(repr(s) for s in sorted(PUSHED_SOURCES))}) "
            f"THEN {_pushed_platform(post_id or f'{row}.post_id', rows, postgres)} ELSE {row}.source END")


def _owned(where: str, rows: _Rows, postgres: bool) -> str:
    """The snapshots that make each post's figures (one per owner: the newest), with ``owner`` (the
    platform, NULL: not known), among the snapshots ``where`` selects (alias ``e``)."""
    metrics = ", ".join(f"e.{name}" for name in (*METRICS, "impressions"))
    owner = _owner("e", rows, postgres)
    ranked = (f"SELECT o.*, ROW_NUMBER() OVER (PARTITION BY o.post_id, o.owner "
              "ORDER BY o.recorded_at DESC, o.id DESC) AS newest, "
              "COUNT(o.owner) OVER (PARTITION BY o.post_id) AS owned "
              f"FROM (SELECT e.id, e.post_id, e.recorded_at, {metrics}, {owner} AS owner "
              f"FROM {rows.snapshots} e {where}) o")
    return f"SELECT r.* FROM ({ranked}) r WHERE r.newest = 1 AND (r.owner IS NOT NULL OR r.owned = 0)"


def _client(every: str) -> str:
    return f"CASE WHEN {every} = 1 THEN {EVERY_CLIENT} ELSE COALESCE(p.client_id, 0) END"


def _went_out_sources(where_snapshots: str, where_posts: str, sign: str, postgres: bool,
                      rows: _Rows = NOW) -> tuple[str, str]:
    """The selects of the "went out" rows (owners, posts) of the posts ``where_posts`` (alias ``p``)
    selects, ``sign`` times; one row per post and owner (and per post), per client and for every client,
    in the order of their keys (concurrent triggers on PostgreSQL lock shared rows in one order)."""
    hour = _hour("COALESCE(p.published_at, p.scheduled_at, p.created_at)", postgres)
    source = (f"FROM ({_owned(where_snapshots, rows, postgres)}) r JOIN {rows.posts} p ON p.id = r.post_id "
              f"CROSS JOIN (SELECT 0 AS every UNION ALL SELECT 1) k WHERE {where_posts}")
    metrics = [f"{sign} * COALESCE(r.{name}, 0)" for name in (*METRICS, "impressions")]
    client = _client("k.every")
    owners = _select(OWNERS, ["p.workspace_id", client, hour, "COALESCE(r.owner, '')",
                              f"COALESCE({_account('r.post_id', 'r.owner', rows)}, 0)", sign, *metrics,
                              f"CASE WHEN r.impressions IS NULL THEN 0 ELSE {sign} END"],
                     f"{source} ORDER BY 1, 2, 3, 4, 5")
    posts = _select(POSTS, ["p.workspace_id", client, hour, sign, f"{sign} * SUM({_interactions('r')})"],
                    f"{source} GROUP BY p.id, p.workspace_id, p.client_id, p.published_at, p.scheduled_at, "
                    "p.created_at, k.every ORDER BY 1, 2, 3")
    return owners, posts


def _went_out(post_id: str, sign: str, postgres: bool, condition: str = "", rows: _Rows = NOW) -> list[str]:
    """The statements adding ``sign`` times post ``post_id``'s whole "went out" contribution, computed
    from ``rows``."""
    # The condition (of the trigger's row alone) in both: SQLite then tests it before it reads any snapshot.
    owners, posts = _went_out_sources(f"WHERE e.post_id = {post_id}{condition}", f"p.id = {post_id}{condition}",
                                      sign, postgres, rows)
    return [_upsert(OWNERS, owners), _upsert(POSTS, posts)]


# -- a new snapshot of an owner already measured: the difference -----------------------------------------

def _same_owner(postgres: bool) -> str:
    """Snapshot ``s`` is another of ``NEW``'s post with ``NEW``'s owner (both NULL: not known)."""
    same = "IS NOT DISTINCT FROM" if postgres else "IS"
    return (f"s.post_id = NEW.post_id AND s.id <> NEW.id "
            f"AND ({_owner('s', NOW, postgres, 'NEW.post_id')}) {same} ({_owner('NEW', NOW, postgres)})")


def _fast(postgres: bool) -> str:
    """Whether a new snapshot leaves its post's owners and measured posts as they were, so that the "went
    out" rows change by its difference from its owner's previous newest (or not at all): its owner has
    another snapshot already, or it has none (NULL) and counts for nothing beside the post's owned ones."""
    owned = (f"EXISTS (SELECT 1 FROM engagement_snapshot s WHERE s.post_id = NEW.post_id AND s.id <> NEW.id "
             f"AND ({_owner('s', NOW, postgres, 'NEW.post_id')}) IS NOT NULL)")
    return (f"(EXISTS (SELECT 1 FROM engagement_snapshot s WHERE {_same_owner(postgres)}) "
            f"OR (({_owner('NEW', NOW, postgres)}) IS NULL AND {owned}))")


def _went_out_difference(postgres: bool) -> list[str]:
    """The statements adding a new snapshot's difference from its owner's previous newest to the "went
    out" rows, when it is the newest of its owner and counts (owned, or no owned snapshot beside it)."""
    owner = _owner("NEW", NOW, postgres)
    previous = (f"(SELECT s.id FROM engagement_snapshot s WHERE {_same_owner(postgres)} "
                "ORDER BY s.recorded_at DESC, s.id DESC LIMIT 1)")
    counts = (f"({owner}) IS NOT NULL OR NOT EXISTS (SELECT 1 FROM engagement_snapshot s "
              f"WHERE s.post_id = NEW.post_id AND ({_owner('s', NOW, postgres, 'NEW.post_id')}) IS NOT NULL)")
    source = (f"FROM post p JOIN engagement_snapshot prev ON prev.id = {previous} "
              "CROSS JOIN (SELECT 0 AS every UNION ALL SELECT 1) k "
              "WHERE p.id = NEW.post_id AND (prev.recorded_at < NEW.recorded_at "
              f"OR (prev.recorded_at = NEW.recorded_at AND prev.id < NEW.id)) AND ({counts})")
    hour = _hour("COALESCE(p.published_at, p.scheduled_at, p.created_at)", postgres)
    client = _client("k.every")
    metrics = [f"COALESCE(NEW.{name}, 0) - COALESCE(prev.{name}, 0)" for name in (*METRICS, "impressions")]
    reported = ("(CASE WHEN NEW.impressions IS NULL THEN 0 ELSE 1 END) "
                "- (CASE WHEN prev.impressions IS NULL THEN 0 ELSE 1 END)")
    owners = _select(OWNERS, ["p.workspace_id", client, hour, f"COALESCE({owner}, '')",
                              f"COALESCE({_account('NEW.post_id', f'({owner})', NOW)}, 0)", "0", *metrics, reported],
                     f"{source} ORDER BY 1, 2, 3, 4, 5")
    posts = _select(POSTS, ["p.workspace_id", client, hour, "0", f"{_interactions('NEW')} - {_interactions('prev')}"],
                    f"{source} ORDER BY 1, 2, 3")
    return [_upsert(OWNERS, owners), _upsert(POSTS, posts)]


# -- gains and status sums -------------------------------------------------------------------------------

def _gains_source(where: str, postgres: bool) -> str:
    """Each snapshot ``where`` selects (alias ``e``) with its UTC ``hour`` and ``gain`` over the one before."""
    value = _interactions("e")
    return (f"SELECT e.post_id, {_hour('e.recorded_at', postgres)} AS hour, {value} - LAG({value}, 1, 0) OVER "
            f"(PARTITION BY e.post_id ORDER BY e.recorded_at, e.id) AS gain FROM engagement_snapshot e {where}")


def _newest(post_id: str) -> str:
    return (f"(SELECT s.id FROM engagement_snapshot s WHERE s.post_id = {post_id} "
            "ORDER BY s.recorded_at DESC, s.id DESC LIMIT 1)")


def _status_moves(row: str, sign: str, postgres: bool) -> list[str]:
    """The statements adding ``sign`` times post ``row``'s (``OLD`` or ``NEW``) gains and status sums."""
    key = [f"{row}.workspace_id", f"COALESCE({row}.client_id, 0)", f"{row}.status"]
    metrics = [f"{sign} * COALESCE(e.{name}, 0)" for name in METRICS]
    gains = _gains_source(f"WHERE e.post_id = {row}.id", postgres)
    return [
        _upsert(GAINS, _select(GAINS, [*key, "g.hour", f"{sign} * SUM(g.gain)"],
                               f"FROM ({gains}) g WHERE true GROUP BY g.hour")),
        _upsert(STATUS, _select(STATUS, [*key, *metrics],
                                f"FROM engagement_snapshot e WHERE e.id = {_newest(f'{row}.id')}")),
    ]


def _snapshot_statements(postgres: bool) -> list[str]:
    """A new snapshot's gain over the one before it, the gain taken off the one after it, and (when it is
    the newest) its difference from the previous newest in the status sums."""
    before = "(s.recorded_at < NEW.recorded_at OR (s.recorded_at = NEW.recorded_at AND s.id < NEW.id))"
    after = "(s.recorded_at > NEW.recorded_at OR (s.recorded_at = NEW.recorded_at AND s.id > NEW.id))"
    previous = (f"(SELECT s.id FROM engagement_snapshot s WHERE s.post_id = NEW.post_id AND {before} "
                "ORDER BY s.recorded_at DESC, s.id DESC LIMIT 1)")
    following = (f"(SELECT s.id FROM engagement_snapshot s WHERE s.post_id = NEW.post_id AND {after} "
                 "ORDER BY s.recorded_at, s.id LIMIT 1)")
    key = ["p.workspace_id", "COALESCE(p.client_id, 0)", "p.status"]
    joined = f"FROM post p LEFT JOIN engagement_snapshot prev ON prev.id = {previous}"
    metrics = [f"COALESCE(NEW.{name}, 0) - COALESCE(prev.{name}, 0)" for name in METRICS]
    return [
        _upsert(GAINS, _select(GAINS, [*key, _hour("NEW.recorded_at", postgres),
                                       f"{_interactions('NEW')} - {_interactions('prev')}"],
                               f"{joined} WHERE p.id = NEW.post_id")),
        _upsert(GAINS, _select(GAINS, [*key, _hour("nxt.recorded_at", postgres),
                                       f"{_interactions('prev')} - {_interactions('NEW')}"],
                               f"{joined} JOIN engagement_snapshot nxt ON nxt.id = {following} "
                               "WHERE p.id = NEW.post_id")),
        _upsert(STATUS, _select(STATUS, [*key, *metrics],
                                f"{joined} WHERE p.id = NEW.post_id AND {following} IS NULL")),
    ]


# -- the triggers ----------------------------------------------------------------------------------------

def _changed(columns, postgres: bool) -> str:
    operator = "IS DISTINCT FROM" if postgres else "IS NOT"
    return " OR ".join(f"OLD.{column} {operator} NEW.{column}" for column in columns)


def _triggers(postgres: bool) -> list[tuple[str, str, str, str, list[str]]]:
    """``(name, when, table, condition, statements)`` of every trigger.

    Each runs after the row changed (and after ``daily_figures``' trigger on the same row: PostgreSQL
    fires a row's triggers in the order of their names), taking the contribution as it was off from
    the rows as they were (a relation with the old row in place of the new); so two transactions
    writing the same aggregate rows lock them in the same order as the other triggers do."""
    other_post = " AND NEW.post_id <> OLD.post_id"
    post_before = _Rows(posts=f"({_row('OLD', _POST_COLUMNS)})")
    snapshots_before = _Rows(snapshots="(SELECT * FROM engagement_snapshot WHERE id <> NEW.id)")

    def lock(post_id: str) -> list[str]:  # SQLite has one writer at a time: nothing to take there
        return [f"PERFORM pg_advisory_xact_lock({LOCK_CLASS}, mod({post_id}, 2147483647)::int)"] if postgres else []

    def out(post_id: str, sign: str, condition: str = "", rows: _Rows = NOW) -> list[str]:
        return _went_out(post_id, sign, postgres, condition, rows)

    def task_change(removed: str | None, restored: str | None) -> list[str]:
        before = _Rows(tasks=_tasks_as_they_were(removed, restored))
        posts = [row for row in (restored, removed) if row]
        first, second = posts[0], posts[-1]
        # Both posts locked first, in the order of their ids: two tasks moved between the same two posts in
        # crossing ways at once wait for each other instead of deadlocking.
        statements = [*lock(f"LEAST({first}.post_id, {second}.post_id)"),
                      *lock(f"GREATEST({first}.post_id, {second}.post_id)"),
                      *out(f"{first}.post_id", "-1", rows=before), *out(f"{first}.post_id", "1")]
        if len(posts) == 2:
            statements += [*out(f"{second}.post_id", "-1", other_post, before),
                           *out(f"{second}.post_id", "1", other_post)]
        return statements

    def snapshot_went_out() -> list[str]:
        """The common case (a pull: an owner measured before) by the difference, the others by off and on.
        PostgreSQL tests which once; a SQLite trigger has no control flow: each statement tests it."""
        fast = _fast(postgres)
        if postgres:
            off_and_on = [*out("NEW.post_id", "-1", rows=snapshots_before), *out("NEW.post_id", "1")]
            return [f"IF {fast} THEN {'; '.join(_went_out_difference(postgres))}; "
                    f"ELSE {'; '.join(off_and_on)}; END IF"]
        return [*_went_out_difference(postgres), *out("NEW.post_id", "-1", f" AND NOT {fast}", snapshots_before),
                *out("NEW.post_id", "1", f" AND NOT {fast}")]

    return [
        ("engagement_hours_post_move", "AFTER UPDATE", "post", _changed(_MOVES_OUT, postgres),
         [*lock("NEW.id"), *out("OLD.id", "-1", rows=post_before), *out("NEW.id", "1")]),
        ("engagement_hours_post_status", "AFTER UPDATE", "post", _changed(_MOVES_STATUS, postgres),
         [*lock("NEW.id"), *_status_moves("OLD", "-1", postgres), *_status_moves("NEW", "1", postgres)]),
        # Before the row goes: its snapshots and tasks (deleted by the cascade) are still there to subtract.
        ("engagement_hours_post_delete", "BEFORE DELETE", "post", "",
         [*lock("OLD.id"), *out("OLD.id", "-1"), *_status_moves("OLD", "-1", postgres)]),
        ("engagement_hours_task_insert", "AFTER INSERT", "publish_task", "", task_change("NEW", None)),
        ("engagement_hours_task_update", "AFTER UPDATE", "publish_task", _changed(_TASK_MOVES, postgres),
         task_change("NEW", "OLD")),
        # A task deleted with its post finds no post here: the post's own trigger took its figures off.
        ("engagement_hours_task_delete", "AFTER DELETE", "publish_task", "", task_change(None, "OLD")),
        ("engagement_hours_snapshot_insert", "AFTER INSERT", "engagement_snapshot", "",
         [*lock("NEW.post_id"), *snapshot_went_out(), *_snapshot_statements(postgres)]),
        ("engagement_hours_workspace_delete", "AFTER DELETE", "workspace", "",
         [f"DELETE FROM {table} WHERE workspace_id = OLD.id" for table in TABLES]),
    ]


def _sqlite_ddl() -> list[str]:
    ddl = []
    for name, when, table, condition, statements in _triggers(False):
        body = "; ".join(statements)
        guard = f"WHEN {condition} " if condition else ""
        ddl.append(f"CREATE TRIGGER {name} {when} ON {table} FOR EACH ROW {guard}BEGIN {body}; END")
    return ddl


def _pg_ddl() -> list[str]:
    ddl = []
    for (name, when, table, condition, statements), function in zip(_triggers(True), _PG_FUNCTIONS, strict=True):
        body = "; ".join(statements)
        ddl.append(f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql "
                   f"SET plan_cache_mode = force_generic_plan AS $$ BEGIN {body}; "
                   "IF TG_OP = 'DELETE' THEN RETURN OLD; END IF; RETURN NEW; END $$")
        guard = f"WHEN ({condition}) " if condition else ""
        ddl.append(f"CREATE TRIGGER {name} {when} ON {table} FOR EACH ROW {guard}EXECUTE FUNCTION {function}()")
    return ddl


def _family() -> trigger_names.Triggers:
    return trigger_names.Triggers(tuple(_sqlite_ddl()), tuple(_pg_ddl()))


def install(database: pw.Database) -> None:
    """Create (or re-create) the triggers that keep the four tables up to date."""
    _family().install(database)


def uninstall(database: pw.Database) -> None:
    """Drop the triggers (a migration's ``down``)."""
    _family().uninstall(database)


# -- from scratch ----------------------------------------------------------------------------------------

def _from_scratch(table: str, postgres: bool, where_post: str) -> str:
    """A select of ``table``'s rows computed from the posts, tasks and snapshots (keys, then values)."""
    keys = ", ".join(KEYS[table])
    sums = ", ".join(f"SUM({name})" for name in VALUES[table])
    if table in (OWNERS, POSTS):
        owners, posts = _went_out_sources("", f"true{where_post}", "1", postgres)
        rows = owners if table == OWNERS else posts
    elif table == GAINS:
        rows = _select(GAINS, ["p.workspace_id", "COALESCE(p.client_id, 0)", "p.status", "g.hour", "g.gain"],
                       f"FROM ({_gains_source('', postgres)}) g JOIN post p ON p.id = g.post_id WHERE true{where_post}")
    else:
        ranked = ("SELECT s.*, ROW_NUMBER() OVER (PARTITION BY s.post_id ORDER BY s.recorded_at DESC, s.id DESC) "
                  "AS newest FROM engagement_snapshot s")
        rows = _select(STATUS, ["p.workspace_id", "COALESCE(p.client_id, 0)", "p.status",
                                *(f"COALESCE(e.{name}, 0)" for name in METRICS)],
                       f"FROM ({ranked}) e JOIN post p ON p.id = e.post_id WHERE e.newest = 1{where_post}")
    return f"SELECT {keys}, {sums} FROM ({rows}) AS parts GROUP BY {keys}"


def _where_post(workspace_id: int | None) -> str:
    return f" AND p.workspace_id = {int(workspace_id)}" if workspace_id is not None else ""


def _normal(table: str, row) -> tuple:
    values = []
    for name, value in zip(KEYS[table] + VALUES[table], row, strict=True):
        if name == "hour":
            values.append(str(value)[:19])
        elif name in ("platform", "status"):
            values.append(value)
        else:
            values.append(int(value or 0))
    return (table, *values)


def _kept(table: str, rows) -> list[tuple]:
    width = len(KEYS[table])
    return [_normal(table, row) for row in rows if any(row[width:])]


def recompute(database: pw.Database, workspace_id: int | None = None) -> list[tuple]:
    """Every row computed from scratch: ``(table, *keys, *values)`` with a value not 0, sorted."""
    postgres, rows = _is_postgres(database), []
    for table in TABLES:
        rows += _kept(table, database.execute_sql(_from_scratch(table, postgres, _where_post(workspace_id))))
    return sorted(rows)


def stored(database: pw.Database, workspace_id: int | None = None) -> list[tuple]:
    """The stored rows with a value not 0, in the shape and order of :func:`recompute`."""
    where = f" WHERE workspace_id = {int(workspace_id)}" if workspace_id is not None else ""
    rows = []
    for table in TABLES:
        columns = ", ".join(KEYS[table] + VALUES[table])
        rows += _kept(table, database.execute_sql(f"SELECT {columns} FROM {table}{where}"))
    return sorted(rows)


def rebuild(database: pw.Database, workspace_id: int | None = None) -> int:
    """Recompute the rows of ``workspace_id`` (every workspace when None) from scratch, in one transaction;
    returns the number of rows written. The triggers keep them from then on."""
    postgres, written = _is_postgres(database), 0
    where = f" WHERE workspace_id = {int(workspace_id)}" if workspace_id is not None else ""
    with database.atomic():
        if postgres:  # writers wait until the new rows are in: none is counted twice or missed
            database.execute_sql("LOCK TABLE post, publish_task, engagement_snapshot IN SHARE MODE")
        for table in TABLES:
            database.execute_sql(f"DELETE FROM {table}{where}")
            columns = ", ".join(KEYS[table] + VALUES[table])
            cursor = database.execute_sql(f"INSERT INTO {table} ({columns}) "
                                          f"{_from_scratch(table, postgres, _where_post(workspace_id))}")
            written += cursor.rowcount
    return written


def repair(database: pw.Database, workspace_id: int) -> bool:
    """Compare the workspace's rows with a recomputation and rebuild them when they differ (a write went
    behind the triggers); returns whether they did."""
    if stored(database, workspace_id) == recompute(database, workspace_id):
        return False
    rebuild(database, workspace_id)
    return True


def triggers(database: pw.Database) -> tuple[str, ...]:
    """The names of the triggers :func:`install` creates on ``database``'s backend (read from its statements)."""
    return _family().names(database)


def drift(database: pw.Database, workspace_id: int | None = None) -> list[tuple[int, str]]:
    """``(workspace_id, what differs)`` for every stored row that differs from a recomputation (a row
    missing on one side counts as zeros)."""
    def keyed(rows: list[tuple]) -> dict[tuple, tuple]:
        return {row[:1 + len(KEYS[row[0]])]: row[1 + len(KEYS[row[0]]):] for row in rows}

    have, want = keyed(stored(database, workspace_id)), keyed(recompute(database, workspace_id))
    found = []
    for key in sorted(have.keys() | want.keys(), key=repr):
        if have.get(key) != want.get(key):
            table, names = key[0], VALUES[key[0]]
            stored_values, recomputed = have.get(key) or (0,) * len(names), want.get(key) or (0,) * len(names)
            differing = "; ".join(f"{name}: stored {a}, recomputed {b}"
                                  for name, a, b in zip(names, stored_values, recomputed, strict=True) if a != b)
            found.append((key[1], f"{table} {dict(zip(KEYS[table][1:], key[2:], strict=True))}: {differing}"))
    return found
