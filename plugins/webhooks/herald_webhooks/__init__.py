"""Signed outgoing webhooks for Herald (Standard Webhooks).

The plugin registers the ``http`` webhook sink (every committed event becomes one delivery job per
subscribed endpoint), the ``/v1/webhooks`` routes, its own tables (migrations) and the event type
``webhook.disabled``. Deliveries are signed with the ``standardwebhooks`` package, retried on the
Svix schedule and logged per attempt; they run as the ``webhook_delivery`` work kind
(:mod:`herald.work`), which the kernel claims, retries and reconciles.
"""

from __future__ import annotations

from pathlib import Path

from herald.sdk import Runtime, WebhookSink, hookimpl

from . import api, console, endpoints, jobs, pages

MIGRATIONS = Path(__file__).parent / "migrations"


class HttpSink(WebhookSink):
    """Delivers events to the workspace's HTTP(S) endpoints, signed with Standard Webhooks."""

    name = "http"

    def deliver(self, event, runtime: Runtime):
        """Create a delivery for each subscribed endpoint and enqueue its first attempt."""
        jobs.fan_out(runtime, event)


@hookimpl
def register_webhook_sinks(register):
    """Provide the ``http`` webhook sink."""
    register(HttpSink())


@hookimpl
def register_work_kinds(register):
    """Provide the ``webhook_delivery`` work kind (one attempt of a delivery per job)."""
    register(jobs.KIND)


@hookimpl
def register_event_types(register):
    """Declare ``webhook.disabled``, recorded when an endpoint of the workspace is disabled."""
    register(endpoints.DISABLED_EVENT, "An endpoint of the workspace was disabled (410 Gone, or 5 days of "
             "failures): `data.webhook` says which and why; subscribe an operations endpoint to it.")


@hookimpl
def register_blueprints(register):
    """Provide the ``/v1/webhooks`` routes and the forms of the Integrations page's section."""
    register(api.bp)
    register(pages.bp)


@hookimpl
def register_integration_sections(register):
    """Provide the webhooks section of the Integrations page (endpoints, recent deliveries, their forms)."""
    register(pages.SECTION)


@hookimpl
def register_migrations(register):
    """Provide the tables for endpoints, deliveries and attempts."""
    register("webhooks", MIGRATIONS)


@hookimpl
def register_commands(cli):
    """Provide ``herald webhooks list|test|deliveries``."""
    cli.add_command(console.webhooks)
