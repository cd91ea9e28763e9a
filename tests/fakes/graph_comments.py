"""Comment routes of the fake Graph API: ``POST /{ig-media-id}/comments`` (an Instagram account
commenting under its own media), ``POST /{object-id}/comments`` (a Page commenting under its own
post, photo or video), and ``GET`` of both edges (reading the comments back). A mixin of
:class:`fakes.graph.FakeGraph`.

From Meta's references (IG Media ``/comments``, Page Post ``/comments``, IG Comment, Comment): the
answer to a POST is ``{"id"}``; ``message`` is required; comments on live video are not supported.
Reading answers ``{"data": [...], "paging": {"cursors": {"before", "after"}, "next"?}}``, cursor
paged (``limit``, ``after``; ``next`` only when there is more). An IG comment has ``id``, ``text``,
``timestamp``, ``username`` and ``from`` (``{"id", "username"}``), default fields ``timestamp,text,id``;
a Page comment has ``id``, ``message``, ``created_time`` and ``from`` (``{"name", "id"}``), default
fields ``created_time,message,id``, oldest first unless ``order=reverse_chronological``. The
permission errors' codes and wording are not documented for these edges: the fake answers code 10
for Instagram and code 200 for Pages, the codes Graph uses for a missing permission elsewhere
(research §4.1), and code 100 for a story (the core never sends one).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
from typing import Any

from .graph_model import FakeRequest, GraphFault, Token, missing_param, no_object, top_fields

IG_COMMENT_SCOPES = {"instagram_manage_comments", "instagram_business_manage_comments"}
PAGE_COMMENT_SCOPE = "pages_manage_engagement"
PAGE_READ_SCOPE = "pages_read_engagement"
IG_COMMENT_FIELDS = {"id", "text", "timestamp", "username", "from", "like_count", "hidden"}
PAGE_COMMENT_FIELDS = {"id", "message", "created_time", "from", "like_count", "comment_count"}


@dataclasses.dataclass
class Comment:
    """A comment the fake holds: ``object_id`` is what it is under, ``author`` who wrote it."""

    id: str
    object_id: str
    author: str
    message: str
    created_time: float
    author_name: str = ""


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
        return {"id": self._store_comment(object_id, author, self._author_name(author), message).id}

    def _store_comment(self, object_id: str, author: str, author_name: str, message: str) -> Comment:
        comment = Comment(id=self._new_id("comment"), object_id=object_id, author=author, message=message,
                          created_time=self.now(), author_name=author_name)
        self._comments.append(comment)
        self._count_comment(object_id)
        return comment

    def _author_name(self, author: str) -> str:
        if author in self._ig_users:
            return self._ig_users[author].username
        return self._pages[author].name if author in self._pages else ""

    def _list_comments(self, req: FakeRequest, token: Token, object_id: str) -> dict[str, Any]:
        """``GET /{object-id}/comments``: the comments under Instagram media or a Page object, paged."""
        instagram = object_id in self._media
        if instagram:
            self._readable_media(object_id, token)
        else:
            self._readable_page_object(object_id, token)
        allowed, default = ((IG_COMMENT_FIELDS, "timestamp,text,id") if instagram
                            else (PAGE_COMMENT_FIELDS, "created_time,message,id"))
        fields = top_fields(req.params.get("fields")) or top_fields(default)
        for name in fields:
            if name not in allowed:
                node = "IGComment" if instagram else "Comment"
                raise GraphFault(100, f"(#100) Tried accessing nonexisting field ({name}) on node type ({node})")
        items = [item for item in self._comments if item.object_id == object_id]
        if not instagram and req.params.get("order") == "reverse_chronological":
            items.reverse()
        limit = min(int(req.params.get("limit") or 25), 100)
        start = _cursor_position(req.params.get("after"))
        page = items[start:start + limit]
        records = [_comment_record(item, instagram) for item in page]
        answer: dict[str, Any] = {"data": [{name: record[name] for name in fields if name in record}
                                           for record in records]}
        if page:
            answer["paging"] = {"cursors": {"before": _cursor(start), "after": _cursor(start + len(page))}}
            if start + len(page) < len(items):
                answer["paging"]["next"] = (f"https://graph.facebook.com/{req.version or 'v25.0'}/{object_id}"
                                            f"/comments?limit={limit}&after={_cursor(start + len(page))}")
        return answer

    def _readable_media(self, media_id: str, token: Token) -> None:
        media = self._media[media_id]
        self._ig_user(media.owner, token, "GET")
        if not IG_COMMENT_SCOPES & set(token.scopes):
            raise GraphFault(10, "(#10) Application does not have permission for this action")

    def _readable_page_object(self, object_id: str, token: Token) -> None:
        target = self._posts.get(object_id) or self._photos.get(object_id) or self._videos.get(object_id)
        if target is None or (token.owner != target.page_id and not (
                token.owner in self._fb_users and target.page_id in self._fb_users[token.owner].pages)):
            raise no_object(object_id, "GET")
        if PAGE_READ_SCOPE not in token.scopes:
            raise GraphFault(10, "(#10) This endpoint requires the 'pages_read_engagement' permission")

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


def _cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"comment:{position}".encode()).decode()


def _cursor_position(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        return int(base64.urlsafe_b64decode(cursor.encode()).decode().removeprefix("comment:"))
    except ValueError:
        raise GraphFault(100, "(#100) The after cursor is not valid") from None


def _comment_record(comment: Comment, instagram: bool) -> dict[str, Any]:
    stamp = dt.datetime.fromtimestamp(comment.created_time, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")
    if instagram:
        return {"id": comment.id, "text": comment.message, "timestamp": stamp, "username": comment.author_name,
                "from": {"id": comment.author, "username": comment.author_name}, "like_count": 0, "hidden": False}
    return {"id": comment.id, "message": comment.message, "created_time": stamp,
            "from": {"name": comment.author_name, "id": comment.author}, "like_count": 0, "comment_count": 0}
