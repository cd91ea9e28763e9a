"""Workspace administration: API keys and per-workspace plugin enablement (scope ``admin``)."""

from flask import Blueprint, g, jsonify

from ...auth import SCOPES, create_api_key
from ...db.models import ApiKey, isoformat, plugin_enabled, set_plugin_enabled
from ...errors import NotFound, ValidationError
from . import endpoint, paging, runtime

# The blueprint's name is the routes' OpenAPI tag, which clients see: it keeps its old name.
bp = Blueprint("admin", __name__, url_prefix="/api")


def serialize_key(row: ApiKey) -> dict:
    """A key as listed: never the key itself, only its display form."""
    return {"id": row.id, "name": row.name, "display": row.display, "scopes": row.scopes,
            "created_at": isoformat(row.created_at), "last_used_at": isoformat(row.last_used_at),
            "revoked_at": isoformat(row.revoked_at)}


@endpoint(bp, "/keys", ("GET",), summary="List the workspace's API keys", scope="admin",
          query=(paging.paged_on_request_query(200), paging.cursor_query()), responses={200: "api_key_list"})
def list_keys():
    """The workspace's keys, revoked ones included, oldest first; page with ``cursor``."""
    query = ApiKey.select().where(ApiKey.workspace == g.principal.workspace_id)
    rows, next_cursor = paging.listed(query, ApiKey.id, limit=(None, 200), descending=False)
    return jsonify({"keys": [serialize_key(row) for row in rows], "next_cursor": next_cursor})


@endpoint(bp, "/keys", ("POST",), summary="Create an API key (the key is shown once)", scope="admin",
          body="api_key_create", responses={201: "api_key_created"})
def create_key(payload):
    """Create a key; the response is the only time the key itself is shown."""
    row, key = create_api_key(g.principal.workspace_id, payload.get("scopes", SCOPES), payload.get("name", ""))
    return jsonify({"key": key, "api_key": serialize_key(row)}), 201


@endpoint(bp, "/keys/<int:key_id>", ("DELETE",), summary="Revoke an API key", scope="admin", responses={200: "success"})
def revoke_key(key_id):
    """Revoke a key; requests with it answer 401 from then on."""
    if not runtime().auth.revoke_key(g.principal.workspace_id, key_id):
        raise NotFound(f"No active API key {key_id} in this workspace.")
    return jsonify({"success": True})


def plugin_row(name: str) -> dict:
    """The plugin as listed: what it provides and whether it is enabled in the caller's workspace."""
    registry = runtime().registry
    described = next(row for row in registry.describe() if row["name"] == name)
    builtin = described["builtin"]
    described["enabled"] = True if builtin else plugin_enabled(g.principal.workspace_id, name)
    return described


@endpoint(bp, "/admin/plugins", ("GET",), summary="Installed plugins and whether each is enabled here",
          scope="admin", responses={200: "plugin_list"})
def list_plugins():
    """Every loaded plugin with its hooks, what it provides and its state in this workspace."""
    return jsonify({"plugins": [plugin_row(name) for name in runtime().registry.plugin_names()]})


@endpoint(bp, "/admin/plugins/<name>", ("PUT",), summary="Enable or disable a plugin for this workspace",
          scope="admin", body="plugin_update", responses={200: "plugin_answer"})
def update_plugin(name, payload):
    """Enable or disable the named plugin for the caller's workspace."""
    change_plugin(name, payload["enabled"])
    return jsonify({"plugin": plugin_row(name)})


def change_plugin(name: str, enabled: bool) -> None:
    """Enable or disable the plugin ``name`` for the caller's workspace (this route and the Integrations
    page's form): 404 when no such plugin is installed, 400 for a built-in one."""
    registry = runtime().registry
    if name not in registry.plugin_names():
        raise NotFound(f"No plugin named {name!r} is installed.")
    if registry.is_builtin(name):
        raise ValidationError(f"{name!r} is built into Herald and cannot be disabled.", field="enabled")
    set_plugin_enabled(g.principal.workspace_id, name, enabled, runtime().clock.now())
