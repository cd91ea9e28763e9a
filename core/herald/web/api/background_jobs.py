"""``GET /api/jobs/<id>``: the status, progress and result of a background job."""

from flask import Blueprint, g, jsonify

from ...ai import background
from ...exports import jobs as export_jobs
from . import endpoint, runtime

bp = Blueprint("background_jobs", __name__, url_prefix="/api/jobs")


def started_job(kind: str, **params):
    """Start a background job of ``kind`` for the caller's workspace; the 202 answer with the job and its
    ``Location`` (``GET /api/jobs/<id>``) that every endpoint starting one gives."""
    job = background.start(runtime(), g.principal.workspace_id, kind, **params)
    response = jsonify({"job": background.serialize(job)})
    response.status_code = 202
    response.headers["Location"] = f"/api/jobs/{job.id}"
    return response


@endpoint(bp, "/<job_id>", ("GET",), summary="A background job's status, progress, result or error",
          responses={200: "job"})
def get_job(job_id):
    """queued, running (with ``progress`` for exports), succeeded (with ``result``) or failed (with ``error``).
    An export's job needs the scope its export needs (``admin`` for the archive, ``posts:read`` for the
    others); every other job the ``intelligence`` scope."""
    job = background.get_job(g.principal.workspace_id, job_id)
    g.principal.require(export_jobs.FILES[job.kind][2] if job.kind in export_jobs.FILES else "intelligence")
    return jsonify({"job": background.serialize(job)})
