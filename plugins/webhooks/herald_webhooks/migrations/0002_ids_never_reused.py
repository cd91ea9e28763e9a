"""Webhook endpoint, delivery and attempt ids are never handed out twice (SQLite: AUTOINCREMENT).

A delivery's id names its RQ jobs (``herald-webhook-<id>-<step>``) and an endpoint's id its Redis
keys (attempts in flight, last answer, deliveries waiting). SQLite reused the ids of the newest rows
once an endpoint was deleted (its deliveries and attempts with it): a new delivery's job collided
with the finished job RQ kept for 300 s under the same id and was not enqueued, so a test event
arrived only when the reconciler came, and a new endpoint inherited a deleted one's throttling.
Attempt ids are what the delivery log shows and what a re-send may be asked for by.
"""
from herald.sdk.storage import never_reuse_ids


def up(migrator, db):
    never_reuse_ids(migrator, 'webhook_endpoint', 'webhook_delivery', 'webhook_attempt')


def down(migrator, db):
    never_reuse_ids(migrator, 'webhook_endpoint', 'webhook_delivery', 'webhook_attempt', undo=True)
