"""``/v1/webhooks``: endpoints (Apionics), their secrets, test sends, and the delivery log (Airpost)."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from herald.sdk import Conflict, ValidationError
from herald.sdk.web import cursor_query, endpoint, int_query, listed, plugin_feature, runtime

from . import deliveries, endpoints, jobs
from .models import ATTEMPT_PREFIX, WebhookAttempt, WebhookDelivery, WebhookEndpoint

bp = Blueprint("webhooks", __name__, url_prefix="/v1/webhooks")
feature = plugin_feature("webhooks", "Outgoing webhooks are")
LOG_QUERY = (int_query("limit", 20, 1, 100),
             cursor_query(ATTEMPT_PREFIX),
             ("success", {"type": "string", "enum": ["true", "false"]}, "only successful or only failed attempts"))


def _workspace() -> int:
    return g.principal.workspace_id


@endpoint(bp, "", ("POST",), summary="Register a webhook endpoint (the secret is returned once)", scope="webhooks",
          body="webhook_create", responses={201: "webhook"})
@feature
def create_webhook(payload):
    """Create an endpoint; a ``whsec_`` secret is generated when none is given."""
    row, secret = endpoints.create(runtime(), _workspace(), payload)
    return jsonify(endpoints.serialize(row, runtime().clock.now(), secret)), 201


@endpoint(bp, "", ("GET",), summary="List the workspace's webhook endpoints", scope="webhooks",
          responses={200: "webhook_list"})
@feature
def list_webhooks():
    """Every endpoint of the workspace, oldest first (secrets are never shown again)."""
    rows = WebhookEndpoint.select().where(WebhookEndpoint.workspace == _workspace()).order_by(WebhookEndpoint.id)
    now = runtime().clock.now()
    return jsonify({"webhooks": [endpoints.serialize(row, now) for row in rows]})


@endpoint(bp, "/<webhook_id>", ("GET",), summary="A webhook endpoint", scope="webhooks", responses={200: "webhook"})
@feature
def get_webhook(webhook_id):
    """One endpoint, with its disabled notice when Herald disabled it."""
    return jsonify(endpoints.serialize(endpoints.get(_workspace(), webhook_id), runtime().clock.now()))


@endpoint(bp, "/<webhook_id>", ("PATCH",), summary="Change a webhook's url, events or active", scope="webhooks",
          body="webhook_update", responses={200: "webhook"})
@feature
def update_webhook(webhook_id, payload):
    """Change the endpoint; ``active: true`` re-enables one Herald disabled."""
    row = endpoints.update(runtime(), endpoints.get(_workspace(), webhook_id), payload)
    return jsonify(endpoints.serialize(row, runtime().clock.now()))


@endpoint(bp, "/<webhook_id>", ("DELETE",), summary="Delete a webhook endpoint and its delivery log",
          scope="webhooks", responses={204: None})
@feature
def delete_webhook(webhook_id):
    """Delete the endpoint; pending deliveries to it stop."""
    row = endpoints.get(_workspace(), webhook_id)
    WebhookEndpoint.delete().where(WebhookEndpoint.id == row.id).execute()
    return "", 204


@endpoint(bp, "/<webhook_id>/rotate-secret", ("POST",), summary="Replace the signing secret (returned once)",
          scope="webhooks", responses={200: "webhook"})
@feature
def rotate_secret(webhook_id):
    """A new secret; the previous one keeps signing alongside it for 24 hours."""
    row, secret = endpoints.rotate(runtime(), endpoints.get(_workspace(), webhook_id))
    return jsonify(endpoints.serialize(row, runtime().clock.now(), secret))


@endpoint(bp, "/<webhook_id>/test", ("POST",), summary="Send a webhook.test event to the endpoint",
          scope="webhooks", responses={202: "webhook_delivery"})
@feature
def test_webhook(webhook_id):
    """Queue one signed ``webhook.test`` delivery (one attempt; see the delivery log for the result)."""
    row = endpoints.get(_workspace(), webhook_id)
    if not row.active:
        raise Conflict("This webhook is disabled; re-enable it (PATCH active: true) before testing it.")
    delivery = deliveries.test_delivery(row, runtime().clock.now())
    jobs.enqueue(runtime(), delivery)
    return jsonify(deliveries.serialize_delivery(delivery)), 202


@endpoint(bp, "/<webhook_id>/deliveries", ("GET",), summary="The endpoint's delivery attempts, newest first",
          scope="webhooks", query=LOG_QUERY, responses={200: "webhook_attempt_page"})
@feature
def endpoint_deliveries(webhook_id):
    """Each attempt: time, event, HTTP status, duration, the start of the response, the next attempt."""
    row = endpoints.get(_workspace(), webhook_id)
    return jsonify(_attempt_page(WebhookAttempt.endpoint == row.id))


@endpoint(bp, "/deliveries", ("GET",), summary="Recent delivery attempts to all of the workspace's webhooks",
          scope="webhooks", query=LOG_QUERY, responses={200: "webhook_attempt_page"})
@feature
def recent_deliveries():
    """The workspace-wide delivery log, newest first."""
    return jsonify(_attempt_page(WebhookAttempt.workspace == _workspace()))


@endpoint(bp, "/deliveries/<delivery_id>/redeliver", ("POST",),
          summary="Send a delivery again now (named by its dlv_ id or by an att_ id of the log)", scope="webhooks",
          responses={202: "webhook_delivery"})
@feature
def redeliver(delivery_id):
    """Re-send a delivery (failed, succeeded or still retrying) with the same webhook-id and body; named
    by its ``dlv_`` id or by the ``att_`` id of any of its attempts (as the delivery log lists them)."""
    row = deliveries.request_redelivery(runtime(), deliveries.get(_workspace(), delivery_id))
    jobs.enqueue(runtime(), row)
    return jsonify(deliveries.serialize_delivery(row)), 202


def _attempt_page(condition) -> dict:
    query = WebhookAttempt.select(WebhookAttempt, WebhookDelivery).join(WebhookDelivery).where(condition)
    success = request.args.get("success")
    if success:
        if success not in ("true", "false"):
            raise ValidationError("success must be true or false.", field="success")
        query = query.where(WebhookAttempt.success == (success == "true"))
    rows, next_cursor = listed(query, WebhookAttempt.id, limit=(20, 100), prefix=ATTEMPT_PREFIX)
    return {"deliveries": [deliveries.serialize_attempt(row, row.delivery) for row in rows], "next_cursor": next_cursor}
