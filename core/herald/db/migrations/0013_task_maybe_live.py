"""Whether an earlier attempt of a publish task may be live and is not confirmed yet."""
from peewee import *


def up(migrator, db):
    migrator.migrate(
        migrator.add_column('publish_task', 'maybe_live', BooleanField(default=False)),
    )


def down(migrator, db):
    migrator.migrate(
        migrator.drop_column('publish_task', 'maybe_live'),
    )
