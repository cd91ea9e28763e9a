"""Reports from aggregates (issue 25, item 2): the per-hour engagement ``GET /v1/analytics`` and the
client portal read (``engagement_owner_hour``, ``engagement_post_hour``, ``engagement_gain_hour``,
``engagement_status``), kept by triggers in the same transaction as every write that changes them (see
:mod:`herald.db.engagement_hours`), and filled here from the existing rows.
"""
from peewee import *

from herald.db import engagement_hours

METRICS = ('likes', 'comments', 'saves', 'shares', 'reach')


def _tables(db):
    def table(name, columns, keys):
        attributes = {**columns, 'Meta': type('Meta', (), {'database': db, 'table_name': name,
                                                             'indexes': ((keys, True),)})}
        return type(name, (Model,), attributes)

    def sums(*names):
        return {name: BigIntegerField(default=0) for name in names}

    return [
        table('engagement_owner_hour', {'workspace_id': IntegerField(), 'client_id': IntegerField(),
                                        'hour': DateTimeField(), 'platform': CharField(max_length=40),
                                        'account_id': IntegerField(), 'posts': IntegerField(default=0),
                                        **sums(*METRICS, 'impressions'),
                                        'impressions_reported': IntegerField(default=0)},
              ('workspace_id', 'client_id', 'hour', 'platform', 'account_id')),
        table('engagement_post_hour', {'workspace_id': IntegerField(), 'client_id': IntegerField(),
                                       'hour': DateTimeField(), 'posts': IntegerField(default=0),
                                       **sums('interactions')},
              ('workspace_id', 'client_id', 'hour')),
        table('engagement_gain_hour', {'workspace_id': IntegerField(), 'client_id': IntegerField(),
                                       'status': CharField(max_length=30), 'hour': DateTimeField(),
                                       **sums('interactions')},
              ('workspace_id', 'client_id', 'status', 'hour')),
        table('engagement_status', {'workspace_id': IntegerField(), 'client_id': IntegerField(),
                                    'status': CharField(max_length=30), **sums(*METRICS)},
              ('workspace_id', 'client_id', 'status')),
    ]


def up(migrator, db):
    db.create_tables(_tables(db))
    engagement_hours.install(db)
    engagement_hours.rebuild(db)


def down(migrator, db):
    engagement_hours.uninstall(db)
    for name in reversed(engagement_hours.TABLES):
        migrator.migrate(migrator.drop_table(name))
