"""A populate-hooks job recorded by an older Herald, which named its function by module path
(``herald.ai_hooks.populate``, then ``herald.ai_openers.populate``: migration 0014), runs after the
upgrade by its kind: migration 0017 drops the path, and the kind names the function."""

from __future__ import annotations

from peewee import Table
from test_ids_never_reused import bound

from herald.ai import openers
from herald.db.migrate import runner
from herald.db.models import BackgroundJob, JSONField, Workspace, open_database, utcnow
from herald.default_plugins.work_kinds import BACKGROUND_JOBS
from herald.upgrading import upgrade


def stored_before(database, **row) -> None:
    """A background job row as an older Herald stored it (the columns of that time only; the model
    has more since 0015)."""
    jobs = Table("background_job", ("id", "workspace_id", "kind", "function", "params", "status", "created_at",
                                    "started_at"))
    values = {"status": "queued", "created_at": utcnow(), "started_at": None, **row}
    values["workspace_id"] = values.pop("workspace")
    values["params"] = JSONField().db_value(values.get("params", {}))
    jobs.insert({getattr(jobs, name): value for name, value in values.items()}).execute(database)


def test_a_job_queued_by_an_older_herald_runs_by_its_kind_after_the_upgrade(tmp_path):
    database = open_database(f"sqlite:///{tmp_path / 'before.db'}")
    with database.connection_context():
        runner(database).up("0013_task_maybe_live")
    with bound(database):
        workspace = Workspace.create(name="w")
        stored_before(database, id="job_before", workspace=workspace.id, kind="populate_hooks",
                      function="herald.ai_hooks.populate", params={"client_id": 1, "count": 20})
    applied = upgrade(database)
    assert "0014_opener_job_paths" in applied and "0017_background_jobs_by_kind" in applied
    with database.connection_context():
        assert "function" not in {column.name for column in database.get_columns("background_job")}
    with bound(database):
        stored = BackgroundJob.get_by_id("job_before")
    assert (stored.kind, stored.params, BACKGROUND_JOBS[stored.kind]) == (
        "populate_hooks", {"client_id": 1, "count": 20}, openers.populate)
    database.close_all()
