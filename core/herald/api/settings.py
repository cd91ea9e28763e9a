"""``/api/settings``: the workspace's AI settings (Gemini API key, shown masked, and model)."""

from flask import Blueprint, g, jsonify

from .. import ai, ai_settings
from ..errors import FeatureDisabled
from . import endpoint, state

bp = Blueprint("settings", __name__, url_prefix="/api/settings")


def _view(row) -> dict:
    try:
        provider = ai.provider_for(g.principal.workspace_id, state().registry).obj
    except FeatureDisabled:
        provider = None
    return {"settings": ai_settings.serialize(row, state().config, getattr(provider, "name", None),
                                              getattr(provider, "default_model", None))}


@endpoint(bp, "", ("GET",), summary="AI settings (the API key masked)", scope="admin")
def get_settings():
    """The AI provider, the masked API key and the model."""
    return jsonify(_view(ai_settings.load(g.principal.workspace_id)))


@endpoint(bp, "", ("PUT",), summary="Set or clear the Gemini API key and model", scope="admin",
          body="settings_update")
def put_settings(payload):
    """Store the key encrypted; a field left out stays, null clears it."""
    return jsonify(_view(ai_settings.update(g.principal.workspace_id, state().config, payload)))
