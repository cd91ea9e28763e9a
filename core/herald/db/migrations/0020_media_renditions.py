"""Renditions of uploads made for platforms that cannot take them as they are (``media_rendition``: a
PNG as JPEG for Instagram, an image padded into a platform's aspect ratios), and ``post.fit``: whether
a post asked for images to be padded (``"pad"``), so that the worker makes what the request was checked for."""
from peewee import *


def _tables(db):
    class Media(Model):
        class Meta:
            database = db
            table_name = 'media'

    class MediaRendition(Model):
        media = ForeignKeyField(Media, on_delete='CASCADE', index=False)
        recipe = CharField(max_length=100)
        content_type = CharField(max_length=100)
        path = CharField(max_length=500)
        size = BigIntegerField()
        sha256 = CharField(max_length=64)
        width = IntegerField()
        height = IntegerField()
        created_at = DateTimeField()

        class Meta:
            database = db
            table_name = 'media_rendition'
            legacy_table_names = False
            indexes = ((('media', 'recipe'), True),)

    return MediaRendition


def up(migrator, db):
    db.create_tables([_tables(db)])
    migrator.migrate(migrator.add_column('post', 'fit', CharField(max_length=10, null=True)))


def down(migrator, db):
    migrator.migrate(migrator.drop_column('post', 'fit'))
    db.drop_tables([_tables(db)])
