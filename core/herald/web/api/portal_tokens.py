"""``/api/client-portal``: links that give an agency's client a no-login portal page (``/portal/<token>``)."""

from flask import Blueprint, g, jsonify, request

from ...db.models import PortalToken
from ...portal import links as portal
from . import client_arg, endpoint, id_query, paging, runtime

bp = Blueprint("portal_tokens", __name__, url_prefix="/api/client-portal")


def portal_url(token: str) -> str:
    """The page's address: under ``HERALD_PUBLIC_URL`` when set, else under the host the request came to."""
    base = runtime().config.public_url or request.host_url
    return f"{base.rstrip('/')}/portal/{token}"


@endpoint(bp, "/create-token", ("POST",), summary="Create a client portal link (the URL is shown once)",
          scope="posts:write", body="portal_token_create", responses={201: "portal_link"})
def create_token(payload):
    """A new link for one client; ``approve`` links need the right to approve (``publish``, or admin/owner)."""
    now = runtime().clock.now()
    row, token = portal.create_link(g.principal, payload, now)
    return jsonify(portal.serialize_link(row, now, url=portal_url(token))), 201


@endpoint(bp, "/tokens", ("GET",), summary="List client portal links (never their tokens)", scope="posts:read",
          query=(id_query("client_id", "only this client's links"), paging.paged_on_request_query(200),
                 paging.cursor_query()), responses={200: "portal_link_list"})
def list_tokens():
    """The workspace's links, newest first, with their status (active, expired, revoked); page with ``cursor``."""
    query = PortalToken.select().where(PortalToken.workspace == g.principal.workspace_id)
    client = client_arg()
    if client is not None:
        query = query.where(PortalToken.client == client.id)
    rows, next_cursor = paging.listed(query, PortalToken.id, limit=(None, 200))
    now = runtime().clock.now()
    return jsonify({"tokens": [portal.serialize_link(row, now) for row in rows], "next_cursor": next_cursor})


@endpoint(bp, "/tokens/<int:token_id>", ("DELETE",), summary="Revoke a client portal link", scope="posts:write",
          responses={200: "portal_link"})
def revoke_token(token_id):
    """The link answers "this link has expired" from now on."""
    now = runtime().clock.now()
    return jsonify(portal.serialize_link(portal.revoke_link(g.principal.workspace_id, token_id, now), now))
