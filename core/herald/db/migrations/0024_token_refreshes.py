"""Token refreshes become durable work (``token_refresh``: one row per refresh of an account's access
token, kind ``token_refresh`` of ``herald.work``), so a refresh that fails for a passing reason is tried
again by the work kernel rather than waiting six hours for the next token check. The ids of the new
table are never reused (they name RQ jobs)."""
from peewee import *

from herald.db.migrate import never_reuse_ids
from herald.db.models import JSONField


def _table(db):
    class Workspace(Model):
        class Meta:
            database = db
            table_name = 'workspace'

    class Account(Model):
        class Meta:
            database = db
            table_name = 'account'

    class TokenRefresh(Model):
        status = CharField(max_length=20, index=True)
        step = IntegerField(default=0)
        due_at = DateTimeField(null=True, index=True)
        lease_until = DateTimeField(null=True)
        attempts = IntegerField(default=0)
        state = JSONField(default=dict)
        account = ForeignKeyField(Account, on_delete='CASCADE')
        workspace = ForeignKeyField(Workspace, on_delete='CASCADE', index=False)
        error = TextField(null=True)
        created_at = DateTimeField()
        updated_at = DateTimeField()

        class Meta:
            database = db
            table_name = 'token_refresh'
            legacy_table_names = False

    return TokenRefresh


def up(migrator, db):
    db.create_tables([_table(db)])
    never_reuse_ids(migrator, 'token_refresh')


def down(migrator, db):
    migrator.migrate(migrator.drop_table('token_refresh'))
