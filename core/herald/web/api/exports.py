"""Exports: the posts CSV, the daily analytics CSV, a client's JSON export and the GDPR archive.

The big ones are streamed: the response body is produced while it is sent, a batch of rows at a
time, so an export of any size needs the memory of one batch. Above ``HERALD_EXPORT_SYNC_LIMIT``
posts (or with ``?job=true``) the posts CSV, the client export and the archive run as a background
job instead (:mod:`herald.exports.jobs`): 202 with the job and its ``Location``; the finished job's
result holds a signed, expiring ``download_url`` (``GET /api/exports/<token>``).
"""

import datetime as dt

from flask import Blueprint, Response, g, request, send_file, stream_with_context

from ...db.models import BackgroundJob, Workspace
from ...errors import NotFound, ValidationError
from ...exports import archive, links, post_exports
from ...exports import jobs as export_jobs
from ...exports.csvsafe import csv_batches, csv_lines
from ...intelligence import daily_analytics
from ...media.configured import media_store
from ...publishing import publish as publishing
from ...publishing.posts import get_client
from . import client_arg, endpoint, id_query, int_arg, int_query, runtime
from .background_jobs import started_job
from .clients import serialize_client

bp = Blueprint("exports", __name__)


def _download(body, mimetype: str, filename: str) -> Response:
    response = Response(stream_with_context(body), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y%m%d-%H%M%S")


JOB_QUERY = ("job", {"type": "string", "enum": ["true", "false"], "default": "false"},
             "true: run the export as a background job (202) whatever its size; above HERALD_EXPORT_SYNC_LIMIT "
             "posts it always is one")


def _as_job(client_id: int | None = None) -> bool:
    """Whether this export runs as a job: asked for with ``?job=true``, or more posts than the limit."""
    asked = request.args.get("job", "")
    if asked not in ("", "true", "false"):
        raise ValidationError("job must be true or false.", field="job")
    if asked == "true":
        return True
    limit = runtime().config.export_sync_limit
    return post_exports.count_posts(g.principal.workspace_id, client_id) > limit



@endpoint(bp, "/api/export/posts", ("GET",), summary="Download posts as CSV (streamed; a job when large)",
          scope="posts:read", response_type="text/csv", responses={200: None, 202: "job"},
          query=(id_query("client_id", "only this client's posts (default: every client)"), JOB_QUERY))
def export_posts():
    """Every post with its latest engagement; cells a spreadsheet would run as formulas are neutralised."""
    client = client_arg()
    if _as_job(client.id if client else None):
        return started_job(export_jobs.POSTS_CSV, client_id=client.id if client else None)
    batches = post_exports.post_csv_batches(g.principal.workspace_id, client.id if client else None)
    suffix = f"-client-{client.id}" if client else ""
    return _download(csv_batches(post_exports.POST_COLUMNS, batches), "text/csv",
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
          scope="posts:read", responses={200: "client_export", 202: "job"}, query=(JOB_QUERY,))
def export_client(client_id):
    """The client, every post of it (with versions, engagement history, tasks) and the accounts used; no tokens."""
    client = get_client(g.principal.workspace_id, client_id, field=None)
    if _as_job(client.id):
        return started_job(export_jobs.CLIENT_EXPORT, client_id=client.id, client_shape=serialize_client(client))
    now = runtime().clock.now()
    body = post_exports.client_export(g.principal.workspace_id, client, serialize_client(client), now)
    return _download(body, "application/json", f"herald-client-{client.id}-{_stamp(now)}.json")


@endpoint(bp, "/api/account/export", ("GET",),
          summary="GDPR export: everything the workspace holds, as a zip (a job when large)",
          scope="admin", response_type="application/zip", responses={200: None, 202: "job"}, query=(JOB_QUERY,))
def export_account():
    """Every table's rows of this workspace (secrets redacted), a manifest, and the uploaded files."""
    if _as_job():
        return started_job(export_jobs.ACCOUNT_EXPORT)
    now = runtime().clock.now()
    body = archive.archive_chunks(g.principal.workspace_id, media_store(runtime().config), now)
    return _download(body, "application/zip", f"herald-account-{g.principal.workspace_id}-{_stamp(now)}.zip")


@endpoint(bp, "/api/exports/<token>", ("GET",), summary="Download a finished export job's file (signed, expiring link)",
          response_type=("application/zip", "text/csv", "application/json"), responses={200: "client_export"})
def download_export(token: str):
    """The file of the export job the signed token names, to the workspace that started it, until the link
    expires (the job's ``result.expires_at``); 404 for a forged, expired or other workspace's link, or a job
    that has not finished. The caller needs the scope the export needed (``admin`` for the archive)."""
    grant = links.resolve(runtime().config.resolved_secret_key(), token, runtime().clock.now())
    job = None
    if grant is not None and grant.workspace_id == g.principal.workspace_id:
        job = BackgroundJob.get_or_none((BackgroundJob.id == grant.job_id)
                                        & (BackgroundJob.workspace == g.principal.workspace_id))
    if job is None or job.kind not in export_jobs.FILES or job.status != "succeeded":
        raise NotFound("This download link is invalid or has expired; start the export again.")
    g.principal.require(export_jobs.FILES[job.kind][2])
    path = export_jobs.file_path(runtime(), job.id, job.kind)
    if not path.is_file():
        raise NotFound("This export's file is no longer stored; start the export again.")
    response = send_file(path, mimetype=export_jobs.FILES[job.kind][1], as_attachment=True,
                         download_name=export_jobs.download_name(job), conditional=True, max_age=0)
    response.headers["Cache-Control"] = "no-store"
    return response
