"""Comment routes of the fake Graph API: ``POST /{ig-media-id}/comments`` (an Instagram account
commenting under its own media) and ``POST /{object-id}/comments`` (a Page commenting under its own
post, photo or video). A mixin of :class:`fakes.graph.FakeGraph`.

From Meta's references (IG Media ``/comments``, Page Post ``/comments``): the answer is ``{"id"}``;
``message`` is required; comments on live video are not supported. The permission errors' codes
and wording are not documented for these edges: the fake answers code 10 for Instagram and code 200
for Pages, the codes Graph uses for a missing permission elsewhere (research §4.1), and code 100 for
a story (the core never sends one).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .graph_model import FakeRequest, GraphFault, Token, missing_param, no_object

IG_COMMENT_SCOPES = {"instagram_manage_comments", "instagram_business_manage_comments"}
PAGE_COMMENT_SCOPE = "pages_manage_engagement"


@dataclasses.dataclass
class Comment:
    """A comment the fake holds: ``object_id`` is what it is under, ``author`` who wrote it."""

    id: str
    object_id: str
    author: str
    message: str
    created_time: float


class CommentsRoutes:
    """``POST /{object-id}/comments`` for Instagram media and Page posts, photos and videos."""

    def _create_comment(self, req: FakeRequest, token: Token, object_id: str) -> dict[str, Any]:
        message = req.params.get("message")
        if object_id in self._media:
            author = self._commentable_media(object_id, token)
        else:
            author = self._commentable_page_object(object_id, token)
        if not message:
            raise missing_param("message")
        comment = Comment(id=self._new_id("comment"), object_id=object_id, author=author, message=message,
                          created_time=self.now())
        self._comments.append(comment)
        self._count_comment(object_id)
        return {"id": comment.id}

    def _commentable_media(self, media_id: str, token: Token) -> str:
        media = self._media[media_id]
        self._ig_user(media.owner, token, "POST")  # the token must act for the media's owner
        if not IG_COMMENT_SCOPES & set(token.scopes):
            raise GraphFault(10, "(#10) Application does not have permission for this action")
        if media.media_product_type == "STORY":
            raise no_object(media_id, "POST")
        return media.owner

    def _commentable_page_object(self, object_id: str, token: Token) -> str:
        target = self._posts.get(object_id) or self._photos.get(object_id) or self._videos.get(object_id)
        if target is None or (token.owner != target.page_id and not (
                token.owner in self._fb_users and target.page_id in self._fb_users[token.owner].pages)):
            raise no_object(object_id, "POST")
        if token.kind != "PAGE" or PAGE_COMMENT_SCOPE not in token.scopes:
            raise GraphFault(200, "(#200) The user hasn't authorized the application to perform this action")
        return target.page_id

    def _count_comment(self, object_id: str) -> None:
        if object_id in self._media:
            self._media[object_id].comments_count += 1
            return
        post_id = object_id if object_id in self._posts else getattr(
            self._photos.get(object_id) or self._videos.get(object_id), "post_id", None)
        if post_id in self._posts:
            self._posts[post_id].comments += 1
