"""Instagram content-publishing routes of the fake Graph API: containers, ``media_publish``, the
publishing quota and published media (research §2). A mixin of :class:`fakes.graph.FakeGraph`."""

from __future__ import annotations

import base64
from typing import Any

from .graph_model import (
    Container,
    FakeRequest,
    GraphFault,
    IGUser,
    Media,
    Token,
    as_list,
    graph_time,
    missing_param,
    top_fields,
    truthy,
)

CONTAINER_LIFETIME = 24 * 3600
MAX_CAPTION = 2200
PUBLISH_SCOPES = {"instagram_content_publish", "instagram_business_content_publish"}
STATUS_TEXT = {  # observed wording of the ``status`` field; only the ERROR form is quoted in the research
    "IN_PROGRESS": "In Progress: Media is still being processed.",
    "FINISHED": "Finished: Media has been uploaded and it is ready to be published.",
    "PUBLISHED": "Published: Media has been successfully published.",
    "EXPIRED": "Expired: Media has not been published within 24 hours.",
}


def shortcode(media_id: str) -> str:
    """A permalink shortcode derived from a media id."""
    return base64.urlsafe_b64encode(int(media_id).to_bytes(8, "big")).decode().rstrip("=")[:11]


class InstagramRoutes:
    """``POST /{ig}/media``, ``GET /{container}``, ``POST /{ig}/media_publish``,
    ``GET /{ig}/content_publishing_limit``, ``GET /{ig}/media`` and ``GET /{ig}/stories``."""

    def _require_ig_publish(self, token: Token) -> None:
        if not PUBLISH_SCOPES & set(token.scopes):
            raise GraphFault(10, "(#10) Application does not have permission for this action")

    def _create_container(self, req: FakeRequest, token: Token, ig_id: str) -> dict[str, Any]:
        self._ig_user(ig_id, token, "POST")
        self._require_ig_publish(token)
        params = req.params
        media_type = (params.get("media_type") or "").upper() or None
        is_item = truthy(params.get("is_carousel_item"))
        caption = params.get("caption") or ""
        if len(caption) > MAX_CAPTION:
            raise GraphFault(36004, f"The caption was {len(caption)} characters long. The maximum is "
                                    f"{MAX_CAPTION} characters.", subcode=2207010)
        children: list[str] = []
        video = bool(params.get("video_url"))
        if media_type == "CAROUSEL":
            children = as_list(params.get("children"))
            if not 2 <= len(children) <= 10:
                raise GraphFault(100, "The carousel is invalid. Carousels need at least 2 and no more than 10 "
                                      "photos/videos.", subcode=2207028)
            for child in children:
                item = self._containers.get(child)
                if item is None or item.owner != ig_id or not item.is_carousel_item:
                    raise GraphFault(100, f"(#100) The children parameter contains an invalid container id: {child}")
        elif media_type is None:
            if not params.get("image_url"):
                raise missing_param("image_url")
        elif media_type == "REELS":
            if not video:
                raise missing_param("video_url")
            if is_item:
                raise GraphFault(100, "(#100) Reels cannot be carousel items")
        elif media_type == "STORIES":
            if not (video or params.get("image_url")):
                raise missing_param("image_url")
        elif media_type == "VIDEO" and is_item:  # §2.2: VIDEO is accepted only for carousel items
            if not video:
                raise missing_param("video_url")
        else:
            raise GraphFault(100, f"The media type {media_type} is unknown.", subcode=2207023)
        kind = media_type or "IMAGE"
        plan = self._take_plan(kind)
        polls = plan.polls if plan and plan.polls is not None else (self.video_polls if video else self.image_polls)
        container = Container(id=self._new_id("container"), owner=ig_id, kind=kind, params=dict(params),
                              created_at=self.now(), polls_left=polls, end=plan.end if plan else "FINISHED",
                              subcode=plan.subcode if plan else None, children=children, is_carousel_item=is_item)
        self._containers[container.id] = container
        return {"id": container.id}

    def _status(self, container: Container, *, poll: bool) -> tuple[str, int | None]:
        """The container's ``status_code`` (and ERROR subcode); ``poll`` counts a status read."""
        if container.media_id:
            return "PUBLISHED", None
        if container.forced:
            return container.forced, container.subcode
        if self.now() - container.created_at >= CONTAINER_LIFETIME:
            return "EXPIRED", None
        if poll:
            container.polls += 1
        if container.polls_left > 0:
            if poll:
                container.polls_left -= 1
            return "IN_PROGRESS", None
        if container.end != "FINISHED":
            return container.end, container.subcode
        for child_id in container.children:  # a carousel is ready when every item is
            code, subcode = self._status(self._containers[child_id], poll=False)
            if code != "FINISHED":
                return code, subcode
        return "FINISHED", None

    def _container_status(self, req: FakeRequest, token: Token, container_id: str) -> dict[str, Any]:
        container = self._containers[container_id]
        self._ig_user(container.owner, token, "GET")
        fields = top_fields(req.params.get("fields"))
        record: dict[str, Any] = {"id": container.id}
        if {"status_code", "status"} & set(fields):
            code, subcode = self._status(container, poll=True)
            record["status_code"] = code
            record["status"] = (f"Error: Media upload has failed with error code {subcode}" if code == "ERROR"
                                else STATUS_TEXT.get(code))
        return self._pick(record, req, "ShadowIGMediaBuilder", "id")

    def _media_publish(self, req: FakeRequest, token: Token, ig_id: str) -> dict[str, Any]:
        user = self._ig_user(ig_id, token, "POST")
        self._require_ig_publish(token)
        creation_id = req.params.get("creation_id")
        if not creation_id:
            raise missing_param("creation_id")
        container = self._containers.get(str(creation_id))
        gone = GraphFault(24, f"The media builder with creation id = {creation_id} does not exist or has been "
                              "expired.", subcode=2207008)
        if container is None or container.owner != ig_id:
            raise gone
        if container.is_carousel_item:
            raise GraphFault(100, "(#100) A carousel item cannot be published on its own")  # assumption
        code, _ = self._status(container, poll=False)
        if code in ("PUBLISHED", "EXPIRED"):  # a second publish of one container: assumption (§2.4)
            raise gone
        if code == "IN_PROGRESS":
            raise GraphFault(9007, "The media is not ready for publishing, please wait for a moment",
                             subcode=2207027)
        if code == "ERROR":  # assumption: what Meta answers here is not documented
            raise GraphFault(-1, "Create media fail, please try to re-create media", subcode=2207032)
        if self.quota_usage(ig_id) >= self.quota_total:
            raise GraphFault(9, "You reached maximum number of posts that is allowed to be published by Content "
                                "Publishing API.", subcode=2207042)
        media = self._new_media(user, container)
        container.media_id = media.id
        self._publishes.setdefault(ig_id, []).append(self.now())
        return {"id": media.id}

    def _new_media(self, user: IGUser, container: Container) -> Media:
        media_id = self._new_id("media")
        video = bool(container.params.get("video_url"))
        if container.kind == "STORIES":
            product, media_type = "STORY", "VIDEO" if video else "IMAGE"
            permalink = f"https://www.instagram.com/stories/{user.username}/{media_id}/"
        elif container.kind == "REELS":
            product, media_type = "REELS", "VIDEO"
            permalink = f"https://www.instagram.com/reel/{shortcode(media_id)}/"
        else:
            product, media_type = "FEED", "CAROUSEL_ALBUM" if container.kind == "CAROUSEL" else "IMAGE"
            permalink = f"https://www.instagram.com/p/{shortcode(media_id)}/"
        media = Media(id=media_id, owner=user.id, caption=container.params.get("caption") or "",
                      media_type=media_type, media_product_type=product, timestamp=self.now(),
                      permalink=permalink, container_id=container.id)
        self._media[media_id] = media
        return media

    def _publishing_limit(self, req: FakeRequest, token: Token, ig_id: str) -> dict[str, Any]:
        self._ig_user(ig_id, token, "GET")
        since = req.params.get("since")
        if since and not self.now() - 86400 <= float(since) <= self.now():  # message is an assumption
            raise GraphFault(100, "(#100) The since parameter must be a Unix timestamp within the last 24 hours")
        item: dict[str, Any] = {"quota_usage": self.quota_usage(ig_id, float(since) if since else None)}
        if "config" in top_fields(req.params.get("fields")):
            item["config"] = {"quota_total": self.quota_total, "quota_duration": self.quota_duration}
        return {"data": [item]}

    def _media_record(self, media_id: str, token: Token) -> dict[str, Any]:
        media = self._media[media_id]
        user = self._ig_user(media.owner, token, "GET")
        record = {"id": media.id, "caption": media.caption or None, "media_type": media.media_type,
                  "media_product_type": media.media_product_type, "permalink": media.permalink,
                  "timestamp": graph_time(media.timestamp), "shortcode": shortcode(media.id),
                  "username": user.username}
        if media.media_product_type != "STORY":
            record.update(like_count=media.like_count, comments_count=media.comments_count)
        return record

    def _list_media(self, req: FakeRequest, token: Token, ig_id: str) -> dict[str, Any]:
        self._ig_user(ig_id, token, "GET")
        found = sorted((m for m in self._media.values() if m.owner == ig_id and m.media_product_type != "STORY"),
                       key=lambda m: m.timestamp, reverse=True)
        return self._timeline([(m.timestamp, m.id, self._pick(self._media_record(m.id, token), req, "IGMedia", "id"))
                               for m in found], req)

    def _list_stories(self, req: FakeRequest, token: Token, ig_id: str) -> dict[str, Any]:
        self._ig_user(ig_id, token, "GET")
        found = sorted((m for m in self._media.values() if m.owner == ig_id and m.media_product_type == "STORY"
                        and self.now() - m.timestamp < 86400), key=lambda m: m.timestamp, reverse=True)
        return self._timeline([(m.timestamp, m.id, self._pick(self._media_record(m.id, token), req, "IGMedia", "id"))
                               for m in found], req)
