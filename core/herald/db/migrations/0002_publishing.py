"""Publishing: connected accounts, publish tasks and stored Idempotency-Key outcomes.

Time defaults are applied by the models, not the database."""
from peewee import *

from herald.db.models import JSONField


def up(migrator, db):
    class Post(Model):
        class Meta:
            database = db
            table_name = 'post'

    class Workspace(Model):
        class Meta:
            database = db
            table_name = 'workspace'

    class Account(Model):
        workspace = ForeignKeyField(Workspace, on_delete='CASCADE')
        platform = CharField(max_length=40)
        external_id = CharField(max_length=100)
        username = CharField(max_length=200, default='')
        token_encrypted = TextField()
        token_expires_at = DateTimeField(null=True)
        status = CharField(max_length=20, default='active')
        status_reason = TextField(default='')
        settings = JSONField(default=dict)
        checked_at = DateTimeField(null=True)
        created_at = DateTimeField()
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'account'
            indexes = ((('workspace', 'platform', 'external_id'), True),)
    db.create_tables([Account])

    class IdempotencyRecord(Model):
        workspace = ForeignKeyField(Workspace, on_delete='CASCADE')
        key = CharField()
        method = CharField(max_length=10)
        path = CharField(max_length=500)
        request_hash = CharField(max_length=64)
        status_code = IntegerField(null=True)
        response_body = TextField(null=True)
        created_at = DateTimeField()
        expires_at = DateTimeField(index=True)
        class Meta:
            database = db
            table_name = 'idempotency_record'
            indexes = ((('workspace', 'key'), True),)
    db.create_tables([IdempotencyRecord])

    class PublishTask(Model):
        workspace = ForeignKeyField(Workspace, on_delete='CASCADE')
        post = ForeignKeyField(Post, on_delete='CASCADE')
        account = ForeignKeyField(Account, on_delete='CASCADE')
        platform = CharField(max_length=40)
        status = CharField(index=True, max_length=20)
        due_at = DateTimeField(index=True, null=True)
        lease_until = DateTimeField(null=True)
        step = IntegerField(default=0)
        attempts = IntegerField(default=0)
        state = JSONField(default=dict)
        platform_post_id = CharField(null=True, max_length=200)
        url = TextField(null=True)
        error = TextField(null=True)
        published_at = DateTimeField(null=True)
        created_at = DateTimeField()
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'publish_task'
            indexes = ((('post', 'account'), True),)
    db.create_tables([PublishTask])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('publish_task'))
    migrator.migrate(migrator.drop_table('idempotency_record'))
    migrator.migrate(migrator.drop_table('account'))
