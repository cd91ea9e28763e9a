"""``/v1/clients/{client_id}/slots``: a client's weekly posting slots, and the coming ones with their posts
(see :mod:`herald.publishing.slots`; a post takes the next free one with ``"schedule": "next_slot"``)."""

import datetime as dt

from flask import Blueprint, g, jsonify, request

from ...db.models import Client, isoformat
from ...errors import ValidationError
from ...publishing import schedule, slots
from ...publishing.posts import get_client
from . import endpoint, int_arg, int_query, runtime

bp = Blueprint("slots", __name__, url_prefix="/v1/clients")

DEFAULT_DAYS, MAX_DAYS = 14, 92


def _weekly(client: Client) -> dict:
    return {"client_id": client.id, "timezone": slots.client_zone(client).key,
            "slots": [slots.serialize_slot(row) for row in slots.weekly(client.id)]}


def _from_arg(client: Client) -> dt.datetime:
    """The ``from`` query parameter as naive UTC (now when absent); a time without an offset is read in the
    client's time zone."""
    raw = request.args.get("from", "").strip()
    if not raw:
        return runtime().clock.now()
    try:
        moment = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise ValidationError(f"from must be an ISO-8601 time such as 2026-06-01T00:00:00Z; got {raw!r}.",
                              field="from") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=slots.client_zone(client))
    at = schedule.to_utc(moment, "from")
    if at.year < 2 or at.year > 9998:  # room for the window on either side
        raise ValidationError("from is too far in the past or the future.", field="from")
    return at


@endpoint(bp, "/<int:client_id>/slots", ("PUT",), summary="Set a client's weekly posting slots (the whole plan)",
          scope="posts:write", body="client_slots", responses={200: "client_slots"})
def put_slots(client_id, payload):
    """Replace the client's weekly slots; posts already scheduled keep their times."""
    client = get_client(g.principal.workspace_id, client_id, field=None)
    slots.replace(g.principal.workspace_id, client, payload["slots"], runtime().clock.now())
    return jsonify(_weekly(client))


@endpoint(bp, "/<int:client_id>/slots", ("GET",), scope="posts:read",
          summary="A client's weekly posting slots, and the coming ones with the post that takes each",
          query=(("from", {"type": "string", "format": "date-time"},
                  "start (ISO 8601; without an offset, in the client's time zone); default now"),
                 int_query("days", DEFAULT_DAYS, 1, MAX_DAYS, f"how many days from ``from`` to show, 1-{MAX_DAYS}, "
                                                          f"default {DEFAULT_DAYS}")),
          responses={200: "client_slot_calendar"})
def get_slots(client_id):
    """The weekly slots, and each instant from ``from`` for ``days`` days (UTC and local) with its post or null."""
    client = get_client(g.principal.workspace_id, client_id, field=None)
    start = _from_arg(client)
    end = start + dt.timedelta(days=int_arg("days", DEFAULT_DAYS, 1, MAX_DAYS))
    return jsonify({**_weekly(client), "from": isoformat(start), "until": isoformat(end),
                    "upcoming": slots.upcoming(client, start, end)})
