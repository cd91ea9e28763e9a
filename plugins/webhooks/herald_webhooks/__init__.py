"""Signed outgoing webhooks for Herald (Standard Webhooks).

This release registers the HTTP sink; endpoints, signing and delivery arrive with the webhooks
feature.
"""

from herald import hookimpl


class HttpSink:
    """Delivers events to the workspace's HTTPS endpoints, signed with Standard Webhooks."""

    name = "http"

    def deliver(self, event):
        """Deliver ``event`` to subscribed endpoints (not implemented yet)."""
        raise NotImplementedError("Outgoing webhook delivery is not implemented yet in herald-webhooks 0.1.")


@hookimpl
def register_webhook_sinks(register):
    """Provide the ``http`` webhook sink."""
    register(HttpSink())
