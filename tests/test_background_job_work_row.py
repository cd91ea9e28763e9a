"""Background jobs stored before they became the work kind ``background`` (migration 0016): a queued
one waits for its first job as any queued row; a running one, whose worker was the old code's, gets
the lease that worker's job timeout gave it, so the reconciler fails it as interrupted when the old
one would have, and never runs it a second time."""

from __future__ import annotations

import datetime as dt

from test_ids_never_reused import bound
from test_opener_job_paths import stored_before

from herald.db.migrate import runner
from herald.db.models import BackgroundJob, Workspace, open_database, utcnow
from herald.upgrading import upgrade


def test_jobs_stored_before_the_upgrade_keep_the_work_row_contract(tmp_path):
    database = open_database(f"sqlite:///{tmp_path / 'before.db'}")
    with database.connection_context():
        runner(database).up("0015_first_comment_rows")
    started = utcnow().replace(microsecond=0) - dt.timedelta(minutes=2)
    with bound(database):
        workspace = Workspace.create(name="w")
        stored_before(database, id="job_queued", workspace=workspace.id, kind="populate_hooks",
                      function="herald.ai_openers.populate")
        stored_before(database, id="job_running", workspace=workspace.id, kind="populate_hooks",
                      function="herald.ai_openers.populate", status="running", started_at=started)
    assert "0016_background_job_work_row" in upgrade(database)
    with bound(database):
        queued, running = BackgroundJob.get_by_id("job_queued"), BackgroundJob.get_by_id("job_running")
    assert (queued.status, queued.step, queued.due_at, queued.lease_until, queued.attempts, queued.state) == \
        ("queued", 0, None, None, 0, {})
    assert running.status == "running" and running.attempts == 1
    assert running.lease_until == started + dt.timedelta(minutes=16)  # the old job timeout and a minute
    database.close_all()
