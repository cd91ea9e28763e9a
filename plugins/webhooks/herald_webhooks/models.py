"""The webhooks plugin's tables: endpoints, deliveries (one event to one endpoint) and attempts.

A delivery is a row of the ``webhook_delivery`` work kind (:mod:`herald.work`): it exists before
its job does, so a job lost with Redis is re-created from the row by the kernel's reconciler.
Attempts are the delivery log customers read.
"""

from __future__ import annotations

import peewee as pw

from herald.sdk import WorkRow
from herald.sdk.storage import BaseModel, Event, JSONField, Workspace, active_due_index, utcnow

PENDING, SUCCEEDED, FAILED, CANCELLED = "pending", "succeeded", "failed", "cancelled"
KIND_NAME = "webhook_delivery"  # the work kind of deliveries (herald_webhooks.jobs.KIND)
ENDPOINT_PREFIX, DELIVERY_PREFIX, ATTEMPT_PREFIX = "wh_", "dlv_", "att_"


class WebhookEndpoint(BaseModel):
    """A customer's URL and the events it subscribes to. Secrets are stored encrypted."""

    workspace = pw.ForeignKeyField(Workspace, backref="webhook_endpoints", on_delete="CASCADE")
    url = pw.TextField()
    events = JSONField(default=list)
    secret_encrypted = pw.TextField()
    previous_secret_encrypted = pw.TextField(null=True)  # still signs until previous_secret_expires_at
    previous_secret_expires_at = pw.DateTimeField(null=True)
    active = pw.BooleanField(default=True)
    disabled_reason = pw.TextField(null=True)  # the notice shown when Herald disabled it
    disabled_at = pw.DateTimeField(null=True)
    failing_since = pw.DateTimeField(null=True)  # first failure since the last success
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)


class WebhookDelivery(WorkRow):
    """One event to one endpoint: the signed body (identical on every attempt) and its schedule.

    The work-row contract (:class:`herald.work.WorkRow`): ``status`` is ``pending`` until it is
    ``succeeded``, ``failed`` or ``cancelled`` (a worker making an attempt holds it under
    ``lease_until``); ``due_at`` is when the next attempt is due (the API's ``next_attempt_at``);
    ``attempts`` counts attempts begun; ``step`` grows with every job, so each job id is new.
    """

    workspace = pw.ForeignKeyField(Workspace, backref="webhook_deliveries", on_delete="CASCADE")
    endpoint = pw.ForeignKeyField(WebhookEndpoint, backref="deliveries", on_delete="CASCADE")
    event = pw.ForeignKeyField(Event, null=True, backref="webhook_deliveries", on_delete="CASCADE")
    event_type = pw.CharField(max_length=60)
    message_id = pw.CharField(max_length=64)  # the webhook-id header: the same on every attempt
    payload = pw.TextField()
    status = pw.CharField(max_length=20, default=PENDING, index=True)
    trigger = pw.CharField(max_length=20, default="scheduled")  # what the next attempt is: scheduled | manual
    one_shot = pw.BooleanField(default=False)  # a re-send of a finished delivery: no retries after it
    last_status_code = pw.IntegerField(null=True)
    last_error = pw.TextField(null=True)
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("endpoint", "event"), True),)


WebhookDelivery.add_index(active_due_index(WebhookDelivery, (PENDING,)))  # the kind's one active status


class WebhookAttempt(BaseModel):
    """One HTTP request of a delivery, as the delivery log shows it."""

    workspace = pw.ForeignKeyField(Workspace, backref="webhook_attempts", on_delete="CASCADE")
    endpoint = pw.ForeignKeyField(WebhookEndpoint, backref="attempts", on_delete="CASCADE")
    delivery = pw.ForeignKeyField(WebhookDelivery, backref="attempt_rows", on_delete="CASCADE")
    number = pw.IntegerField()
    trigger = pw.CharField(max_length=20)
    attempted_at = pw.DateTimeField(default=utcnow, index=True)
    status_code = pw.IntegerField(null=True)
    success = pw.BooleanField(default=False)
    duration_ms = pw.IntegerField(default=0)
    error = pw.TextField(null=True)
    response = pw.TextField(default="")  # the start of the response body
    next_attempt_at = pw.DateTimeField(null=True)


MODELS = [WebhookEndpoint, WebhookDelivery, WebhookAttempt]
