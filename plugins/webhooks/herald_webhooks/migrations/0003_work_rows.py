"""Webhook deliveries become rows of the ``webhook_delivery`` work kind (herald.work): the work-row
contract's columns. ``next_attempt_at`` is the contract's ``due_at`` (renamed; the API still calls
it ``next_attempt_at``); ``lease_until`` is set while a worker makes an attempt; ``state`` is the
kernel's JSON (why it gave up). ``status``, ``step`` and ``attempts`` were there already.
"""
from peewee import DateTimeField

from herald.sdk.storage import JSONField


def up(migrator, db):
    migrator.migrate(
        migrator.rename_column('webhook_delivery', 'next_attempt_at', 'due_at'),
        migrator.add_column('webhook_delivery', 'lease_until', DateTimeField(null=True)),
        migrator.add_column('webhook_delivery', 'state', JSONField(default=dict)),
    )


def down(migrator, db):
    migrator.migrate(
        migrator.drop_column('webhook_delivery', 'state'),
        migrator.drop_column('webhook_delivery', 'lease_until'),
        migrator.rename_column('webhook_delivery', 'due_at', 'next_attempt_at'),
    )
