"""``herald webhooks``: webhook endpoints for operators, on the data ``/v1/webhooks`` serves.

``list`` shows every endpoint (every workspace's, or one's); ``test`` sends the ``webhook.test`` event
the API's test action sends, and makes its attempt now, in the console, to show the answer;
``deliveries`` prints an endpoint's delivery log, newest first.
"""

from __future__ import annotations

import json

import click

from herald.sdk import NotFound, work
from herald.sdk.console import command, command_runtime, progress
from herald.sdk.storage import isoformat

from . import deliveries, endpoints
from .models import ENDPOINT_PREFIX, KIND_NAME, WebhookAttempt, WebhookDelivery, WebhookEndpoint


@click.group("webhooks")
def webhooks():
    """Outgoing webhook endpoints: list them, send a test event, read their delivery log."""


def _endpoint(ref: str) -> WebhookEndpoint:
    """The endpoint ``wh_12`` of any workspace; a clear error otherwise."""
    try:
        number = endpoints.parse_id(ref, ENDPOINT_PREFIX, "webhook")
    except NotFound:
        number = None
    row = WebhookEndpoint.get_or_none(WebhookEndpoint.id == number) if number is not None else None
    if row is None:
        raise click.ClickException(f"No webhook endpoint {ref!r} (its id looks like {ENDPOINT_PREFIX}12).")
    return row


@command(webhooks, "list")
@click.option("--workspace", type=int, help="Only this workspace's endpoints (its id).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON, one object per endpoint.")
def webhooks_list(workspace, as_json):
    """Every webhook endpoint: id, workspace, URL, events, and whether it is active or why it is not."""
    now = command_runtime().clock.now()
    query = WebhookEndpoint.select().order_by(WebhookEndpoint.id)
    if workspace is not None:
        query = query.where(WebhookEndpoint.workspace == workspace)
    rows = list(query)
    for row in rows:
        data = endpoints.serialize(row, now)
        if as_json:
            click.echo(json.dumps({**data, "workspace_id": row.workspace_id}))
            continue
        state = "active" if row.active else f"disabled: {row.disabled_reason or 'by a user'}"
        failing = f"  failing since {data['failing_since']}" if data["failing_since"] else ""
        events = ",".join(data["events"]) or "every event"
        click.echo(f"{data['id']}  workspace {row.workspace_id}  {row.url}  {events}  {state}{failing}")
    if not rows and not as_json:
        click.echo("No webhook endpoints.")


@command(webhooks, "test")
@click.argument("endpoint_id")
@click.option("--queue", "queue_only", is_flag=True, help="Only queue the test delivery (a worker sends it).")
def webhooks_test(endpoint_id, queue_only):
    """Send a signed webhook.test event to ENDPOINT_ID (as POST /v1/webhooks/ID/test does) and show the answer.

    Exits 1 when the endpoint did not accept it.
    """
    runtime = command_runtime()
    endpoint = _endpoint(endpoint_id)
    if not endpoint.active:
        raise click.ClickException("This webhook is disabled; re-enable it (PATCH active: true) before testing it.")
    delivery = deliveries.test_delivery(endpoint, runtime.clock.now())
    label = f"{deliveries.serialize_delivery(delivery)['id']} webhook.test to {endpoint.url}"
    if queue_only:
        work.enqueue(runtime, work.kind(runtime, KIND_NAME), delivery)
        progress(f"{label}: queued; `herald webhooks deliveries {endpoint_id}` shows the attempt.")
        return
    progress(f"{label}: sending…")
    work.perform(runtime, KIND_NAME, delivery.id, delivery.step)
    delivery = WebhookDelivery.get_by_id(delivery.id)
    attempt = (WebhookAttempt.select().where(WebhookAttempt.delivery == delivery.id)
               .order_by(WebhookAttempt.id.desc()).first())
    if attempt is None:  # the endpoint's in-flight limit held it back: a worker sends it
        progress(f"{label}: queued behind other deliveries to this endpoint ({delivery.status}).")
        return
    answer = f"HTTP {attempt.status_code}" if attempt.status_code else (attempt.error or "no answer")
    progress(f"{label}: {'delivered' if attempt.success else 'failed'}, {answer} in {attempt.duration_ms} ms")
    if not attempt.success:
        raise SystemExit(1)


@command(webhooks, "deliveries")
@click.argument("endpoint_id")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True, help="Attempts to show.")
@click.option("--failed", "failed_only", is_flag=True, help="Only failed attempts.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON, one object per attempt.")
def webhooks_deliveries(endpoint_id, limit, failed_only, as_json):
    """ENDPOINT_ID's delivery attempts, newest first: time, event, attempt, HTTP status, duration, error."""
    endpoint = _endpoint(endpoint_id)
    query = (WebhookAttempt.select(WebhookAttempt, WebhookDelivery).join(WebhookDelivery)
             .where(WebhookAttempt.endpoint == endpoint.id).order_by(WebhookAttempt.id.desc()).limit(limit))
    if failed_only:
        query = query.where(WebhookAttempt.success == False)  # noqa: E712 (a SQL comparison)
    rows = list(query)
    for row in rows:
        data = deliveries.serialize_attempt(row, row.delivery)
        if as_json:
            click.echo(json.dumps(data))
            continue
        outcome = "ok" if row.success else f"failed: {row.error or 'HTTP ' + str(row.status_code)}"
        retry = f"  next attempt {isoformat(row.next_attempt_at)}" if row.next_attempt_at else ""
        click.echo(f"{data['id']}  {data['attempted_at']}  {data['event']}  {data['delivery_id']} #{row.number}  "
                   f"{row.status_code or '-'}  {row.duration_ms} ms  {outcome}{retry}")
    if not rows and not as_json:
        click.echo("No delivery attempts.")
