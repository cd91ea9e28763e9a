"""Client portal: portal links (stored as digests) and comments on posts.

Time defaults are applied by the models, not the database."""
from peewee import *


def up(migrator, db):
    class Workspace(Model):
        class Meta:
            database = db
            table_name = 'workspace'

    class Client(Model):
        class Meta:
            database = db
            table_name = 'client'

    class Post(Model):
        class Meta:
            database = db
            table_name = 'post'

    class PortalToken(Model):
        workspace = ForeignKeyField(Workspace, on_delete='CASCADE')
        client = ForeignKeyField(Client, on_delete='CASCADE')
        name = CharField(max_length=200, default='')
        digest = CharField(unique=True, max_length=64)
        display = CharField(max_length=20)
        permissions = CharField(max_length=20)
        created_at = DateTimeField()
        expires_at = DateTimeField()
        revoked_at = DateTimeField(null=True)
        last_used_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'portal_token'
    db.create_tables([PortalToken])

    class PostComment(Model):
        post = ForeignKeyField(Post, on_delete='CASCADE')
        author = CharField(max_length=200)
        body = TextField()
        kind = CharField(max_length=20, default='comment')
        portal_token = ForeignKeyField(PortalToken, null=True, on_delete='SET NULL')
        created_at = DateTimeField(index=True)
        class Meta:
            database = db
            table_name = 'post_comment'
    db.create_tables([PostComment])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('post_comment'))
    migrator.migrate(migrator.drop_table('portal_token'))
