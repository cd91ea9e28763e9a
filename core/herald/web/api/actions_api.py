"""``POST /api/webhooks``: the action endpoint (Zapier, Make, scripts)."""

from flask import Blueprint, g, jsonify

from ... import actions
from . import endpoint, json_body, runtime

bp = Blueprint("actions", __name__, url_prefix="/api")


@endpoint(bp, "/webhooks", ("POST",), summary="Run an action (create_post, list_posts, update_engagement, "
          "and actions added by plugins)", body=None, scope=None,
          responses={200: "action_result", 201: "action_result"}, errors=(422,))
def run_action():
    """Validate the action payload and dispatch it to its handler."""
    body, status = actions.dispatch(runtime(), g.principal, json_body())
    return jsonify(body), status
