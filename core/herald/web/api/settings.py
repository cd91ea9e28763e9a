"""``/api/settings``: the workspace's values that plugins declare (``herald.settings.WorkspaceSetting``),
such as its AI provider's API key (shown masked) and model. A new key (or model) is checked with the
provider before it is stored."""

from flask import Blueprint, g, jsonify

from ... import ai, workspace_values
from ...ai import settings
from ...errors import FeatureDisabled, warning
from . import endpoint, runtime

bp = Blueprint("settings", __name__, url_prefix="/api/settings")


def _provider():
    """The workspace's AI provider (``Registered``), and None or why there is none it may use (``FeatureDisabled``)."""
    try:
        return ai.provider_for(runtime(), g.principal.workspace_id), None
    except FeatureDisabled as exc:
        return None, exc


def _unchecked(payload: dict, problem: FeatureDisabled) -> list[dict]:
    """A warning when the AI provider's key is stored while no provider may check it (kept for later)."""
    chosen = runtime().registry.ai_provider(runtime().config.ai_provider)
    if not settings.sets_secret(runtime(), chosen, payload):
        return []
    return [warning("key_not_checked", f"{problem.message} The key was stored unchecked; it is used once AI is "
                                       "available.")]


def _view(provider) -> dict:
    shown = workspace_values.serialize(runtime().config, g.principal.workspace_id, runtime().registry)
    return {"settings": {"ai_provider": provider.obj.name if provider is not None else None, **shown}}


@endpoint(bp, "", ("GET",), summary="The workspace's plugin settings (secrets masked)", scope="admin",
          responses={200: "settings"})
def get_settings():
    """The AI provider and every field the loaded plugins declare: secrets masked (with ``<field>_set``),
    other values as stored or their default (with ``<field>_is_default``)."""
    provider, _ = _provider()
    return jsonify(_view(provider))


@endpoint(bp, "", ("PUT",), summary="Set or clear the workspace's plugin settings (an AI provider's API key, "
                                    "its model)", scope="admin", body="settings_update", responses={200: "settings"})
def put_settings(payload):
    """Check a new key (or model) with the AI provider, then store the values, secrets encrypted; a field
    left out stays, null clears it. A key the provider refuses is 400 ``invalid_api_key``, a model it
    does not have 400 ``validation_error`` on the model's field; when it cannot be reached, or AI is not
    available to the workspace (no provider loaded, or its plugin disabled here), the settings are
    stored with a ``warnings`` entry."""
    return jsonify(apply_settings(payload))


def apply_settings(payload: dict) -> dict:
    """Check and store a ``settings_update`` body for the caller's workspace (this route and the
    Integrations page's form); the settings as ``GET`` shows them, with ``warnings`` when any."""
    provider, problem = _provider()
    workspace_id = g.principal.workspace_id
    if problem is not None:
        warnings = _unchecked(payload, problem)
    else:
        warnings = settings.check(runtime(), workspace_id, payload, provider)
    workspace_values.store(runtime().config, workspace_id, workspace_values.changes(runtime().registry, payload),
                           runtime().clock.now())
    body = _view(provider)
    if warnings:
        body["warnings"] = warnings
    return body
