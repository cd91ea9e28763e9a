"""``/api/clients``: the agency's clients (the seeds' ``client_id``)."""

import functools
import zoneinfo

from flask import Blueprint, g, jsonify

from ...db.models import Client, isoformat
from ...db.paging import exact_total
from ...errors import ValidationError
from ...publishing.posts import get_client
from . import endpoint, int_query, paging, runtime

bp = Blueprint("clients", __name__, url_prefix="/api/clients")


# Files in the zone directory that are not places: ``localtime`` is the server's own zone (another
# server reads it differently, and the tzdata package has no such name), ``Factory`` means "unset".
NOT_PLACES = frozenset({"localtime", "Factory"})


@functools.cache
def known_zones() -> frozenset[str]:
    """The IANA zone names this system knows (its zone files, or the tzdata package), read once."""
    return frozenset(zoneinfo.available_timezones()) - NOT_PLACES


def check_timezone(name: str) -> str:
    """``name`` if it is an IANA time zone; 400 naming ``timezone`` otherwise.

    Only the names the zone database lists: ZoneInfo also opens files such as ``posixrules`` or
    ``right/UTC`` (leap seconds), which are not zones a client lives in."""
    if name not in known_zones():
        raise ValidationError(f"Unknown time zone {name!r}; use an IANA name such as Europe/Berlin.",
                              field="timezone")
    return name


def serialize_client(client: Client) -> dict:
    """The JSON shape of a client."""
    return {"id": client.id, "name": client.name, "brand_voice": client.brand_voice, "timezone": client.timezone,
            "created_at": isoformat(client.created_at), "updated_at": isoformat(client.updated_at)}


@endpoint(bp, "", ("POST",), summary="Create a client", scope="posts:write", body="client_create",
          responses={201: "client_answer"})
def create_client(payload):
    """Create a client in the caller's workspace."""
    client = Client.create(workspace=g.principal.workspace_id, name=payload["name"].strip(),
                           brand_voice=payload.get("brand_voice", ""),
                           timezone=check_timezone(payload.get("timezone", "UTC")))
    return jsonify({"client": serialize_client(client)}), 201


@endpoint(bp, "", ("GET",), summary="List clients", scope="posts:read",
          query=(int_query("limit", 50, 1, 200), paging.cursor_query(), paging.offset_query()),
          responses={200: "client_list"})
def list_clients():
    """The workspace's clients, oldest first; ``total`` is an exact count (clients are few: it reads the
    workspace's index). Page with ``cursor`` (or ``offset``, up to 10,000)."""
    query = Client.select().where((Client.workspace == g.principal.workspace_id) & Client.deleted_at.is_null())
    rows, next_cursor = paging.listed(query, Client.id, limit=(50, 200), descending=False, skip="offset")
    return jsonify({"clients": [serialize_client(c) for c in rows], "total": exact_total(query),
                    "next_cursor": next_cursor})


@endpoint(bp, "/<int:client_id>", ("GET",), summary="Get a client", scope="posts:read",
          responses={200: "client_answer"})
def get_one(client_id):
    """One client of the workspace."""
    return jsonify({"client": serialize_client(get_client(g.principal.workspace_id, client_id, field=None))})


@endpoint(bp, "/<int:client_id>", ("PATCH",), summary="Update a client", scope="posts:write",
          body="client_update", responses={200: "client_answer"})
def update_client(client_id, payload):
    """Change a client's name, brand voice or time zone."""
    client = get_client(g.principal.workspace_id, client_id, field=None)
    if "name" in payload:
        client.name = payload["name"].strip()
    if "brand_voice" in payload:
        client.brand_voice = payload["brand_voice"]
    if "timezone" in payload:
        client.timezone = check_timezone(payload["timezone"])
    client.updated_at = runtime().clock.now()
    client.save()
    return jsonify({"client": serialize_client(client)})


@endpoint(bp, "/<int:client_id>", ("DELETE",), summary="Archive a client (its posts are kept)", scope="admin",
          responses={200: "success"})
def delete_client(client_id):
    """Archive a client: it disappears from the API, its posts and history stay in the database."""
    client = get_client(g.principal.workspace_id, client_id, field=None)
    client.deleted_at = runtime().clock.now()
    client.save()
    return jsonify({"success": True})
