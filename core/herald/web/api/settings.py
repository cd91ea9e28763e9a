"""``/api/settings``: the workspace's AI settings (Gemini API key, shown masked, and model). A new key
(or model) is checked with the provider before it is stored."""

from flask import Blueprint, g, jsonify

from ... import ai
from ...ai import settings
from ...errors import FeatureDisabled, warning
from . import endpoint, runtime

bp = Blueprint("settings", __name__, url_prefix="/api/settings")


def _provider():
    """The workspace's AI provider object, and None or why there is none it may use (``FeatureDisabled``)."""
    try:
        return ai.provider_for(g.principal.workspace_id, runtime().registry).obj, None
    except FeatureDisabled as exc:
        return None, exc


def _unchecked(payload: dict, problem: FeatureDisabled | None) -> list[dict]:
    """A warning when a key is stored while no provider may check it (the settings are kept for later)."""
    if problem is None or not (payload.get("gemini_api_key") or "").strip():
        return []
    return [warning("key_not_checked", f"{problem.message} The key was stored unchecked; it is used once AI is "
                                       "available.")]


def _view(row, provider) -> dict:
    return {"settings": settings.serialize(row, runtime().config, getattr(provider, "name", None),
                                              getattr(provider, "default_model", None))}


@endpoint(bp, "", ("GET",), summary="AI settings (the API key masked)", scope="admin", responses={200: "settings"})
def get_settings():
    """The AI provider, the masked API key and the model."""
    provider, _ = _provider()
    return jsonify(_view(settings.load(g.principal.workspace_id), provider))


@endpoint(bp, "", ("PUT",), summary="Set or clear the Gemini API key and model", scope="admin",
          body="settings_update", responses={200: "settings"})
def put_settings(payload):
    """Check a new key (or model) with the provider, then store the key encrypted; a field left out
    stays, null clears it. A key the provider refuses is 400 ``invalid_api_key``, a model it does not
    have 400 ``validation_error`` on ``gemini_model``; when it cannot be reached, or AI is not available to
    the workspace (no provider loaded, or its plugin disabled here), the settings are stored with a
    ``warnings`` entry."""
    provider, problem = _provider()
    warnings = _unchecked(payload, problem) or settings.check(g.principal.workspace_id, runtime().config, payload,
                                                                 provider)
    body = _view(settings.update(runtime(), g.principal.workspace_id, payload), provider)
    if warnings:
        body["warnings"] = warnings
    return jsonify(body)
