"""Cross-posting (issue 24): ``post.variants``, the post's text and options per platform where the user
wrote them (``{"bluesky": {"content": "…"}, "mastodon": {"options": {"visibility": "unlisted"}}}``;
null: none), and ``media.alt_text``, the description of an image or video that platforms publishing
one (Bluesky, Mastodon, LinkedIn) show to screen readers."""
from peewee import *

from herald.db.models import JSONField


def up(migrator, db):
    migrator.migrate(migrator.add_column('post', 'variants', JSONField(null=True)),
                     migrator.add_column('media', 'alt_text', TextField(null=True)))


def down(migrator, db):
    migrator.migrate(migrator.drop_column('media', 'alt_text'), migrator.drop_column('post', 'variants'))
