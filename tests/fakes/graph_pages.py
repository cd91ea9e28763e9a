"""Facebook Pages routes of the fake Graph API: ``/feed``, ``/photos``, ``/videos`` and the Page's post
lists (research §3). A mixin of :class:`fakes.graph.FakeGraph`."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from .graph_model import (
    FakeRequest,
    GraphFault,
    Page,
    PagePost,
    Photo,
    Token,
    Video,
    graph_time,
    missing_param,
    truthy,
)


class PagesRoutes:
    """``POST /{page}/feed|photos|videos`` and ``GET /{page}/feed|posts|published_posts|scheduled_posts``."""

    def _page_for_publishing(self, page_id: str, token: Token) -> Page:
        page = self._page(page_id, token, "POST")
        if token.kind != "PAGE" or "pages_manage_posts" not in token.scopes:
            raise GraphFault(200, "(#200) If posting to a page, requires both pages_read_engagement and "
                                  "pages_manage_posts as an admin with sufficient administrative permission")
        return page

    def _schedule(self, published: bool, value: Any) -> float | None:
        """Check ``scheduled_publish_time``: only unpublished, 10 minutes to 30 days ahead (§3.2)."""
        if value in (None, ""):
            return None
        if published:
            raise GraphFault(100, "(#100) A scheduled post must be sent with published=false")
        try:
            when = float(value)
        except ValueError:
            when = dt.datetime.fromisoformat(str(value)).timestamp()
        if not self.now() + 600 <= when <= self.now() + 30 * 86400:  # message text is an assumption
            raise GraphFault(100, "(#100) The specified scheduled publish time is invalid.")
        return when

    def _new_post(self, page: Page, message: str, kind: str, *, published: bool, scheduled: float | None,
                  object_id: str | None = None, attached: list[str] | None = None, link: str | None = None,
                  post_id: str | None = None) -> PagePost:
        if self.reject_duplicates and published and message:
            latest = self._page_posts(page.id)
            if latest and latest[0].message == message:
                raise GraphFault(506, "(#506) Duplicate status message")
        post = PagePost(id=post_id or f"{page.id}_{self._new_id('post')}", page_id=page.id, message=message,
                        created_time=self.now(), kind=kind, published=published and scheduled is None,
                        scheduled_publish_time=scheduled, object_id=object_id, attached=attached or [], link=link)
        self._posts[post.id] = post
        return post

    def _post_feed(self, req: FakeRequest, token: Token, page_id: str) -> dict[str, Any]:
        page = self._page_for_publishing(page_id, token)
        params = req.params
        message, link = params.get("message") or "", params.get("link")
        attached = self._attached_media(params, page)
        if not (message or link or attached):
            raise GraphFault(100, "(#100) Missing message or attachment")
        published = truthy(params.get("published", "true"))
        scheduled = self._schedule(published, params.get("scheduled_publish_time"))
        post = self._new_post(page, message, "album" if attached else "status", published=published,
                              scheduled=scheduled, attached=attached, link=link)
        for photo_id in attached:
            self._photos[photo_id].post_id = post.id
        # Read After Write (Graph API v2.9 changelog): a POST with "fields" answers the created object.
        if req.params.get("fields"):
            return self._pick(self._post_record(post), req, "Post", "id")
        return {"id": post.id}

    def _attached_media(self, params: dict[str, Any], page: Page) -> list[str]:
        raw = params.get("attached_media")
        items = json.loads(raw) if isinstance(raw, str) and raw.strip().startswith("[") else raw or []
        indexed = sorted((key for key in params if key.startswith("attached_media[")),
                         key=lambda key: int(key[len("attached_media["):-1]))
        items = list(items) + [json.loads(params[key]) if isinstance(params[key], str) else params[key]
                               for key in indexed]
        photo_ids = []
        for index, item in enumerate(items):
            photo = self._photos.get(str(item.get("media_fbid") if isinstance(item, dict) else ""))
            if photo is None or photo.page_id != page.id or photo.published:  # message is an assumption
                raise GraphFault(100, f"(#100) attached_media[{index}] must be an unpublished photo of this Page")
            photo_ids.append(photo.id)
        return photo_ids

    def _post_photo(self, req: FakeRequest, token: Token, page_id: str) -> dict[str, Any]:
        page = self._page_for_publishing(page_id, token)
        params = req.params
        if not params.get("url"):
            raise missing_param("url")  # multipart ``source`` uploads are not faked
        caption = params.get("caption") or params.get("message") or ""
        published = truthy(params.get("published", "true"))
        scheduled = self._schedule(published, params.get("scheduled_publish_time"))
        photo = Photo(id=self._new_id("photo"), page_id=page.id, url=params["url"], caption=caption,
                      published=published)
        self._photos[photo.id] = photo
        if not published and scheduled is None:
            return {"id": photo.id}
        post = self._new_post(page, caption, "photo", published=published, scheduled=scheduled, object_id=photo.id)
        photo.post_id = post.id
        return {"id": photo.id, "post_id": post.id}

    def _post_video(self, req: FakeRequest, token: Token, page_id: str) -> dict[str, Any]:
        page = self._page_for_publishing(page_id, token)
        params = req.params
        if params.get("upload_phase"):
            raise GraphFault(100, "(#100) This fake implements file_url uploads only")
        if not params.get("file_url"):
            raise missing_param("file_url")
        published = truthy(params.get("published", "true"))
        scheduled = self._schedule(published, params.get("scheduled_publish_time"))
        video = Video(id=self._new_id("video"), page_id=page.id, file_url=params["file_url"],
                      description=params.get("description") or "", title=params.get("title") or "",
                      published=published)
        self._videos[video.id] = video
        if published or scheduled is not None:
            post = self._new_post(page, video.description, "video", published=published, scheduled=scheduled,
                                  object_id=video.id, post_id=f"{page.id}_{video.id}")
            video.post_id = post.id
        return {"id": video.id}

    def _page_posts(self, page_id: str, *, scheduled: bool = False) -> list[PagePost]:
        found = [post for post in self._posts.values() if post.page_id == page_id and (
            post.scheduled_publish_time is not None if scheduled else post.published)]
        return sorted(found, key=lambda post: (post.created_time, post.id), reverse=True)

    def _engagement(self, post: PagePost) -> dict[str, Any]:
        record: dict[str, Any] = {
            "reactions": {"data": [], "summary": {"total_count": post.reactions, "viewer_reaction": "NONE"}},
            "comments": {"data": [], "summary": {"order": "ranked", "total_count": post.comments,
                                                 "can_comment": True}},
        }
        if post.shares:  # Graph leaves ``shares`` out while a post has none
            record["shares"] = {"count": post.shares}
        return record

    def _post_record(self, post: PagePost) -> dict[str, Any]:
        record = {"id": post.id, "message": post.message or None, "created_time": graph_time(post.created_time),
                  "permalink_url": post.permalink_url, "is_published": post.published,
                  "scheduled_publish_time": (int(post.scheduled_publish_time)
                                             if post.scheduled_publish_time is not None else None)}
        record.update(self._engagement(post))
        return record

    def _list_posts(self, req: FakeRequest, token: Token, page_id: str) -> dict[str, Any]:
        self._page(page_id, token, "GET")
        posts = self._page_posts(page_id)
        return self._timeline([(p.created_time, p.id, self._pick(self._post_record(p), req, "Post",
                                                                 "created_time,message,id")) for p in posts], req)

    def _list_scheduled(self, req: FakeRequest, token: Token, page_id: str) -> dict[str, Any]:
        self._page(page_id, token, "GET")
        posts = self._page_posts(page_id, scheduled=True)
        return self._list([self._pick(self._post_record(p), req, "Post", "created_time,message,id") for p in posts],
                          req)
