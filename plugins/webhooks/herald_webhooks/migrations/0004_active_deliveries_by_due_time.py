"""Pending deliveries are found by their due time among pending rows only (issue 25): the reconciler
hands a delivery to RQ only as it comes due, through a partial index on ``due_at`` where ``status``
is ``pending`` (the predicate ``herald.sdk.storage.status_in`` writes, which its queries repeat). It
replaces the index on ``due_at`` of every delivery ever made (``webhookdelivery_next_attempt_at``,
named before the column was renamed)."""
from peewee import SQL


def up(migrator, db):
    migrator.migrate(
        migrator.drop_index('webhook_delivery', 'webhookdelivery_next_attempt_at'),
        migrator.add_index('webhook_delivery', ('due_at', 'id'), False, where=SQL("(status IN ('pending')) IS TRUE"),
                           name='webhook_delivery_active_due'),
    )


def down(migrator, db):
    migrator.migrate(
        migrator.drop_index('webhook_delivery', 'webhook_delivery_active_due'),
        migrator.add_index('webhook_delivery', ('due_at',), False, name='webhookdelivery_next_attempt_at'),
    )
