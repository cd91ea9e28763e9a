"""Posting slots: a client's weekly times to publish at (``posting_slot``: workspace, client, an optional account,
weekday, minute of the local day), read in the client's time zone by :mod:`herald.publishing.slots`."""
from peewee import *


def _table(db):
    class Workspace(Model):
        class Meta:
            database = db
            table_name = 'workspace'

    class Client(Model):
        class Meta:
            database = db
            table_name = 'client'

    class Account(Model):
        class Meta:
            database = db
            table_name = 'account'

    class PostingSlot(Model):
        workspace = ForeignKeyField(Workspace, on_delete='CASCADE', index=False)
        client = ForeignKeyField(Client, on_delete='CASCADE')
        account = ForeignKeyField(Account, null=True, on_delete='CASCADE', index=False)
        weekday = SmallIntegerField()
        minute = SmallIntegerField()
        created_at = DateTimeField()

        class Meta:
            database = db
            table_name = 'posting_slot'

    return PostingSlot


def up(migrator, db):
    db.create_tables([_table(db)])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('posting_slot'))
