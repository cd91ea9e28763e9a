"""``/v1/posts/{id}/comments``: the conversation about a post between the client (portal) and the agency."""

from flask import Blueprint, g, jsonify

from ...db.models import PostComment
from ...publishing.comments import AGENCY, add_comment, serialize_comment
from ...publishing.posts import get_post
from . import endpoint, paging, runtime

COMMENT_PREFIX = "comment_"

bp = Blueprint("comments", __name__, url_prefix="/v1")


@endpoint(bp, "/posts/<post_id>/comments", ("GET",), summary="A post's comments (client and agency)",
          scope="posts:read", query=(paging.paged_on_request_query(200), paging.cursor_query(COMMENT_PREFIX)),
          responses={200: "comment_list"})
def list_comments(post_id):
    """Oldest first (in the order they were written); ``kind`` is ``comment``, or ``rejection`` for the reason
    given when the post was rejected; ``author_kind`` is ``client`` (the portal) or ``agency`` (this API).
    Page with ``cursor``."""
    post = get_post(g.principal.workspace_id, post_id)
    rows, next_cursor = paging.listed(PostComment.select().where(PostComment.post == post.id), PostComment.id,
                                      limit=(None, 200), prefix=COMMENT_PREFIX, descending=False)
    return jsonify({"comments": [serialize_comment(row) for row in rows], "next_cursor": next_cursor})


@endpoint(bp, "/posts/<post_id>/comments", ("POST",), summary="Answer the client: comment on a post as the agency",
          scope="posts:write", body="v1_comment", responses={201: "comment_answer"})
def create_comment(post_id, payload):
    """Store the comment with the caller as its author (``post.commented``); the client sees it in the portal."""
    post = get_post(g.principal.workspace_id, post_id)
    comment = add_comment(runtime(), post, g.principal.label, payload["body"], author_kind=AGENCY)
    return jsonify({"comment": serialize_comment(comment)}), 201
