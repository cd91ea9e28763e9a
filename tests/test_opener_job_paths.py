"""A populate-hooks job recorded before ``herald.ai_hooks`` became ``herald.ai_openers`` still runs
after the upgrade: its stored function path is moved to the new module."""

from __future__ import annotations

from test_ids_never_reused import bound

from herald import ai_openers
from herald.migrate import runner, upgrade
from herald.models import BackgroundJob, Workspace, open_database


def test_a_job_queued_before_the_rename_names_a_function_that_exists_after_it(tmp_path):
    database = open_database(f"sqlite:///{tmp_path / 'before.db'}")
    with database.connection_context():
        runner(database).up("0013_task_maybe_live")
    with bound(database):
        workspace = Workspace.create(name="w")
        BackgroundJob.create(id="job_before", workspace=workspace, kind="populate_hooks",
                             function="herald.ai_hooks.populate", params={"client_id": 1, "count": 20})
    assert "0014_opener_job_paths" in upgrade(database)
    with bound(database):
        stored = BackgroundJob.get_by_id("job_before").function
    module_name, _, name = stored.rpartition(".")
    assert (module_name, name) == (ai_openers.populate.__module__, ai_openers.populate.__qualname__)
    database.close_all()
