"""Edit history: a version records which earlier version a restore brought back."""
from peewee import *


def up(migrator, db):
    migrator.migrate(migrator.add_column('post_version', 'restored_from', IntegerField(null=True)))


def down(migrator, db):
    migrator.migrate(migrator.drop_column('post_version', 'restored_from'))
