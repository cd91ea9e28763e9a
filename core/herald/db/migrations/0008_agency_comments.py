"""Agency replies: a comment records who wrote it, the client (portal) or the agency (API).

Every comment written before this migration came from the portal, so existing rows are 'client'."""
from peewee import *


def up(migrator, db):
    migrator.migrate(migrator.add_column('post_comment', 'author_kind', CharField(max_length=20, default='client')))


def down(migrator, db):
    migrator.migrate(migrator.drop_column('post_comment', 'author_kind'))
