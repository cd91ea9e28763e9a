"""``GET /api/jobs/<id>``: the status and result of a background job."""

from flask import Blueprint, g, jsonify

from ...ai import background
from . import endpoint

bp = Blueprint("background_jobs", __name__, url_prefix="/api/jobs")


@endpoint(bp, "/<job_id>", ("GET",), summary="A background job's status, result or error", scope="intelligence",
          responses={200: "job"})
def get_job(job_id):
    """queued, running, succeeded (with ``result``) or failed (with ``error``)."""
    return jsonify({"job": background.serialize(background.get_job(g.principal.workspace_id, job_id))})
