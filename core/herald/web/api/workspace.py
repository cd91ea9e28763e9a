"""``/api/workspace``: the caller's workspace and its settings (approvals, default time zone, posting target)."""

from flask import Blueprint, g, jsonify

from ...db.models import Workspace, isoformat, write_transaction
from ...intelligence.health_scores import posts_per_week
from . import endpoint
from .clients import check_timezone

bp = Blueprint("workspace", __name__, url_prefix="/api/workspace")


def serialize_workspace(workspace: Workspace) -> dict:
    """The JSON shape of a workspace."""
    settings = workspace.settings or {}
    return {"id": workspace.id, "name": workspace.name, "plan": workspace.plan,
            "settings": {"require_approval": bool(settings.get("require_approval")),
                         "timezone": settings.get("timezone") or "UTC",
                         "posts_per_week": posts_per_week(workspace)},
            "created_at": isoformat(workspace.created_at)}


@endpoint(bp, "", ("GET",), summary="The workspace and its settings", scope="posts:read", responses={200: "workspace"})
def get_workspace():
    """Name, plan and settings."""
    return jsonify(serialize_workspace(Workspace.get_by_id(g.principal.workspace_id)))


@endpoint(bp, "", ("PATCH",), summary="Change workspace settings (approvals, time zone, posting target)", scope="admin",
          body="workspace_update", responses={200: "workspace"})
def update_workspace(payload):
    """Set ``require_approval``, ``timezone`` and/or ``posts_per_week``."""
    if "timezone" in payload:
        check_timezone(payload["timezone"])
    with write_transaction():
        workspace = Workspace.get_by_id(g.principal.workspace_id)
        workspace.settings = {**(workspace.settings or {}), **payload}
        workspace.save(only=[Workspace.settings])
    return jsonify(serialize_workspace(workspace))
