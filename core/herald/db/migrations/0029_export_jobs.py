"""Exports as background jobs (issue 25, item 4): ``background_job.progress``, how far a running job
is (an export: its phase, rows done and the total), shown by ``GET /api/jobs/<id>`` while it runs."""
from herald.db.models import JSONField


def up(migrator, db):
    migrator.migrate(migrator.add_column('background_job', 'progress', JSONField(null=True)))


def down(migrator, db):
    migrator.migrate(migrator.drop_column('background_job', 'progress'))
