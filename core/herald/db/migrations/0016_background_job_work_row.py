"""Background jobs become the work kind ``background`` of ``herald.work``: ``background_job`` gets the
work-row columns it lacked (it had only ``status``). A job running when Herald is upgraded was run by
the old code's worker; it gets a lease ending when that worker's job timeout (15 minutes and a
minute) would have ended it, so the reconciler fails it as interrupted then, as the old one did."""
import datetime as dt

from peewee import *

from herald.db.models import JSONField

LOST_RUNNING_AFTER = dt.timedelta(seconds=15 * 60 + 60)


def up(migrator, db):
    migrator.migrate(
        migrator.add_column('background_job', 'step', IntegerField(default=0)),
        migrator.add_column('background_job', 'due_at', DateTimeField(null=True)),
        migrator.add_column('background_job', 'lease_until', DateTimeField(null=True)),
        migrator.add_column('background_job', 'attempts', IntegerField(default=0)),
        migrator.add_column('background_job', 'state', JSONField(default=dict)),
        migrator.add_index('background_job', ('due_at',), False),
    )
    jobs = Table('background_job', ('id', 'status', 'created_at', 'started_at', 'lease_until', 'attempts'))
    running = list(jobs.select(jobs.id, jobs.created_at, jobs.started_at).where(jobs.status == 'running')
                   .tuples().execute(db))
    for job_id, created_at, started_at in running:
        started = started_at or created_at
        if isinstance(started, str):  # SQLite hands a raw Table's datetimes back as text
            started = dt.datetime.fromisoformat(started)
        (jobs.update({jobs.lease_until: started + LOST_RUNNING_AFTER, jobs.attempts: 1})
         .where(jobs.id == job_id).execute(db))


def down(migrator, db):
    migrator.migrate(
        migrator.drop_index('background_job', 'background_job_due_at'),
        migrator.drop_column('background_job', 'state'),
        migrator.drop_column('background_job', 'attempts'),
        migrator.drop_column('background_job', 'lease_until'),
        migrator.drop_column('background_job', 'due_at'),
        migrator.drop_column('background_job', 'step'),
    )
