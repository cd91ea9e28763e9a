"""``GET /v1/posts/{id}/comments``: what the client wrote about a post in the portal."""

from flask import Blueprint, g, jsonify

from .. import publishing
from ..comments import comments_of, serialize_comment
from . import endpoint

bp = Blueprint("comments", __name__, url_prefix="/v1")


@endpoint(bp, "/posts/<post_id>/comments", ("GET",), summary="A post's comments (from the client portal)",
          scope="posts:read")
def list_comments(post_id):
    """Oldest first; ``kind`` is ``comment``, or ``rejection`` for the reason given when the post was rejected."""
    post = publishing.get_post(g.principal.workspace_id, post_id)
    return jsonify({"comments": [serialize_comment(row) for row in comments_of([post.id])[post.id]]})
