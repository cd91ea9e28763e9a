"""Exports: the posts CSV, the daily analytics CSV, a client's JSON export and the GDPR archive.

The big ones are streamed: the response body is produced while it is sent, a batch of rows at a
time, so an export of any size needs the memory of one batch.
"""

import datetime as dt

from flask import Blueprint, Response, g, stream_with_context

from ...db.models import Workspace
from ...exports import archive, post_exports
from ...exports.csvsafe import csv_lines
from ...intelligence import daily_analytics
from ...media.configured import media_store
from ...publishing import publish as publishing
from ...publishing.posts import get_client
from . import client_arg, endpoint, id_query, int_arg, int_query, runtime
from .clients import serialize_client

bp = Blueprint("exports", __name__)


def _download(body, mimetype: str, filename: str) -> Response:
    response = Response(stream_with_context(body), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y%m%d-%H%M%S")


@endpoint(bp, "/api/export/posts", ("GET",), summary="Download posts as CSV (streamed)", scope="posts:read",
          response_type="text/csv",
          query=(id_query("client_id", "only this client's posts (default: every client)"),))
def export_posts():
    """Every post with its latest engagement; cells a spreadsheet would run as formulas are neutralised."""
    client = client_arg()
    rows = post_exports.post_csv_rows(g.principal.workspace_id, client.id if client else None)
    suffix = f"-client-{client.id}" if client else ""
    return _download(csv_lines(post_exports.POST_COLUMNS, rows), "text/csv",
                     f"herald-posts{suffix}-{_stamp(runtime().clock.now())}.csv")


@endpoint(bp, "/api/analytics/export", ("GET",), summary="Download daily analytics as CSV", scope="posts:read",
          response_type="text/csv",
          query=(int_query("period", 30, 1, 365, "days, 1-365, default 30"),
                 id_query("client_id", "only this client (default: the whole workspace)")))
def export_analytics():
    """One row per day of the period (today included), zeros on quiet days."""
    period = int_arg("period", 30, 1, 365)
    client = client_arg()
    workspace = Workspace.get_by_id(g.principal.workspace_id)
    timezone = publishing.default_zone(workspace, client)
    now = runtime().clock.now()
    days = daily_analytics.daily(workspace.id, period, client_id=client.id if client else None, timezone=timezone,
                                 now=now)
    suffix = f"-client-{client.id}" if client else ""
    response = _download(csv_lines(daily_analytics.COLUMNS, (day.row() for day in days)), "text/csv",
                         f"herald-analytics{suffix}-{period}d-{_stamp(now)}.csv")
    response.headers["X-Herald-Timezone"] = timezone
    return response


@endpoint(bp, "/api/clients/<int:client_id>/export", ("GET",),
          summary="A client's data as JSON: posts with versions, engagement history and publish tasks",
          scope="posts:read", responses={200: "client_export"})
def export_client(client_id):
    """The client, every post of it (with versions, engagement history, tasks) and the accounts used; no tokens."""
    client = get_client(g.principal.workspace_id, client_id, field=None)
    now = runtime().clock.now()
    body = post_exports.client_export(g.principal.workspace_id, client, serialize_client(client), now)
    return _download(body, "application/json", f"herald-client-{client.id}-{_stamp(now)}.json")


@endpoint(bp, "/api/account/export", ("GET",), summary="GDPR export: everything the workspace holds, as a zip",
          scope="admin", response_type="application/zip")
def export_account():
    """Every table's rows of this workspace (secrets redacted), a manifest, and the uploaded files."""
    now = runtime().clock.now()
    body = archive.archive_chunks(g.principal.workspace_id, media_store(runtime().config), now)
    return _download(body, "application/zip", f"herald-account-{g.principal.workspace_id}-{_stamp(now)}.zip")
