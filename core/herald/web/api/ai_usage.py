"""``GET /api/analytics/ai-usage``: AI generations and tokens by day, feature and provider."""

from flask import Blueprint, g, jsonify

from ...db.models import Workspace
from ...plans import ai_usage
from . import endpoint, int_arg, int_query, runtime

bp = Blueprint("ai_usage", __name__, url_prefix="/api/analytics")


@endpoint(bp, "/ai-usage", ("GET",), summary="AI generations and tokens by day, feature and provider",
          scope="posts:read", query=(int_query("period", 30, 1, 366, "days, 1-366, default 30 (today included)"),),
          responses={200: "ai_usage"})
def ai_usage_report():
    """The usage of the last ``period`` days, and this month's count against the plan's limit."""
    workspace_id = g.principal.workspace_id
    now = runtime().clock.now()
    report = ai_usage.usage_report(workspace_id, int_arg("period", 30, 1, 366), now)
    plan = Workspace.select(Workspace.plan).where(Workspace.id == workspace_id).scalar()
    limit = ai_usage.monthly_limit(plan)
    used = ai_usage.used_this_month(workspace_id, now)
    report["this_month"] = {"plan": plan, "ai_generations": used, "limit": limit, "remaining": max(0, limit - used)}
    return jsonify(report)
