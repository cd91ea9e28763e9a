"""Migration 0015: first comments kept inside ``publish_task`` (``comment_status`` and the ``comment``
JSON) move to work rows of their own, in every state they can be in, and the API shows each as before."""

from __future__ import annotations

import datetime as dt

from peewee import Table
from test_ids_never_reused import as_of_then, bound

from herald.db.migrate import runner
from herald.db.models import Account, FirstComment, Post, PublishTask, Workspace, open_database
from herald.publishing import first_comments, tasks
from herald.upgrading import upgrade
from herald.work import kernel

STARTED = dt.datetime(2026, 6, 1, 9, 0, 0)
DUE = dt.datetime(2026, 6, 1, 9, 5, 0)
# Each state a comment could be in before the upgrade, as the old code stored it.
OLD_COMMENTS = {
    "queued": ("pending", {"attempts": 0}),
    "retrying": ("pending", {"attempts": 2, "error": "Graph API error 2", "check_first": True,
                             "due_at": "2026-06-01T09:05:00Z", "started_at": "2026-06-01T09:00:00Z"}),
    "posting": ("posting", {"attempts": 1, "started_at": "2026-06-01T09:00:00Z", "due_at": None}),
    "posted": ("posted", {"attempts": 1, "id": "17890001", "error": None, "due_at": None,
                          "started_at": "2026-06-01T09:00:00Z", "finished_at": "2026-06-01T09:00:02Z"}),
    "failed": ("failed", {"attempts": 1, "id": None, "error": "(#200) Requires pages_manage_engagement",
                          "due_at": None, "finished_at": "2026-06-01T09:00:02Z"}),
    "unconfirmed": ("unconfirmed", {"attempts": 4, "id": None, "error": "It may have been posted.", "due_at": None,
                                    "finished_at": "2026-06-01T09:00:02Z"}),
}


def old_shape(status: str, details: dict) -> dict:
    """What the API showed of such a comment before the upgrade (the old ``serialize_comment``)."""
    return {"status": status, "id": details.get("id"), "error": details.get("error"),
            "attempts": details.get("attempts", 0), "next_attempt_at": details.get("due_at")}


def database_before(tmp_path):
    """A database at migration 0014 with a published task whose comment is in each state, and one
    published task without a comment; ``(database, {state: task id}, task id without a comment)``."""
    database = open_database(f"sqlite:///{tmp_path / 'before.db'}")
    with database.connection_context():
        runner(database).up("0014_opener_job_paths")
    old = Table("publish_task", ("id", "comment_status", "comment"))
    with bound(database):
        workspace = Workspace.create(name="w")
        account = Account.create(workspace=workspace, platform="facebook", external_id="1", token_encrypted="x")
        ids = {}
        for state, (status, details) in OLD_COMMENTS.items():
            post = Post.create(workspace=workspace, first_comment=f"comment when {state}")
            task = as_of_then(database, PublishTask, workspace=workspace, post=post, account=account,
                              platform="facebook", status="published", platform_post_id=f"p_{state}",
                              published_at=STARTED)
            old.update({old.comment_status: status, old.comment: PublishTask.state.db_value(details)}) \
                .where(old.id == task.id).execute(database)
            ids[state] = task.id
        silent = as_of_then(database, PublishTask, workspace=workspace, post=Post.create(workspace=workspace),
                            account=account, platform="facebook", status="published", published_at=STARTED).id
    return database, ids, silent


def test_every_comment_moves_to_its_own_row_and_the_api_shows_it_as_before(tmp_path):
    database, ids, silent = database_before(tmp_path)
    assert "0015_first_comment_rows" in upgrade(database)
    with bound(database):
        assert "comment_status" not in {column.name for column in database.get_columns("publish_task")}
        for state, (status, details) in OLD_COMMENTS.items():
            task = PublishTask.get_by_id(ids[state])
            assert tasks.serialize_first_comment(task) == old_shape(status, details), state
            comment = FirstComment.get(FirstComment.task == task)
            assert comment.text == f"comment when {state}" and comment.workspace_id == task.workspace_id
        assert tasks.serialize_first_comment(PublishTask.get_by_id(silent)) is None
        assert FirstComment.select().count() == len(OLD_COMMENTS)
        # its ids name RQ jobs: never handed out twice (see herald.db.migrate.never_reuse_ids)
        [(table_sql,)] = database.execute_sql("SELECT sql FROM sqlite_master WHERE name = 'first_comment'").fetchall()
        assert "AUTOINCREMENT" in table_sql
    database.close_all()


def test_comments_in_flight_across_the_upgrade_go_on_on_the_kernel(tmp_path):
    """A retry keeps its due time and its look before sending again; a comment being posted when
    Herald was upgraded is recovered (looked for, never sent blind) once the old posting timeout has
    passed, not before."""
    database, ids, _ = database_before(tmp_path)
    upgrade(database)
    work_kind = first_comments.KIND
    with bound(database):
        retrying = FirstComment.get(FirstComment.task == ids["retrying"])
        assert kernel.claim(work_kind, retrying.id, DUE - dt.timedelta(seconds=10)) is None  # not due yet
        mode, claimed = kernel.claim(work_kind, retrying.id, DUE)
        assert (mode, claimed.attempts, claimed.state) == ("run", 3, {"check_first": True})

        posting = FirstComment.get(FirstComment.task == ids["posting"])
        assert posting.status == "posting"
        assert kernel.claim(work_kind, posting.id, STARTED + dt.timedelta(minutes=9)) is None  # its worker may live
        mode, claimed = kernel.claim(work_kind, posting.id, STARTED + dt.timedelta(minutes=10, seconds=1))
        assert (mode, claimed.attempts) == ("recover", 1)

        queued = FirstComment.get(FirstComment.task == ids["queued"])
        assert kernel.claim(work_kind, queued.id, STARTED)[0] == "run"
        for state in ("posted", "failed", "unconfirmed"):
            final = FirstComment.get(FirstComment.task == ids[state])
            assert kernel.claim(work_kind, final.id, DUE + dt.timedelta(days=1)) is None, state
    database.close_all()


def test_the_migration_moves_the_comments_back_down(tmp_path):
    database, ids, silent = database_before(tmp_path)
    upgrade(database)
    with database.connection_context():
        runner(database).down("0015_first_comment_rows")
        assert "first_comment" not in database.get_tables()
        old = Table("publish_task", ("id", "comment_status", "comment")).bind(database)
        stored = {row["id"]: row for row in old.select(old.id, old.comment_status, old.comment).dicts()}
    for state, (status, details) in OLD_COMMENTS.items():
        row = stored[ids[state]]
        assert old_shape(row["comment_status"], PublishTask.state.python_value(row["comment"])) \
            == old_shape(status, details), state
    assert stored[silent]["comment_status"] is None
    database.close_all()
