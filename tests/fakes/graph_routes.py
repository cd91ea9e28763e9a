"""Routing of the fake Graph API and the routes both products share: authentication, node reads,
``debug_token``, ``/me/accounts`` and insights. Instagram, Pages and comment routes live in
:mod:`fakes.graph_instagram`, :mod:`fakes.graph_pages` and :mod:`fakes.graph_comments`.

Every route runs with the fake's lock held and answers a dict (the JSON body of a 200) or raises
:class:`GraphFault`. Paths arrive without their version prefix.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any
from urllib.parse import urlencode

from .graph_comments import CommentsRoutes
from .graph_instagram import InstagramRoutes
from .graph_model import (
    INVALIDATED_MESSAGES,
    FakeRequest,
    GraphFault,
    IGUser,
    Page,
    Token,
    as_list,
    missing_param,
    no_object,
    session_expired_message,
    top_fields,
)
from .graph_pages import PagesRoutes

IG_METRICS = {  # §2.7: which insights each product type has
    "FEED": {"likes", "comments", "saved", "shares", "reach", "views", "total_interactions", "reposts",
             "follows", "profile_visits", "profile_activity"},
    "REELS": {"likes", "comments", "saved", "shares", "reach", "views", "total_interactions", "reposts",
              "ig_reels_avg_watch_time", "ig_reels_video_view_total_time", "reels_skip_rate"},
    "STORY": {"shares", "reach", "views", "total_interactions", "reposts", "follows", "profile_visits",
              "profile_activity", "navigation", "replies"},
}
PAGE_POST_METRICS = {"post_total_media_view_unique", "post_total_media_view", "post_reactions_by_type_total",
                     "post_clicks"}
NODE_FIELDS = {
    "IGUser": {"id", "username", "name", "media_count", "instagram_business_account"},
    "IGMedia": {"id", "caption", "media_type", "media_product_type", "permalink", "timestamp", "like_count",
                "comments_count", "shortcode", "username"},
    "ShadowIGMediaBuilder": {"id", "status_code", "status"},
    "Page": {"id", "name", "access_token", "instagram_business_account", "category"},
    "User": {"id", "name"},
    "Post": {"id", "message", "created_time", "permalink_url", "is_published", "shares", "reactions",
             "comments", "scheduled_publish_time"},
    "Photo": {"id", "name", "permalink_url", "created_time"},
    "Video": {"id", "description", "title", "permalink_url", "reactions", "comments"},
}


def time_param(params: dict[str, Any], name: str) -> float | None:
    """``since``/``until`` as Unix seconds: Graph takes a Unix timestamp or a date it can parse."""
    value = params.get(name)
    if value in (None, ""):
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise GraphFault(100, f"(#100) The parameter {name} is not a valid time") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).timestamp()


def encode_cursor(key: tuple[float, str]) -> str:
    """An opaque cursor naming one item of a list (its time and id)."""
    return base64.urlsafe_b64encode(f"{key[0]!r}|{key[1]}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[float, str]:
    """The item a cursor names; a cursor the fake did not make is Graph's code 100."""
    try:
        stamp, item_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        return float(stamp), item_id
    except (ValueError, UnicodeDecodeError):
        raise GraphFault(100, "(#100) Invalid cursor") from None


