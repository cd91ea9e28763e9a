"""AI loose ends: a generation remembers the background job that made it (so the reconciler can
release the plan slot of a job whose worker died), unfinished jobs are found by an index on their
status, and a design template keeps the client it was made for."""
from peewee import *


def up(migrator, db):
    class Client(Model):
        class Meta:
            database = db
            table_name = 'client'

    class BackgroundJob(Model):
        id = CharField(max_length=40, primary_key=True)
        class Meta:
            database = db
            table_name = 'background_job'

    migrator.migrate(
        migrator.add_column('ai_generation', 'job_id',
                            ForeignKeyField(BackgroundJob, field=BackgroundJob.id, null=True, on_delete='SET NULL')),
        migrator.add_index('background_job', ('status',), False),
        migrator.add_column('design_template', 'client_id',
                            ForeignKeyField(Client, field=Client.id, null=True, on_delete='SET NULL')),
    )


def down(migrator, db):
    migrator.migrate(
        migrator.drop_column('design_template', 'client_id'),
        migrator.drop_index('background_job', 'background_job_status'),
        migrator.drop_column('ai_generation', 'job_id'),
    )
