"""``/api/posts/<id>/versions``: a post's edit history, and restoring a version."""

from flask import Blueprint, g, jsonify

from ...db.models import PostVersion
from ...publishing import posts, versions
from . import endpoint, paging, runtime

bp = Blueprint("post_versions", __name__, url_prefix="/api/posts")


@endpoint(bp, "/<post_id>/versions", ("GET",), summary="Every version of a post: who, when, what changed",
          scope="posts:read", query=(paging.paged_on_request_query(200), paging.cursor_query()),
          responses={200: "version_list"})
def list_versions(post_id):
    """Oldest first (a later version has a larger id); each change names the field with its value before and
    after. Page with ``cursor``."""
    post = posts.get_post(g.principal.workspace_id, post_id, field=None)
    rows, next_cursor = paging.listed(PostVersion.select().where(PostVersion.post == post), PostVersion.id,
                                      limit=(None, 200), descending=False)
    return jsonify({"post_id": post.id, "versions": [versions.serialize_version(row) for row in rows],
                    "next_cursor": next_cursor})


@endpoint(bp, "/<post_id>/versions/<int:number>/restore", ("POST",),
          summary="Restore the content of a version (409 once published or publishing)", scope="posts:write",
          responses={200: "version_restored"})
def restore_version(post_id, number):
    """Put back the editable fields of version ``number``; the restore is recorded as a new version."""
    post = posts.get_post(g.principal.workspace_id, post_id, field=None)
    post, version, kept = versions.restore(runtime(), g.principal, post, number)
    return jsonify({"post": posts.serialize_post(post, shape="action"),
                    "version": versions.serialize_version(version) if version else None,
                    "not_restored": kept})
