"""Intelligence: campaigns, and the campaign a post belongs to.

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

    class Campaign(Model):
        workspace = ForeignKeyField(Workspace, on_delete='CASCADE')
        client = ForeignKeyField(Client, null=True, on_delete='SET NULL')
        name = CharField(max_length=200)
        goal = TextField(default='')
        starts_on = DateField(null=True)
        ends_on = DateField(null=True)
        status = CharField(max_length=20, default='planned')
        created_at = DateTimeField()
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'campaign'
    db.create_tables([Campaign])

    migrator.migrate(migrator.add_column(
        'post', 'campaign_id', ForeignKeyField(Campaign, field=Campaign.id, null=True, on_delete='SET NULL')))


def down(migrator, db):
    migrator.migrate(migrator.drop_column('post', 'campaign_id'))
    migrator.migrate(migrator.drop_table('campaign'))
