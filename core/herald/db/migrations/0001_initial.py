"""Initial schema: workspaces, users, keys, sessions, clients, media, posts, versions, engagement, plugin settings, events."""
from peewee import *

from herald.db.models import JSONField


def up(migrator, db):
    class Workspace(Model):
        name = CharField(unique=True, max_length=200)
        plan = CharField(max_length=20, default='free')
        settings = JSONField(default=dict)
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'workspace'
    db.create_tables([Workspace])

    class ApiKey(Model):
        workspace = ForeignKeyField(Workspace, on_delete='CASCADE')
        name = CharField(max_length=200, default='')
        digest = CharField(unique=True, max_length=64)
        display = CharField(max_length=40)
        scopes = JSONField(default=list)
        created_at = DateTimeField()
        last_used_at = DateTimeField(null=True)
        revoked_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'api_key'
    db.create_tables([ApiKey])

    class Client(Model):
        workspace = ForeignKeyField(Workspace, on_delete='CASCADE')
        name = CharField(max_length=200)
        brand_voice = TextField(default='')
        timezone = CharField(max_length=64, default='UTC')
        created_at = DateTimeField()
        updated_at = DateTimeField()
        deleted_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'client'
    db.create_tables([Client])

    class Post(Model):
        workspace = ForeignKeyField(Workspace, on_delete='CASCADE')
        client = ForeignKeyField(Client, null=True, on_delete='SET NULL')
        topic = TextField(default='')
        caption = TextField(default='')
        post_type = CharField(max_length=20, default='post')
        platforms = JSONField(default=list)
        media = JSONField(default=list)
        status = CharField(index=True, max_length=30, default='draft')
        score = FloatField(null=True)
        scheduled_at = DateTimeField(index=True, null=True)
        published_at = DateTimeField(null=True)
        created_at = DateTimeField(index=True)
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'post'
    db.create_tables([Post])

    class EngagementSnapshot(Model):
        post = ForeignKeyField(Post, on_delete='CASCADE')
        likes = IntegerField(default=0)
        comments = IntegerField(default=0)
        saves = IntegerField(default=0)
        shares = IntegerField(default=0)
        reach = IntegerField(default=0)
        impressions = IntegerField(null=True)
        source = CharField(max_length=40, default='api')
        recorded_at = DateTimeField(index=True)
        class Meta:
            database = db
            table_name = 'engagement_snapshot'
    db.create_tables([EngagementSnapshot])

    class Event(Model):
        workspace = ForeignKeyField(Workspace, on_delete='CASCADE')
        type = CharField(index=True, max_length=60)
        data = JSONField(default=dict)
        created_at = DateTimeField()
        dispatched_at = DateTimeField(index=True, null=True)
        class Meta:
            database = db
            table_name = 'event'
    db.create_tables([Event])

    class Media(Model):
        workspace = ForeignKeyField(Workspace, on_delete='CASCADE')
        filename = CharField()
        content_type = CharField(max_length=100)
        size = BigIntegerField()
        sha256 = CharField(index=True, max_length=64)
        path = CharField(max_length=500)
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'media'
    db.create_tables([Media])

    class PluginSetting(Model):
        workspace = ForeignKeyField(Workspace, on_delete='CASCADE')
        plugin = CharField(max_length=100)
        enabled = BooleanField(default=True)
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'plugin_setting'
            indexes = ((('workspace', 'plugin'), True),)
    db.create_tables([PluginSetting])

    class PostVersion(Model):
        post = ForeignKeyField(Post, on_delete='CASCADE')
        number = IntegerField()
        actor = CharField(max_length=200)
        changes = JSONField(default=dict)
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'post_version'
            indexes = ((('post', 'number'), True),)
    db.create_tables([PostVersion])

    class User(Model):
        workspace = ForeignKeyField(Workspace, on_delete='CASCADE')
        email = CharField(unique=True, max_length=320)
        password_hash = CharField(max_length=300)
        role = CharField(max_length=20, default='editor')
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'users'
    db.create_tables([User])

    class UserSession(Model):
        user = ForeignKeyField(User, on_delete='CASCADE')
        digest = CharField(unique=True, max_length=64)
        created_at = DateTimeField()
        expires_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'user_session'
    db.create_tables([UserSession])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('user_session'))
    migrator.migrate(migrator.drop_table('users'))
    migrator.migrate(migrator.drop_table('post_version'))
    migrator.migrate(migrator.drop_table('plugin_setting'))
    migrator.migrate(migrator.drop_table('media'))
    migrator.migrate(migrator.drop_table('event'))
    migrator.migrate(migrator.drop_table('engagement_snapshot'))
    migrator.migrate(migrator.drop_table('post'))
    migrator.migrate(migrator.drop_table('client'))
    migrator.migrate(migrator.drop_table('api_key'))
    migrator.migrate(migrator.drop_table('workspace'))
