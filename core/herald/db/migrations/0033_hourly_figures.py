"""Issue 25: ``hourly_figures``, the counts of ``daily_figures`` per (workspace, UTC hour, client), kept
by the same triggers (installed again here with both buckets, see :mod:`herald.db.daily_figures`) and
filled from the existing rows. A period that does not start or end at midnight UTC (the health
scores' "last 28 days", a local day of the analytics export) then sums whole hours at its edges
instead of walking the posts of its edge days.
"""
from peewee import *

from herald.db import daily_figures


def _table(db):
    class HourlyFigures(Model):
        workspace_id = IntegerField()
        hour = DateTimeField()
        client_id = IntegerField()
        posts_created = IntegerField(default=0)
        posts_published = IntegerField(default=0)
        tasks_published = IntegerField(default=0)
        tasks_failed = IntegerField(default=0)
        tasks_unconfirmed = IntegerField(default=0)
        engaged_posts = IntegerField(default=0)
        likes = BigIntegerField(default=0)
        comments = BigIntegerField(default=0)
        saves = BigIntegerField(default=0)
        shares = BigIntegerField(default=0)
        reach = BigIntegerField(default=0)

        class Meta:
            database = db
            table_name = 'hourly_figures'
            indexes = ((('workspace_id', 'hour', 'client_id'), True),)

    return HourlyFigures


def up(migrator, db):
    db.create_tables([_table(db)])
    daily_figures.install(db, (daily_figures.DAY, daily_figures.HOUR))
    daily_figures.rebuild(db, buckets=(daily_figures.HOUR,))


def down(migrator, db):
    daily_figures.install(db, (daily_figures.DAY,))
    migrator.migrate(migrator.drop_table('hourly_figures'))
