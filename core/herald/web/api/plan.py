"""``GET /api/plan``: the workspace's plan and this month's usage."""

from flask import Blueprint, g, jsonify

from ...db.models import Workspace
from ...plans.report import plan_report
from . import endpoint, runtime

# The blueprint's name is the routes' OpenAPI tag, which clients see: it keeps its old name.
bp = Blueprint("usage", __name__, url_prefix="/api")


@endpoint(bp, "/plan", ("GET",), summary="Current plan and this month's usage", scope="posts:read",
          responses={200: "plan"})
def plan():
    """The plan, its limits and usage since the first of the month (UTC)."""
    workspace = Workspace.get_by_id(g.principal.workspace_id)
    return jsonify(plan_report(workspace, runtime().config, runtime().clock.now()))