class GraphRoutes(InstagramRoutes, PagesRoutes, CommentsRoutes):
    """Dispatch, authentication, node reads, ``debug_token``, ``/me/accounts`` and insights;
    :class:`fakes.graph.FakeGraph` provides the state every route uses."""

    def _dispatch(self, req: FakeRequest) -> dict[str, Any]:
        if req.path.strip("/") == "oauth/access_token" and req.method == "GET":
            return self._exchange_token(req)  # authenticated by the app secret, not by a token
        if req.path.strip("/") == "oauth/access_token" and req.method == "POST":
            return self._exchange_instagram_code(req)  # api.instagram.com's, by the Instagram app's secret
        if req.path.strip("/") == "access_token" and req.method == "GET":
            return self._exchange_instagram_token(req)
        token = self._authenticate(req)
        parts = [part for part in req.path.split("/") if part]
        if parts == ["debug_token"] and req.method == "GET":
            return self._debug_token(req)
        if parts == ["refresh_access_token"] and req.method == "GET":
            return self._refresh_token(req, token)
        if not parts:
            raise GraphFault(100, "(#100) Missing node id")
        if parts[0] == "me":
            parts[0] = token.owner
        if len(parts) == 1:
            if req.method != "GET":
                raise no_object(parts[0], req.method)
            return self._get_node(req, token, parts[0])
        if len(parts) == 2:
            handler = self._edges().get((req.method, parts[1]))
            if handler is None:
                raise GraphFault(2500, f"Unknown path components: /{parts[1]}")
            return handler(req, token, parts[0])
        raise GraphFault(2500, "Unknown path components: /" + "/".join(parts[2:]))

    def _edges(self):
        return {
            ("POST", "media"): self._create_container,
            ("GET", "media"): self._list_media,
            ("GET", "stories"): self._list_stories,
            ("POST", "media_publish"): self._media_publish,
            ("GET", "content_publishing_limit"): self._publishing_limit,
            ("GET", "insights"): self._insights,
            ("POST", "feed"): self._post_feed,
            ("POST", "photos"): self._post_photo,
            ("POST", "videos"): self._post_video,
            ("GET", "feed"): self._list_posts,
            ("GET", "posts"): self._list_posts,
            ("GET", "published_posts"): self._list_posts,
            ("GET", "scheduled_posts"): self._list_scheduled,
            ("GET", "accounts"): self._accounts,
            ("POST", "comments"): self._create_comment,
            ("GET", "comments"): self._list_comments,
        }

    def _authenticate(self, req: FakeRequest) -> Token:
        if not req.token:
            raise GraphFault(104, "An access token is required to request this resource.")
        token = self._tokens.get(req.token)
        if token is None:
            raise GraphFault(190, "Invalid OAuth access token - Cannot parse access token")
        problem = self._token_problem(token)
        if problem:
            raise GraphFault(190, problem["message"], subcode=problem["subcode"])
        return token

    def _token_problem(self, token: Token) -> dict[str, Any] | None:
        if token.invalid_subcode:
            return {"code": 190, "subcode": token.invalid_subcode,
                    "message": INVALIDATED_MESSAGES.get(token.invalid_subcode, "Error validating access token.")}
        if token.expires_at is not None and token.expires_at <= self.now():
            return {"code": 190, "subcode": 463, "message": session_expired_message(token.expires_at, self.now())}
        return None

    def _ig_user(self, ig_id: str, token: Token, method: str) -> IGUser:
        user = self._ig_users.get(ig_id)
        page = self._pages.get(token.owner) if token.kind == "PAGE" else None
        if user is None or not (token.owner == ig_id or (page and page.ig_user_id == ig_id)):
            raise no_object(ig_id, method)
        return user

    def _page(self, page_id: str, token: Token, method: str) -> Page:
        page = self._pages.get(page_id)
        fb_user = self._fb_users.get(token.owner)
        if page is None or not (token.owner == page_id or (fb_user and page_id in fb_user.pages)):
            raise no_object(page_id, method)
        return page

    def _pick(self, record: dict[str, Any], req: FakeRequest, node_type: str, default: str) -> dict[str, Any]:
        fields = top_fields(req.params.get("fields")) or top_fields(default)
        for name in fields:
            if name not in NODE_FIELDS[node_type]:
                raise GraphFault(100, f"(#100) Tried accessing nonexisting field ({name}) on node type ({node_type})")
        picked = {"id": record["id"]} if "id" in record else {}  # Graph always answers a node's id
        picked.update((name, record[name]) for name in fields if record.get(name) is not None)
        return picked

    def _exchange_code(self, req: FakeRequest) -> dict[str, Any]:
        """``oauth/access_token?client_id&redirect_uri&client_secret&code``: a short-lived user token for a
        code the dialog gave (Meta's "Manually Build a Login Flow", "Exchanging Code for an Access Token"):
        the redirect_uri must be the dialog's, and a code works once, for 10 minutes. Meta documents no
        codes for these refusals; 100 with subcodes 36007 (expired) and 36009 (used) are what it answers."""
        for name in ("client_id", "client_secret", "redirect_uri"):
            if not req.params.get(name):
                raise missing_param(name)
        if req.params["client_id"] != self.app_id:
            raise GraphFault(101, "Error validating application. Invalid application ID.")
        if req.params["client_secret"] != self.app_secret:
            raise GraphFault(1, "Error validating client secret.")
        grant = self._codes.get(req.params["code"])
        if grant is None or grant.login != "facebook":
            raise GraphFault(100, "Invalid verification code format.")
        if grant.used:
            raise GraphFault(100, "This authorization code has been used.", subcode=36009)
        if grant.expires_at <= self.now():
            raise GraphFault(100, "This authorization code has expired.", subcode=36007)
        if req.params["redirect_uri"] != grant.redirect_uri:
            raise GraphFault(100, "Error validating verification code. Please make sure your redirect_uri is "
                                  "identical to the one you used in the OAuth dialog request")
        grant.used = True
        value = f"EAAU-short-lived-{next(self._counter)}"
        self._tokens[value] = Token(value=value, kind="USER", owner=grant.user_id, expires_at=self.now() + 5400,
                                    scopes=list(grant.scopes), issued_at=self.now(), app_id=self.app_id)
        return {"access_token": value, "token_type": "bearer", "expires_in": 5400}

    def _exchange_instagram_code(self, req: FakeRequest) -> dict[str, Any]:
        """``POST api.instagram.com/oauth/access_token`` (Business Login for Instagram): a short-lived
        Instagram User token, the user id and the permissions, in ``data``. The refusals' codes are not
        documented; these follow the Graph ones."""
        for name in ("client_id", "client_secret", "grant_type", "redirect_uri", "code"):
            if not req.params.get(name):
                raise missing_param(name)
        if req.params["grant_type"] != "authorization_code":
            raise GraphFault(100, "(#100) Invalid grant_type")
        if (req.params["client_id"], req.params["client_secret"]) != (self.ig_app_id, self.ig_app_secret):
            raise GraphFault(101, "Error validating application. Invalid application ID or secret.")
        grant = self._codes.get(req.params["code"])
        if grant is None or grant.login != "instagram" or grant.used or grant.expires_at <= self.now():
            raise GraphFault(100, "Invalid authorization code")
        if req.params["redirect_uri"] != grant.redirect_uri:
            raise GraphFault(100, "Error validating verification code: the redirect_uri differs from the "
                                  "authorization request's")
        grant.used = True
        value = f"IGAA-short-lived-{next(self._counter)}"
        self._tokens[value] = Token(value=value, kind="USER", owner=grant.user_id, expires_at=self.now() + 3600,
                                    scopes=list(grant.scopes), issued_at=self.now(), app_id=self.ig_app_id)
        return {"data": [{"access_token": value, "user_id": grant.user_id, "permissions": ",".join(grant.scopes)}]}

    def _exchange_instagram_token(self, req: FakeRequest) -> dict[str, Any]:
        """``GET graph.instagram.com/access_token?grant_type=ig_exchange_token``: a long-lived Instagram User
        token (60 days) for a short-lived one, given the Instagram app's secret."""
        if req.params.get("grant_type") != "ig_exchange_token":
            raise GraphFault(100, "(#100) Invalid grant_type")
        if req.params.get("client_secret") != self.ig_app_secret:
            raise GraphFault(1, "Error validating client secret.")
        short = self._authenticate(req)
        if short.owner not in self._ig_users:
            raise GraphFault(100, "(#100) Only Instagram User access tokens can be exchanged here")
        lifetime = 60 * 86400
        value = f"IGAA-long-lived-{next(self._counter)}"
        self._tokens[value] = Token(value=value, kind="USER", owner=short.owner, expires_at=self.now() + lifetime,
                                    scopes=list(short.scopes), issued_at=self.now(), app_id=short.app_id)
        return {"access_token": value, "token_type": "bearer", "expires_in": lifetime}

    def _exchange_token(self, req: FakeRequest) -> dict[str, Any]:
        """``oauth/access_token?grant_type=fb_exchange_token``: a long-lived user token (about 60 days)
        for a user token of the app (§3.1). The error codes for a wrong app id (101) and secret (1)
        are Meta's usual OAuth answers; the research file does not list them. With ``code``: the code
        exchange (:meth:`_exchange_code`)."""
        if "code" in req.params and "grant_type" not in req.params:
            return self._exchange_code(req)
        for name in ("grant_type", "client_id", "client_secret", "fb_exchange_token"):
            if not req.params.get(name):
                raise missing_param(name)
        if req.params["grant_type"] != "fb_exchange_token":
            raise GraphFault(100, "(#100) Invalid grant_type")
        if req.params["client_id"] != self.app_id:
            raise GraphFault(101, "Error validating application. Invalid application ID.")
        if req.params["client_secret"] != self.app_secret:
            raise GraphFault(1, "Error validating client secret.")
        short = self._tokens.get(req.params["fb_exchange_token"])
        if short is None:
            raise GraphFault(190, "Invalid OAuth access token - Cannot parse access token")
        problem = self._token_problem(short)
        if problem:
            raise GraphFault(190, problem["message"], subcode=problem["subcode"])
        if short.kind != "USER" or short.app_id != self.app_id:
            raise GraphFault(190, "Error validating access token: the token was not issued for this application.")
        lifetime = 60 * 86400
        value = f"EAAL-long-lived-{next(self._counter)}"
        self._tokens[value] = Token(value=value, kind="USER", owner=short.owner, expires_at=self.now() + lifetime,
                                    scopes=list(short.scopes), issued_at=self.now(), app_id=short.app_id)
        return {"access_token": value, "token_type": "bearer", "expires_in": lifetime - 1}

    def _refresh_token(self, req: FakeRequest, token: Token) -> dict[str, Any]:
        """``refresh_access_token?grant_type=ig_refresh_token`` (Instagram Login): a new token valid 60
        days, for an Instagram User token at least 24 hours old that has not expired (Meta's reference
        for the endpoint). The codes of the refusals below are not documented; these are plausible."""
        if req.params.get("grant_type") != "ig_refresh_token":
            raise missing_param("grant_type") if not req.params.get("grant_type") else GraphFault(
                100, "(#100) Invalid grant_type")
        if token.kind != "USER" or token.owner not in self._ig_users:
            raise GraphFault(100, "(#100) Only Instagram User access tokens can be refreshed here")
        if self.now() - token.issued_at < 86400:
            raise GraphFault(100, "(#100) The access token is less than 24 hours old and cannot be refreshed yet")
        lifetime = 60 * 86400
        value = f"IGAA-refreshed-{next(self._counter)}"
        self._tokens[value] = Token(value=value, kind="USER", owner=token.owner, expires_at=self.now() + lifetime,
                                    scopes=list(token.scopes), issued_at=self.now(), app_id=token.app_id)
        return {"access_token": value, "token_type": "bearer", "expires_in": lifetime}

    def _debug_token(self, req: FakeRequest) -> dict[str, Any]:
        value = req.params.get("input_token")
        if not value:
            raise missing_param("input_token")
        token = self._tokens.get(value)
        if token is None:
            error = {"code": 190, "message": "Invalid OAuth access token - Cannot parse access token"}
            return {"data": {"error": error, "is_valid": False, "scopes": []}}
        data: dict[str, Any] = {
            "app_id": token.app_id, "type": token.kind, "application": "Herald Test App",
            "data_access_expires_at": int(self.now() + 90 * 86400),
            "expires_at": int(token.expires_at) if token.expires_at is not None else 0,
            "is_valid": True, "issued_at": int(token.issued_at), "scopes": list(token.scopes),
            "user_id": token.owner if token.kind == "USER" else "10220000000000001",
        }
        if token.kind == "PAGE":
            data["profile_id"] = token.owner
        problem = self._token_problem(token)
        if problem:
            data["is_valid"] = False
            data["error"] = problem
        return {"data": data}

    def _get_node(self, req: FakeRequest, token: Token, node_id: str) -> dict[str, Any]:
        if node_id in self._ig_users:
            user = self._ig_user(node_id, token, "GET")
            record = {"id": user.id, "username": user.username, "name": user.username,
                      "media_count": sum(1 for media in self._media.values() if media.owner == user.id)}
            return self._pick(record, req, "IGUser", "id,username")
        if node_id in self._containers:
            return self._container_status(req, token, node_id)
        if node_id in self._media:
            return self._pick(self._media_record(node_id, token), req, "IGMedia", "id")
        if node_id in self._pages:
            return self._page_node(req, token, node_id)
        if node_id in self._fb_users and token.owner == node_id:
            return self._pick({"id": node_id, "name": self._fb_users[node_id].name}, req, "User", "id,name")
        if node_id in self._posts:
            post = self._posts[node_id]
            self._page(post.page_id, token, "GET")
            return self._pick(self._post_record(post), req, "Post", "id,message,created_time")
        if node_id in self._photos:
            photo = self._photos[node_id]
            self._page(photo.page_id, token, "GET")
            record = {"id": photo.id, "name": photo.caption or None,
                      "permalink_url": f"https://www.facebook.com/photo.php?fbid={photo.id}"}
            return self._pick(record, req, "Photo", "id")
        if node_id in self._videos:
            video = self._videos[node_id]
            self._page(video.page_id, token, "GET")
            post = self._posts.get(video.post_id or "")
            record = {"id": video.id, "description": video.description or None, "title": video.title or None,
                      "permalink_url": f"/{video.page_id}/videos/{video.id}/"}
            if post:
                record.update(self._engagement(post))
            return self._pick(record, req, "Video", "id")
        raise no_object(node_id, "GET")

    def _page_node(self, req: FakeRequest, token: Token, page_id: str) -> dict[str, Any]:
        page = self._page(page_id, token, "GET")
        record: dict[str, Any] = {"id": page.id, "name": page.name, "category": "Brand", "access_token": page.token}
        if page.ig_user_id:
            linked = self._ig_users[page.ig_user_id]
            nested = {"id": linked.id}
            if "username" in (req.params.get("fields") or "").split("instagram_business_account", 1)[-1]:
                nested["username"] = linked.username
            record["instagram_business_account"] = nested
        return self._pick(record, req, "Page", "id,name")

    def _accounts(self, req: FakeRequest, token: Token, node_id: str) -> dict[str, Any]:
        user = self._fb_users.get(node_id)
        if user is None or token.owner != node_id:
            kind = "Page" if node_id in self._pages else "IGUser"
            raise GraphFault(100, f"(#100) Tried accessing nonexisting field (accounts) on node type ({kind})")
        data = [{"access_token": self._page_token_for(token, page_id), "category": "Brand",
                 "name": self._pages[page_id].name, "id": page_id,
                 "tasks": ["ANALYZE", "ADVERTISE", "MODERATE", "CREATE_CONTENT", "MANAGE"]}
                for page_id in user.pages]
        if "instagram_business_account" in (req.params.get("fields") or ""):
            for item in data:
                linked = self._pages[item["id"]].ig_user_id
                if linked:
                    item["instagram_business_account"] = {"id": linked, "username": self._ig_users[linked].username}
        return {"data": data, "paging": {"cursors": {"before": "QVFIUmE", "after": "QVFIUmI"}}}

    def _page_token_for(self, user_token: Token, page_id: str) -> str:
        """The Page token ``/me/accounts`` gives: the Page's own, which never expires, for a long-lived
        user token (§3.1); for a short-lived one (a day or less left), a Page token that dies with it."""
        page = self._pages[page_id]
        if user_token.expires_at is None or user_token.expires_at - self.now() > 86400:
            return page.token
        value = f"{page.token}-short-{user_token.value}"
        if value not in self._tokens:
            self._tokens[value] = Token(value=value, kind="PAGE", owner=page_id, expires_at=user_token.expires_at,
                                        scopes=list(self._tokens[page.token].scopes), issued_at=self.now())
        return value

    def _list(self, items: list[dict[str, Any]], req: FakeRequest) -> dict[str, Any]:
        limit = int(req.params.get("limit") or 25)
        return {"data": items[:limit], "paging": {"cursors": {"before": "QVFIUk1", "after": "QVFIUk2"}}}

    def _timeline(self, entries: list[tuple[float, str, dict[str, Any]]], req: FakeRequest) -> dict[str, Any]:
        """One page of a list of posts or media, newest first, as Graph pages them (research §3.2,
        Meta's "Paginated Results"): ``since``/``until`` (Unix seconds or a date) bound ``created_time``,
        ``limit`` (25 by default, at most 100) sizes the page, ``after`` continues from a cursor, and
        ``paging.next`` is an absolute URL (token included, as Meta writes it) present only while more
        items follow. ``entries`` are ``(timestamp, id, record)``; a cursor names an item, not a
        position, so posts made between two reads neither repeat nor hide older ones."""
        since, until = time_param(req.params, "since"), time_param(req.params, "until")
        limit = max(1, min(int(req.params.get("limit") or 25), 100))
        entries = sorted(((stamp, item_id, record) for stamp, item_id, record in entries
                          if (since is None or stamp >= since) and (until is None or stamp <= until)),
                         key=lambda entry: (entry[0], entry[1]), reverse=True)
        after = req.params.get("after")
        if after:
            key = decode_cursor(after)
            entries = [entry for entry in entries if (entry[0], entry[1]) < key]
        page, more = entries[:limit], len(entries) > limit
        paging: dict[str, Any] = {}
        if page:
            paging["cursors"] = {"before": encode_cursor(page[0][:2]), "after": encode_cursor(page[-1][:2])}
        if page and more:
            query = {**req.params, "limit": str(limit), "after": paging["cursors"]["after"],
                     "access_token": req.token or ""}
            paging["next"] = f"{self.base_url}/{req.version or 'v25.0'}{req.path}?{urlencode(query)}"
        return {"data": [record for _, _, record in page], **({"paging": paging} if paging else {})}

    def _insights(self, req: FakeRequest, token: Token, node_id: str) -> dict[str, Any]:
        metrics = as_list(req.params.get("metric"))
        if node_id in self._media:
            media = self._media[node_id]
            self._ig_user(media.owner, token, "GET")
            allowed = IG_METRICS[media.media_product_type]
            values, prefix = media.insights, node_id
        elif node_id in self._posts:
            post = self._posts[node_id]
            self._page(post.page_id, token, "GET")
            allowed, values, prefix = PAGE_POST_METRICS, post.insights, node_id
        else:
            raise no_object(node_id, "GET")
        if not metrics:
            raise GraphFault(100, "(#100) The parameter metric is required")
        for index, name in enumerate(metrics):
            if name not in allowed:
                raise GraphFault(100, f"(#100) metric[{index}] must be one of the following values: "
                                      + ", ".join(sorted(allowed)))
        if node_id in self._media and self._media[node_id].too_few_viewers:
            raise GraphFault(10, "(#10) Not enough viewers for the media to show insights")
        data = [{"name": name, "period": "lifetime", "values": [{"value": values.get(name, 0)}],
                 "title": name.replace("_", " ").capitalize(), "description": f"Lifetime {name}",
                 "id": f"{prefix}/insights/{name}/lifetime"} for name in metrics]
        return {"data": data}
