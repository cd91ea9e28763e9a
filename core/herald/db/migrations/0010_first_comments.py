"""First comments: the text a post asks to have commented under it once published, and each task's
comment status and details. The index holds only comments still under way (the reconciler's query)."""
from peewee import *

from herald.db.models import JSONField


def up(migrator, db):
    migrator.migrate(
        migrator.add_column('post', 'first_comment', TextField(null=True)),
        migrator.add_column('publish_task', 'comment_status', CharField(max_length=20, null=True)),
        migrator.add_column('publish_task', 'comment', JSONField(null=True)),
        migrator.add_index('publish_task', ('comment_status',), False,
                           where=SQL("comment_status IN ('pending', 'posting')"),
                           name='publish_task_comment_under_way'),
    )


def down(migrator, db):
    migrator.migrate(
        migrator.drop_index('publish_task', 'publish_task_comment_under_way'),
        migrator.drop_column('publish_task', 'comment'),
        migrator.drop_column('publish_task', 'comment_status'),
        migrator.drop_column('post', 'first_comment'),
    )
