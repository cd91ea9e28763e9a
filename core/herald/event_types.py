"""The catalogue of event types: what :func:`herald.events.record` accepts and webhooks subscribe to.

The core's types are :data:`CORE_EVENT_TYPES`; plugins declare theirs with ``register_event_types``,
checked and added by :class:`herald.plugins.PluginRegistry`. Kept apart from :mod:`herald.events`
(which reads the database) so that the plugin registry can fill it.
"""

from __future__ import annotations

from .catalogue import Catalogue, EventType

__all__ = ["CORE_EVENT_TYPES", "EVENT_TYPES", "EventType", "event_types"]

CORE_EVENT_TYPES = (
    EventType("post.created", "A post was created (a draft, scheduled, or to publish now)."),
    EventType("post.updated", "A post changed: its content, schedule, accounts or media, or its status (cancelled, "
              "resolved, sent for approval)."),
    EventType("post.approved", "A post waiting for approval was approved, in the API or the client portal."),
    EventType("post.rejected", "A post waiting for approval was rejected, with the reason given."),
    EventType("approval.requested", "A post needs the workspace's approval before it can be published."),
    EventType("publish.completed", "A post was published on one account (`data.resolved_by` when a user "
              "resolved an unconfirmed task)."),
    EventType("publish.failed", "A post could not be published on one account: `data.task.status` is `failed`, "
              "or `unconfirmed` when the post may be live (check it)."),
    EventType("publish.comment_completed", "A post's first comment was posted (`data.task.first_comment`)."),
    EventType("publish.comment_failed", "A post's first comment failed or is unconfirmed "
              "(`data.task.first_comment`)."),
    EventType("engagement.updated", "New engagement figures were recorded for a post."),
    EventType("post.commented", "Someone commented on a post, a client in the portal or the agency."),
    EventType("account.token_expiring", "The token health check (every 6 hours) found an account's token "
              "within 7 days of expiring: `data.account`, `data.days_left`; once per token."),
    EventType("account.needs_reconnect", "An active account's token stopped working, found by the health check "
              "or by a publish: `data.account.status` and `status_reason` say why."),
    EventType("account.token_refreshed", "Herald refreshed an account's token before it ran out (health check "
              "or `herald accounts refresh`): `data.account.token_expires_at` is the new expiry."),
)

#: Every event type of this process: the core's, then each loaded plugin's.
EVENT_TYPES: Catalogue[EventType] = Catalogue("event type", CORE_EVENT_TYPES)


def event_types() -> dict[str, dict]:
    """Every catalogued event type: ``{name: {"meaning", "plugin"}}``, the core's first."""
    return {entry.name: {"meaning": entry.meaning, "plugin": entry.plugin} for entry in EVENT_TYPES.entries()}
