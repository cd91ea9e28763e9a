"""What decoding an uploaded file found: the dimensions, duration and codecs platforms check."""
from peewee import *


def up(migrator, db):
    migrator.migrate(
        migrator.add_column('media', 'width', IntegerField(null=True)),
        migrator.add_column('media', 'height', IntegerField(null=True)),
        migrator.add_column('media', 'duration_seconds', FloatField(null=True)),
        migrator.add_column('media', 'video_codec', CharField(max_length=40, null=True)),
        migrator.add_column('media', 'audio_codec', CharField(max_length=40, null=True)),
        migrator.add_column('media', 'frame_rate', FloatField(null=True)),
    )


def down(migrator, db):
    migrator.migrate(
        migrator.drop_column('media', 'frame_rate'),
        migrator.drop_column('media', 'audio_codec'),
        migrator.drop_column('media', 'video_codec'),
        migrator.drop_column('media', 'duration_seconds'),
        migrator.drop_column('media', 'height'),
        migrator.drop_column('media', 'width'),
    )
