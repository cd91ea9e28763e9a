"""``GET /api/workspace/health`` and ``GET /api/clients/<id>/health``: health scores with their parts."""

from flask import Blueprint, g, jsonify

from ...db.models import Workspace
from ...intelligence import health_scores
from ...publishing.posts import get_client
from . import endpoint, runtime

bp = Blueprint("health_scores", __name__)


@endpoint(bp, "/api/workspace/health", ("GET",), summary="Workspace health score (0-100) with its parts explained",
          scope="posts:read", responses={200: "health_score"})
def workspace_health():
    """Cadence, approval backlog, failed publishes, account tokens and engagement trend of the workspace."""
    return jsonify(health_scores.health(Workspace.get_by_id(g.principal.workspace_id), runtime().clock.now()))


@endpoint(bp, "/api/clients/<int:client_id>/health", ("GET",),
          summary="A client's health score (0-100) with its parts explained", scope="posts:read",
          responses={200: "health_score"})
def client_health(client_id):
    """The same parts, for one client's posts and the accounts they are published to."""
    client = get_client(g.principal.workspace_id, client_id, field=None)
    return jsonify(health_scores.health(Workspace.get_by_id(g.principal.workspace_id), runtime().clock.now(), client))
