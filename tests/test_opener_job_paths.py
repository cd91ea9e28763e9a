"""A populate-hooks job recorded before ``herald.ai_hooks`` became ``herald.ai_openers`` (0014), and that
module ``herald.ai.openers`` (0017), still runs after the upgrade: its stored function path is moved to
the new module."""

from __future__ import annotations

from peewee import Table
from test_ids_never_reused import bound

from herald.ai import openers
from herald.db.migrate import runner
from herald.db.models import BackgroundJob, JSONField, Workspace, open_database, utcnow
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


def test_a_job_queued_before_the_rename_names_a_function_that_exists_after_it(tmp_path):
    database = open_database(f"sqlite:///{tmp_path / 'before.db'}")
    with database.connection_context():
        runner(database).up("0013_task_maybe_live")
    with bound(database):
        workspace = Workspace.create(name="w")
        stored_before(database, id="job_before", workspace=workspace.id, kind="populate_hooks",
                      function="herald.ai_hooks.populate", params={"client_id": 1, "count": 20})
    applied = upgrade(database)
    assert "0014_opener_job_paths" in applied and "0017_package_paths" in applied
    with bound(database):
        stored = BackgroundJob.get_by_id("job_before").function
    module_name, _, name = stored.rpartition(".")
    assert (module_name, name) == (openers.populate.__module__, openers.populate.__qualname__)
    database.close_all()
