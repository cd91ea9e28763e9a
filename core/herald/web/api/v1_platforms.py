"""``GET /v1/platforms``: the platforms this server publishes to, as a client needs them to build a
request: post types, which take a first comment, how an account connects, and the options a post's
variant may carry (``variants.<platform>.options``, checked against ``options_schema``)."""

from flask import Blueprint, g, jsonify

from ...capabilities import provided
from ...db.models import plugin_enabled
from . import endpoint, runtime

bp = Blueprint("v1_platforms", __name__, url_prefix="/v1/platforms")


def describe_platform(name: str, registered) -> dict:
    """One platform as ``GET /v1/platforms`` lists it."""
    platform = registered.obj
    flow = getattr(platform, "connect_flow", None)
    comment_types = getattr(platform, "comment_post_types", None)
    return {
        "name": name,
        "plugin": registered.plugin,
        "enabled": plugin_enabled(g.principal.workspace_id, registered.plugin),
        "post_types": list(platform.post_types),
        "first_comment_post_types": (list(comment_types if comment_types is not None else platform.post_types)
                                     if provided(platform, "post_comment") else []),
        "connect": {
            "kind": flow.kind if flow is not None else "token",
            "oauth": provided(platform, "authorization_url") is not None,
            "fields": [{"name": field.name, "meaning": field.meaning, "pattern": field.pattern,
                        "required": field.required}
                       for field in (flow.fields if flow is not None else ())],
        },
        "options_schema": getattr(platform, "options_schema", None),
    }


@endpoint(bp, "", ("GET",), summary="The platforms this server publishes to and what each takes",
          scope="posts:read", responses={200: "platform_list"})
def list_platforms():
    """Every installed platform, by name."""
    platforms = runtime().registry.platforms
    return jsonify({"platforms": [describe_platform(name, platforms[name]) for name in sorted(platforms)]})
