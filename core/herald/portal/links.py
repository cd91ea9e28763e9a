"""Client portal links: ``/portal/<token>`` shows one client's posts to people without an account.

A link holds a random token (32 bytes, URL-safe) that is shown once and stored only as its
SHA-256 digest, like API keys. Each link has a permission: ``view``; ``comment`` (view and
comment); ``approve`` (view, comment, approve and reject). Links expire (30 days by default,
365 at most) and can be revoked.
"""

from __future__ import annotations

import datetime as dt
import secrets

from .. import events
from ..auth import Principal, csrf_matches, csrf_value, digest
from ..db.models import Client, PortalToken, Post, PostComment, isoformat, write_transaction
from ..errors import NotFound, ValidationError
from ..publishing import comments
from ..publishing.approvals import apply_review, require_approver
from ..publishing.posts import get_client
from ..publishing.schedule import to_utc
from ..runtime import Runtime

PERMISSIONS = ("view", "comment", "approve")
DEFAULT_DAYS = 30
MAX_DAYS = 365
TOKEN_BYTES = 32
PORTAL_CSRF = "portal-csrf"  # the purpose of a link's CSRF value, so it is never a session's
# What each permission allows, beyond viewing.
CAN_COMMENT = frozenset({"comment", "approve"})
CAN_APPROVE = frozenset({"approve"})


class LinkExpired(Exception):
    """The link was revoked, has expired, or its client was archived (the page answers 410)."""


class LinkUnknown(Exception):
    """No link has this token (the page answers 404)."""


def expiry(payload: dict, now: dt.datetime) -> dt.datetime:
    """When a new link expires: ``expires_in_days`` or ``expires_at`` (not both), default 30 days, 365 at most."""
    if "expires_in_days" in payload and "expires_at" in payload:
        raise ValidationError("Give expires_in_days or expires_at, not both.", field="expires_at")
    if "expires_at" in payload:
        text = payload["expires_at"].strip()
        try:
            when = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValidationError("expires_at must be an ISO-8601 time such as 2026-07-01T12:00:00Z.",
                                  field="expires_at") from None
        if when.tzinfo is None:
            raise ValidationError("expires_at needs a time zone offset (e.g. Z for UTC).", field="expires_at")
        when = to_utc(when, "expires_at")
        if when <= now:
            raise ValidationError("expires_at is in the past.", field="expires_at")
        if when > now + dt.timedelta(days=MAX_DAYS):
            raise ValidationError(f"expires_at may be at most {MAX_DAYS} days ahead.", field="expires_at")
        return when
    return now + dt.timedelta(days=payload.get("expires_in_days", DEFAULT_DAYS))


def create_link(principal: Principal, payload: dict, now: dt.datetime) -> tuple[PortalToken, str]:
    """Create a link for the workspace's client at ``now`` (the runtime's clock); returns the row and
    the token (shown once, never stored).

    An ``approve`` link lets its holder approve posts, so creating one needs what approving needs.
    """
    client = get_client(principal.workspace_id, payload["client_id"])
    permissions = payload["permissions"]
    if permissions in CAN_APPROVE:
        require_approver(principal)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    row = PortalToken.create(workspace=principal.workspace_id, client=client, name=payload.get("name", "").strip(),
                             digest=digest(token), display=token[-4:], permissions=permissions, created_at=now,
                             expires_at=expiry(payload, now))
    return row, token


def get_link(workspace_id: int, link_id: int) -> PortalToken:
    """The workspace's link ``link_id``; 404 otherwise (another workspace's link is not found)."""
    row = PortalToken.get_or_none((PortalToken.id == link_id) & (PortalToken.workspace == workspace_id))
    if row is None:
        raise NotFound(f"No portal link {link_id} in this workspace.")
    return row


def revoke_link(workspace_id: int, link_id: int, now: dt.datetime) -> PortalToken:
    """Revoke a link at ``now``; it answers "this link has expired" from then on. Revoking twice is harmless."""
    row = get_link(workspace_id, link_id)
    if row.revoked_at is None:
        row.revoked_at = now
        row.save(only=[PortalToken.revoked_at])
    return row


def link_status(row: PortalToken, now: dt.datetime) -> str:
    """``active``, ``expired`` or ``revoked`` at ``now`` (the runtime's clock)."""
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at <= now:
        return "expired"
    return "active"


def resolve(token: str, now: dt.datetime) -> PortalToken:
    """The link for ``token`` active at ``now``; :class:`LinkUnknown` or :class:`LinkExpired` otherwise."""
    row = (PortalToken.select(PortalToken, Client).join(Client)
           .where(PortalToken.digest == digest(token)).first())
    if row is None:
        raise LinkUnknown()
    if link_status(row, now) != "active" or row.client.deleted_at is not None:
        raise LinkExpired()
    return row


def touch(row: PortalToken, now: dt.datetime) -> None:
    """Record that the link was used at ``now`` (at most once a minute, so page views do not all write)."""
    if row.last_used_at is None or now - row.last_used_at > dt.timedelta(minutes=1):
        PortalToken.update(last_used_at=now).where(PortalToken.id == row.id).execute()


def label(row: PortalToken) -> str:
    """Who acted, for edit history and events: ``portal:<name> (#id)`` or ``portal:#id``."""
    return f"portal:{row.name} (#{row.id})" if row.name else f"portal:#{row.id}"


def principal(row: PortalToken) -> Principal:
    """The caller a link acts as: the workspace, and ``publish`` only when the link may approve."""
    scopes = frozenset({"publish"}) if row.permissions in CAN_APPROVE else frozenset()
    return Principal(workspace_id=row.workspace_id, kind="portal", scopes=scopes, label=label(row))


def reject(runtime: Runtime, row: PortalToken, post: Post, author: str, reason: str) -> PostComment:
    """Reject ``post`` from the portal, keeping ``reason`` as a rejection comment: both or neither.

    The reason is cleaned as comments are (400 :class:`comments.EmptyBody` or :class:`comments.BodyTooLong`
    naming ``reason``); 409 when the post is no longer waiting for approval. ``post.rejected`` (carrying
    the reason) is dispatched after the commit.
    """
    reason = comments.clean_body(reason, field="reason")
    with events.collecting() as recorded, write_transaction():
        post = apply_review(runtime, principal(row), post, False, reason)
        comment = comments.insert_comment(post, author, reason, runtime.clock.now(), row.id, kind=comments.REJECTION)
    events.dispatch(runtime.pm, recorded)
    return comment


def csrf_token(secret_key: str, token: str) -> str:
    """The value portal forms must send back: bound to the link's token (:func:`herald.auth.csrf_value`)."""
    return csrf_value(secret_key, PORTAL_CSRF, token)


def check_csrf(secret_key: str, token: str, sent: str) -> bool:
    """Whether ``sent`` is the link's CSRF value (constant-time)."""
    return csrf_matches(secret_key, PORTAL_CSRF, token, sent)


def serialize_link(row: PortalToken, now: dt.datetime, url: str | None = None) -> dict:
    """The JSON shape of a link, its status at ``now``; ``url`` (with the token) only when it was just created."""
    data = {"id": row.id, "client_id": row.client_id, "name": row.name, "permissions": row.permissions,
            "display": f"…{row.display}", "status": link_status(row, now), "created_at": isoformat(row.created_at),
            "expires_at": isoformat(row.expires_at), "revoked_at": isoformat(row.revoked_at),
            "last_used_at": isoformat(row.last_used_at)}
    if url is not None:
        data["url"] = url
    return data
