"""The webhooks section of the Integrations page (``/app/integrations#webhooks``) and its forms: add an
endpoint, send a test, rotate the secret, pause or resume, delete, and redeliver a delivery from the
recent attempts. Each form calls what the ``/v1/webhooks`` route of the same name calls."""

from __future__ import annotations

from flask import Blueprint, g, render_template, request

from herald.sdk import Conflict, IntegrationSection, ValidationError
from herald.sdk.web import app_form, flash_secret, require_enabled, runtime

from . import deliveries, endpoints, jobs
from .models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

bp = Blueprint("webhook_pages", __name__, url_prefix="/app/integrations/webhooks", template_folder="templates")
RECENT = 5  # attempts shown under each endpoint
WHAT = "Outgoing webhooks are"


class WebhooksSection(IntegrationSection):
    """The workspace's endpoints, each with its recent deliveries."""

    name = "webhooks"
    title = "Outgoing webhooks"
    notices = {
        "created": "Webhook added. Copy its signing secret now: it is not shown again.",
        "tested": "Test event queued: its delivery appears below once sent (reload the page).",
        "rotated": "New signing secret made; the previous one keeps signing for 24 hours.",
        "paused": "Webhook paused: nothing is delivered to it until you resume it.",
        "resumed": "Webhook resumed.",
        "deleted": "Webhook deleted with its delivery log.",
        "redelivered": "Delivery queued again.",
    }

    def render(self, page) -> str:
        """The endpoints (oldest first) with their last attempts, and the forms the caller may send."""
        workspace_id = page.principal.workspace_id
        rows = WebhookEndpoint.select().where(WebhookEndpoint.workspace == workspace_id).order_by(WebhookEndpoint.id)
        hooks = []
        for row in rows:
            attempts = (WebhookAttempt.select(WebhookAttempt, WebhookDelivery).join(WebhookDelivery)
                        .where(WebhookAttempt.endpoint == row.id).order_by(WebhookAttempt.id.desc()).limit(RECENT))
            recent = [deliveries.serialize_attempt(attempt, attempt.delivery) for attempt in attempts]
            hooks.append({**endpoints.serialize(row, page.now), "attempts": recent})
        return render_template("webhooks/section.html", page=page, hooks=hooks,
                               event_types=runtime().registry.event_type_names())


SECTION = WebhooksSection()


def _endpoint(webhook_id: str) -> WebhookEndpoint:
    require_enabled("webhooks", WHAT)
    return endpoints.get(g.principal.workspace_id, webhook_id)


@app_form(bp, "", summary="Add a webhook endpoint (form; its secret is shown once)", scope="webhooks", errors=(400,))
def add_webhook():
    """Create an endpoint as ``POST /v1/webhooks`` does."""
    require_enabled("webhooks", WHAT)
    payload = {"url": request.form.get("url", "").strip(), "events": request.form.getlist("events")}
    if not payload["events"]:
        raise ValidationError("Choose at least one event to send.", field="events")
    runtime().schemas.validate("webhook_create", payload)
    _, secret = endpoints.create(runtime(), g.principal.workspace_id, payload)
    flash_secret("The webhook's signing secret", secret)
    return "webhooks.created"


@app_form(bp, "/<webhook_id>/test", summary="Send a webhook.test event (form)", scope="webhooks", errors=(409,))
def send_test(webhook_id):
    """Queue one signed ``webhook.test`` delivery as ``POST /v1/webhooks/<id>/test`` does."""
    row = _endpoint(webhook_id)
    if not row.active:
        raise Conflict("This webhook is paused or disabled; resume it before testing it.")
    jobs.enqueue(runtime(), deliveries.test_delivery(row, runtime().clock.now()))
    return "webhooks.tested"


@app_form(bp, "/<webhook_id>/rotate-secret", summary="Replace a webhook's signing secret (form; shown once)",
          scope="webhooks")
def rotate_secret(webhook_id):
    """A new secret as ``POST /v1/webhooks/<id>/rotate-secret`` makes; shown once on the page."""
    _, secret = endpoints.rotate(runtime(), _endpoint(webhook_id))
    flash_secret("The webhook's new signing secret", secret)
    return "webhooks.rotated"


@app_form(bp, "/<webhook_id>/active", summary="Pause or resume a webhook (form)", scope="webhooks", errors=(400,))
def set_active(webhook_id):
    """``active=false`` pauses, ``active=true`` resumes (as ``PATCH /v1/webhooks/<id>`` with ``active``)."""
    row = _endpoint(webhook_id)
    wanted = request.form.get("active", "")
    if wanted not in ("true", "false"):
        raise ValidationError("active must be true or false.", field="active")
    endpoints.update(runtime(), row, {"active": wanted == "true"})
    return "webhooks.resumed" if wanted == "true" else "webhooks.paused"


@app_form(bp, "/<webhook_id>/delete", summary="Delete a webhook and its delivery log (form)", scope="webhooks")
def delete_webhook(webhook_id):
    """Delete the endpoint as ``DELETE /v1/webhooks/<id>`` does."""
    row = _endpoint(webhook_id)
    WebhookEndpoint.delete().where(WebhookEndpoint.id == row.id).execute()
    return "webhooks.deleted"


@app_form(bp, "/deliveries/<delivery_id>/redeliver", summary="Send a delivery again now (form)", scope="webhooks",
          errors=(409,))
def redeliver(delivery_id):
    """Re-send the delivery as ``POST /v1/webhooks/deliveries/<id>/redeliver`` does."""
    require_enabled("webhooks", WHAT)
    row = deliveries.request_redelivery(runtime(), deliveries.get(g.principal.workspace_id, delivery_id))
    jobs.enqueue(runtime(), row)
    return "webhooks.redelivered"
