"""The client portal over HTTP (Flask test client): the token API, the page's headers and groups,
expired and revoked links, forms (CSRF, permissions, another client's post), comments, rate limits.
The same flows in a real browser are in test_portal_browser.py."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import time
from zoneinfo import ZoneInfo

import pytest
from portal_support import PUBLIC_URL, card_of, events_of, group_of, make_link, post_ids, seed

from conftest import assert_error
from herald.auth import create_api_key
from herald.db.models import (
    Client,
    EngagementSnapshot,
    PortalToken,
    Post,
    PostComment,
    PostVersion,
    PublishTask,
    db,
    utcnow,
)
from herald.intelligence import engagement_chart
from herald.portal import links as portal
from herald.publishing import comments


@pytest.fixture
def app(build_app, plugin):
    """The application with the scripted platform and a public URL (media can be published)."""
    return build_app(public_url=PUBLIC_URL)


@pytest.fixture
def other_client(app, tenant):
    """A second client of the same workspace."""
    with db.connection_context():
        return Client.create(workspace=tenant.workspace, name="Other client")


@pytest.fixture
def seeded(client, tenant, redis_client, other_client):
    return seed(client, tenant, redis_client, other_client.id)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]{64})"', html).group(1)


def post_status(post_id: int) -> str:
    with db.connection_context():
        return Post.get_by_id(post_id).status


# -- the token API --------------------------------------------------------------------------------

def test_create_token_shows_the_url_once_and_stores_only_a_digest(client, tenant):
    before = utcnow()
    data, path = make_link(client, tenant, "approve", name="Jane at Acme")
    token = path.removeprefix("/portal/")
    assert data["url"] == f"{PUBLIC_URL}/portal/{token}"
    assert len(token) >= 43 and re.fullmatch(r"[A-Za-z0-9_-]+", token)  # 32 random bytes, URL-safe
    assert data["permissions"] == "approve" and data["client_id"] == tenant.client.id
    assert data["name"] == "Jane at Acme" and data["status"] == "active" and data["display"] == f"…{token[-4:]}"
    expires = dt.datetime.fromisoformat(data["expires_at"].removesuffix("Z"))
    assert dt.timedelta(days=30) - dt.timedelta(minutes=1) <= expires - before <= dt.timedelta(days=30, minutes=1)
    with db.connection_context():
        row = PortalToken.get_by_id(data["id"])
        assert row.digest == hashlib.sha256(token.encode()).hexdigest()
        assert token not in str(row.__data__.values())
    listed = client.get("/api/client-portal/tokens", headers=tenant.headers).get_json()["tokens"]
    assert [item["id"] for item in listed] == [data["id"]]
    assert "url" not in listed[0] and token not in str(listed)
    second, _ = make_link(client, tenant, "view")
    assert second["url"] != data["url"]


@pytest.mark.parametrize("extra, days", [({"expires_in_days": 7}, 7), ({"expires_in_days": 365}, 365)])
def test_expiry_in_days(client, tenant, extra, days):
    data, _ = make_link(client, tenant, "view", **extra)
    expires = dt.datetime.fromisoformat(data["expires_at"].removesuffix("Z"))
    assert abs(expires - (utcnow() + dt.timedelta(days=days))) < dt.timedelta(minutes=1)


def test_expiry_at_a_time_is_kept_in_utc(client, tenant):
    when = (utcnow() + dt.timedelta(days=10)).replace(microsecond=0)
    data, _ = make_link(client, tenant, "view", expires_at=when.isoformat() + "+02:00")
    assert data["expires_at"] == (when - dt.timedelta(hours=2)).isoformat() + "Z"


@pytest.mark.parametrize("extra, field, words", [
    ({"expires_in_days": 366}, "expires_in_days", "365"),
    ({"expires_in_days": 0}, "expires_in_days", None),
    ({"expires_at": "2020-01-01T00:00:00Z"}, "expires_at", "past"),
    ({"expires_at": "2999-01-01T00:00:00Z"}, "expires_at", "365 days"),
    ({"expires_at": "tomorrow"}, "expires_at", "ISO-8601"),
    ({"expires_at": (dt.datetime(2030, 1, 1)).isoformat()}, "expires_at", "offset"),
    ({"expires_at": "2030-01-01T00:00:00Z", "expires_in_days": 3}, "expires_at", "not both"),
    ({"permissions": "edit"}, "permissions", None),
    ({"client_id": "1"}, "client_id", None),
    ({"surprise": 1}, None, "surprise"),
])
def test_create_token_validation_errors_name_the_field(client, tenant, extra, field, words):
    body = {"client_id": tenant.client.id, "permissions": "view", **extra}
    error = assert_error(client.post("/api/client-portal/create-token", json=body, headers=tenant.headers),
                         400, "validation_error", field if field else "<any>")
    if words:
        assert words in error["message"], error


def test_token_api_is_scoped_to_the_workspace(client, tenant, make_tenant):
    other = make_tenant("Other Agency")
    theirs, _ = make_link(client, other, "view")
    assert_error(client.post("/api/client-portal/create-token", json={"client_id": other.client.id,
                                                                       "permissions": "view"},
                             headers=tenant.headers), 404, "not_found", "client_id")
    listed = client.get("/api/client-portal/tokens", headers=tenant.headers).get_json()
    assert listed == {"tokens": [], "next_cursor": None}
    assert_error(client.delete(f"/api/client-portal/tokens/{theirs['id']}", headers=tenant.headers),
                 404, "not_found")
    assert_error(client.delete("/api/client-portal/tokens/999", headers=tenant.headers), 404, "not_found")
    assert client.get("/api/client-portal/tokens", headers=other.headers).get_json()["tokens"][0]["status"] == "active"


def test_token_api_needs_a_key_and_the_scopes(client, tenant):
    with db.connection_context():
        _, reader = create_api_key(tenant.workspace, ("posts:read",))
        _, writer = create_api_key(tenant.workspace, ("posts:read", "posts:write"))
    body = {"client_id": tenant.client.id, "permissions": "view"}
    assert_error(client.post("/api/client-portal/create-token", json=body), 401, "unauthorized")
    assert_error(client.post("/api/client-portal/create-token", json=body, headers={"X-API-Key": reader}),
                 403, "forbidden")
    assert client.get("/api/client-portal/tokens", headers={"X-API-Key": reader}).status_code == 200
    # A link that approves is as strong as the publish scope: a key without it cannot hand one out.
    error = assert_error(client.post("/api/client-portal/create-token", json={**body, "permissions": "approve"},
                                     headers={"X-API-Key": writer}), 403, "forbidden")
    assert "publish" in error["message"]
    assert client.post("/api/client-portal/create-token", json=body,
                       headers={"X-API-Key": writer}).status_code == 201


def test_url_uses_the_request_host_without_a_public_url(build_app, tenant):
    app = build_app(public_url=None)
    response = app.test_client().post("/api/client-portal/create-token", base_url="http://portal.example:8080",
                                      json={"client_id": tenant.client.id, "permissions": "view"},
                                      headers=tenant.headers)
    assert response.status_code == 201
    assert response.get_json()["url"].startswith("http://portal.example:8080/portal/")


def test_list_filters_by_client_and_shows_status(client, tenant, other_client):
    mine, _ = make_link(client, tenant, "view")
    theirs = client.post("/api/client-portal/create-token", json={"client_id": other_client.id,
                                                                   "permissions": "comment"},
                         headers=tenant.headers).get_json()
    revoked = client.delete(f"/api/client-portal/tokens/{theirs['id']}", headers=tenant.headers)
    assert revoked.status_code == 200 and revoked.get_json()["status"] == "revoked"
    with db.connection_context():
        PortalToken.update(expires_at=utcnow() - dt.timedelta(seconds=1)).where(PortalToken.id == mine["id"]).execute()
    listed = client.get("/api/client-portal/tokens", headers=tenant.headers).get_json()["tokens"]
    assert [(item["id"], item["status"]) for item in listed] == [(theirs["id"], "revoked"), (mine["id"], "expired")]
    only = client.get("/api/client-portal/tokens", query_string={"client_id": other_client.id},
                      headers=tenant.headers).get_json()["tokens"]
    assert [item["id"] for item in only] == [theirs["id"]]
    assert_error(client.get("/api/client-portal/tokens", query_string={"client_id": "x"}, headers=tenant.headers),
                 400, "validation_error", "client_id")


# -- the page -------------------------------------------------------------------------------------

def test_page_groups_the_clients_posts_and_protects_the_token(client, tenant, seeded):
    _, path = make_link(client, tenant, "view")
    response = client.get(path)
    assert response.status_code == 200 and response.mimetype == "text/html"
    headers = response.headers
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert "script-src" not in headers["Content-Security-Policy"]  # no script at all: default-src 'none'
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Robots-Tag"].startswith("noindex")
    assert headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    assert "<script" not in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")

    def group(name: str) -> str:
        return html.split(f'id="{name}"', 1)[1].split("</section>", 1)[0]

    ids = lambda text: [int(found) for found in re.findall(r'data-post-id="(\d+)"', text)]  # noqa: E731
    assert ids(group("awaiting")) == [seeded.awaiting, seeded.second_awaiting]
    assert ids(group("upcoming")) == [seeded.upcoming]
    assert ids(group("published")) == [seeded.published]
    assert f'data-post-id="{seeded.other_client}"' not in html and "Another client" not in html
    assert 'data-platform="scripted" data-status="published"' in group("published")
    assert 'href="https://scripted.example/p/' in group("published")
    assert re.search(r'<img src="/media/[^"]+/spring.png"', group("awaiting"))
    assert 'data-stat="posts"><span class="stat-value">4<' in html
    assert 'data-stat="published"><span class="stat-value">1<' in html
    assert 'data-stat="likes"><span class="stat-value">40<' in html
    assert html.count('<rect class="bar"') == 30
    values = [int(value) for value in re.findall(r'data-value="(\d+)"', html)]
    assert sum(values) == 43 and values[-1] == 15 and values[-4] == 15 and values[-6] == 13
    assert "<form" not in html  # a view link has no forms


def test_media_preview_links_serve_the_picture(client, tenant, seeded):
    _, path = make_link(client, tenant, "view")
    src = re.search(r'<img src="(/media/[^"]+)"', client.get(path).get_data(as_text=True)).group(1)
    picture = client.get(src)
    assert picture.status_code == 200 and picture.mimetype == "image/png" and picture.data.startswith(b"\x89PNG")


def test_stylesheet_is_served_from_this_server(client):
    response = client.get("/static/portal.css")
    assert response.status_code == 200 and "text/css" in response.content_type
    assert "@import" not in response.get_data(as_text=True) and "url(" not in response.get_data(as_text=True)


@pytest.mark.parametrize("how", ["revoked", "expired", "archived client"])
def test_revoked_or_expired_link_shows_only_that_it_expired(client, tenant, seeded, how):
    data, path = make_link(client, tenant, "approve")
    csrf = csrf_of(client.get(path).get_data(as_text=True))
    if how == "revoked":
        assert client.delete(f"/api/client-portal/tokens/{data['id']}", headers=tenant.headers).status_code == 200
    elif how == "expired":
        with db.connection_context():
            PortalToken.update(expires_at=utcnow() - dt.timedelta(seconds=1)).where(
                PortalToken.id == data["id"]).execute()
    else:
        assert client.delete(f"/api/clients/{tenant.client.id}", headers=tenant.headers).status_code == 200
    for response in (client.get(path),
                     client.post(f"{path}/posts/{seeded.awaiting}/approve", data={"csrf": csrf})):
        assert response.status_code == 410
        html = response.get_data(as_text=True)
        assert "This link has expired" in html and "data-post-id" not in html and "Spring" not in html
        assert response.headers["Cache-Control"] == "no-store"
    assert post_status(seeded.awaiting) == "pending_approval"


def test_unknown_token_is_404_with_the_same_page(client):
    response = client.get("/portal/" + "A" * 43)
    assert response.status_code == 404 and "This link has expired" in response.get_data(as_text=True)


# -- forms ----------------------------------------------------------------------------------------

def test_approve_through_the_portal_records_event_and_version(client, tenant, seeded, redis_client):
    data, path = make_link(client, tenant, "approve", name="Jane")
    csrf = csrf_of(client.get(path).get_data(as_text=True))
    response = client.post(f"{path}/posts/{seeded.awaiting}/approve", data={"csrf": csrf})
    assert response.status_code == 303
    target = f"{path}?notice=approved&post={seeded.awaiting}#post-{seeded.awaiting}"
    assert response.headers["Location"].endswith(target)
    assert post_status(seeded.awaiting) == "queued"
    approved = events_of("post.approved")[-1]
    assert approved.data["post"]["id"] == f"post_{seeded.awaiting}"
    assert approved.data["by"] == f"portal:Jane (#{data['id']})"
    with db.connection_context():
        version = (PostVersion.select().where(PostVersion.post == seeded.awaiting)
                   .order_by(PostVersion.number.desc()).first())
    assert version.actor == f"portal:Jane (#{data['id']})"
    assert version.changes["status"] == {"before": "pending_approval", "after": "queued"}
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Approved. The post will be published as scheduled." in page
    again = client.post(f"{path}/posts/{seeded.awaiting}/approve", data={"csrf": csrf})
    assert again.status_code == 303 and "error=not_pending" in again.headers["Location"]


def test_reject_needs_a_reason_which_the_agency_sees(client, tenant, seeded):
    data, path = make_link(client, tenant, "approve")
    csrf = csrf_of(client.get(path).get_data(as_text=True))
    empty = client.post(f"{path}/posts/{seeded.awaiting}/reject", data={"csrf": csrf, "reason": "   "})
    assert empty.status_code == 303 and "error=reason_required" in empty.headers["Location"]
    assert "Please say why you reject this post" in client.get(empty.headers["Location"]).get_data(as_text=True)
    assert post_status(seeded.awaiting) == "pending_approval"
    response = client.post(f"{path}/posts/{seeded.awaiting}/reject",
                           data={"csrf": csrf, "reason": "Wrong colours <b>again</b>", "author": "Jane"})
    assert response.status_code == 303 and post_status(seeded.awaiting) == "rejected"
    rejected = events_of("post.rejected")[-1]
    assert rejected.data["note"] == "Wrong colours <b>again</b>" and rejected.data["by"] == f"portal:#{data['id']}"
    with db.connection_context():
        assert PostVersion.select().where((PostVersion.post == seeded.awaiting)
                                          & (PostVersion.actor == f"portal:#{data['id']}")).count() == 1
    listed = client.get(f"/v1/posts/post_{seeded.awaiting}/comments", headers=tenant.headers).get_json()["comments"]
    assert [(item["kind"], item["author"], item["body"], item["portal_link_id"]) for item in listed] == [
        ("rejection", "Jane", "Wrong colours <b>again</b>", data["id"])]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Rejected. The agency can see your reason." in page
    # No longer awaiting, nor upcoming: in the rejected group, with the reason (escaped), and no forms.
    assert page.count(f'data-post-id="{seeded.awaiting}"') == 1
    assert post_ids(group_of(page, "rejected")) == [seeded.awaiting]
    card = card_of(page, seeded.awaiting)
    assert "Reason given:</strong> Wrong colours &lt;b&gt;again&lt;/b&gt;" in card and "<form" not in card


def test_a_reject_whose_reason_cannot_be_stored_changes_nothing(client, tenant, seeded, monkeypatch):
    _, path = make_link(client, tenant, "approve")
    csrf = csrf_of(client.get(path).get_data(as_text=True))

    def tasks_and_versions():
        with db.connection_context():
            return ([(task.id, task.status, task.due_at) for task in
                     PublishTask.select().where(PublishTask.post == seeded.awaiting).order_by(PublishTask.id)],
                    PostVersion.select().where(PostVersion.post == seeded.awaiting).count())

    before = tasks_and_versions()
    assert {status for _, status, _ in before[0]} == {"pending_approval"}

    def refuse(cls, **fields):  # the reason's insert fails after the post and its tasks were changed
        raise RuntimeError("disk full")

    monkeypatch.setattr(PostComment, "create", classmethod(refuse))
    failed = client.post(f"{path}/posts/{seeded.awaiting}/reject", data={"csrf": csrf, "reason": "Wrong colours"})
    assert failed.status_code == 500 and failed.mimetype == "text/html"  # a page for the browser, not JSON
    assert "Something went wrong" in failed.get_data(as_text=True)
    assert failed.headers["X-Request-ID"] in failed.get_data(as_text=True)
    assert post_status(seeded.awaiting) == "pending_approval" and tasks_and_versions() == before
    assert events_of("post.rejected") == []
    monkeypatch.undo()
    # Sent again once the reason can be stored: rejected, with the reason cleaned as a comment would be.
    response = client.post(f"{path}/posts/{seeded.awaiting}/reject",
                           data={"csrf": csrf, "reason": "  Wrong colours\r\nagain\r\n"})
    assert response.status_code == 303 and "notice=rejected" in response.headers["Location"]
    assert post_status(seeded.awaiting) == "rejected"
    assert {status for _, status, _ in tasks_and_versions()[0]} == {"cancelled"}
    rejected = events_of("post.rejected")
    assert [event.data["note"] for event in rejected] == ["Wrong colours\nagain"]
    assert rejected[0].dispatched_at is not None  # after the commit
    with db.connection_context():
        assert [(row.kind, row.body) for row in PostComment.select()] == [("rejection", "Wrong colours\nagain")]


def test_a_reason_too_long_for_a_comment_is_refused_before_anything_changes(client, tenant, seeded):
    _, path = make_link(client, tenant, "approve")
    csrf = csrf_of(client.get(path).get_data(as_text=True))
    reason = "x" * (comments.MAX_LENGTH + 1)
    response = client.post(f"{path}/posts/{seeded.awaiting}/reject", data={"csrf": csrf, "reason": reason})
    assert response.status_code == 303 and "error=reason_too_long" in response.headers["Location"]
    assert post_status(seeded.awaiting) == "pending_approval" and events_of("post.rejected") == []
    # Line breaks count once, as in a comment: 5,000 characters typed with CRLF line ends fit.
    fits = "\r\n".join(["y" * 99] * 50)
    assert len(fits) > comments.MAX_LENGTH
    response = client.post(f"{path}/posts/{seeded.awaiting}/reject", data={"csrf": csrf, "reason": fits})
    assert "notice=rejected" in response.headers["Location"] and post_status(seeded.awaiting) == "rejected"


@pytest.mark.parametrize("action, done", [("approve", "approved"), ("reject", "rejected")])
def test_approve_and_reject_forms_refuse_the_same_way(client, tenant, seeded, action, done):
    _, path = make_link(client, tenant, "approve")
    _, view_path = make_link(client, tenant, "view")
    csrf = csrf_of(client.get(path).get_data(as_text=True))
    form = {"csrf": csrf, "reason": "Not this one"}
    emitted = len(events_of(f"post.{done}"))
    assert client.post(f"/portal/{'A' * 43}/posts/{seeded.awaiting}/{action}", data=form).status_code == 404
    view = client.post(f"{view_path}/posts/{seeded.awaiting}/{action}",
                       data={**form, "csrf": portal.csrf_token("test-secret-key", view_path.removeprefix("/portal/"))})
    assert view.status_code == 403 and "This link does not allow" in view.get_data(as_text=True)
    assert client.post(f"{path}/posts/{seeded.awaiting}/{action}", data={**form, "csrf": "0" * 64}).status_code == 403
    assert client.post(f"{path}/posts/{seeded.other_client}/{action}", data=form).status_code == 404
    assert client.post(f"{path}/posts/{seeded.upcoming}/{action}", data=form).headers["Location"].endswith(
        f"?error=not_pending&post={seeded.upcoming}#post-{seeded.upcoming}")
    assert post_status(seeded.awaiting) == "pending_approval" and post_status(seeded.upcoming) == "queued"
    assert len(events_of(f"post.{done}")) == emitted
    with db.connection_context():
        assert PostComment.select().count() == 0
    answer = client.post(f"{path}/posts/{seeded.awaiting}/{action}", data=form)
    assert answer.headers["Location"].endswith(f"?notice={done}&post={seeded.awaiting}#post-{seeded.awaiting}")
    assert len(events_of(f"post.{done}")) == emitted + 1


@pytest.mark.parametrize("client_zone, workspace_zone, written, published", [
    ("America/New_York", "Europe/Paris", "Wed 14 Jan 2026, 07:30 EST", "Sat 4 Jul 2026, 12:00 EDT"),
    ("", "Europe/Paris", "Wed 14 Jan 2026, 13:30 CET", "Sat 4 Jul 2026, 18:00 CEST"),  # the workspace's zone
    ("", None, "Wed 14 Jan 2026, 12:30 UTC", "Sat 4 Jul 2026, 16:00 UTC"),
])
def test_comment_and_activity_times_are_shown_in_the_clients_zone(client, tenant, seeded, client_zone,
                                                                   workspace_zone, written, published):
    if workspace_zone:
        assert client.patch("/api/workspace", json={"timezone": workspace_zone},
                            headers=tenant.headers).status_code == 200
    _, path = make_link(client, tenant, "comment")
    csrf = csrf_of(client.get(path).get_data(as_text=True))
    sent = client.post(f"{path}/posts/{seeded.upcoming}/comments", data={"csrf": csrf, "body": "When?"})
    assert sent.status_code == 303
    with db.connection_context():
        Client.update(timezone=client_zone).where(Client.id == tenant.client.id).execute()
        PostComment.update(created_at=dt.datetime(2026, 1, 14, 12, 30)).execute()
        Post.update(published_at=dt.datetime(2026, 7, 4, 16, 0)).where(Post.id == seeded.published).execute()
    html = client.get(path).get_data(as_text=True)
    zone = client_zone or workspace_zone or "UTC"
    assert f"Times are in {zone}." in html
    assert f'<time datetime="2026-01-14T12:30:00Z">{written}</time>' in card_of(html, seeded.upcoming)
    assert f"Published {published}</span>" in card_of(html, seeded.published)
    assert re.search(r"This link works until \w{3} \d+ \w{3} \d{4}, \d\d:\d\d [A-Z+\-0-9]{3,5}\.", html)


def test_comments_reach_the_agency_api_and_emit_an_event(client, tenant, seeded, make_tenant):
    data, path = make_link(client, tenant, "comment", name="Ops")
    html = client.get(path).get_data(as_text=True)
    assert 'class="comment-form"' in html and 'class="approve-form"' not in html
    csrf = csrf_of(html)
    response = client.post(f"{path}/posts/{seeded.upcoming}/comments", data={"csrf": csrf, "body": "Love it!\r\n"})
    assert response.status_code == 303 and "notice=commented" in response.headers["Location"]
    anonymous = client.post(f"{path}/posts/{seeded.upcoming}/comments",
                            data={"csrf": csrf, "body": "Second", "author": "  Bob   Lee "})
    assert anonymous.status_code == 303
    empty = client.post(f"{path}/posts/{seeded.upcoming}/comments", data={"csrf": csrf, "body": " "})
    assert "error=comment_empty" in empty.headers["Location"]
    listed = client.get(f"/v1/posts/post_{seeded.upcoming}/comments", headers=tenant.headers).get_json()["comments"]
    assert [(item["author"], item["body"], item["kind"]) for item in listed] == [
        ("Ops", "Love it!", "comment"), ("Bob Lee", "Second", "comment")]
    commented = events_of("post.commented")
    assert [event.data["comment"]["body"] for event in commented] == ["Love it!", "Second"]
    assert commented[0].data["post_id"] == f"post_{seeded.upcoming}"
    page = client.get(path).get_data(as_text=True)
    assert "Love it!" in page and "Bob Lee" in page
    other = make_tenant("Other Agency")
    assert_error(client.get(f"/v1/posts/post_{seeded.upcoming}/comments", headers=other.headers), 404, "not_found")
    assert_error(client.get(f"/v1/posts/post_{seeded.upcoming}/comments"), 401, "unauthorized")


def test_forms_need_the_links_csrf_value_and_this_site(client, tenant, seeded, make_tenant):
    _, path = make_link(client, tenant, "approve")
    csrf = csrf_of(client.get(path).get_data(as_text=True))
    _, other_path = make_link(client, tenant, "approve")
    for data, headers in (({}, {}), ({"csrf": "0" * 64}, {}),
                          ({"csrf": csrf_of(client.get(other_path).get_data(as_text=True))}, {}),
                          ({"csrf": csrf}, {"Sec-Fetch-Site": "cross-site"})):
        response = client.post(f"{path}/posts/{seeded.awaiting}/approve", data=data, headers=headers)
        assert response.status_code == 403, (data, headers)
        assert "Not allowed" in response.get_data(as_text=True)
    assert post_status(seeded.awaiting) == "pending_approval"
    assert client.post(f"{path}/posts/{seeded.awaiting}/approve", data={"csrf": csrf},
                       headers={"Sec-Fetch-Site": "same-origin"}).status_code == 303


@pytest.mark.parametrize("permissions, action, allowed", [
    ("view", "approve", False), ("view", "reject", False), ("view", "comments", False),
    ("comment", "approve", False), ("comment", "reject", False), ("comment", "comments", True),
    ("approve", "comments", True),
])
def test_forged_posts_without_the_permission_are_refused(client, tenant, seeded, config, permissions, action,
                                                         allowed):
    _, path = make_link(client, tenant, permissions)
    token = path.removeprefix("/portal/")
    forged = {"csrf": portal.csrf_token(config.secret_key, token), "reason": "no", "body": "hi"}
    response = client.post(f"{path}/posts/{seeded.awaiting}/{action}", data=forged)
    assert response.status_code == (303 if allowed else 403)
    if not allowed:
        assert "This link does not allow" in response.get_data(as_text=True)
    assert post_status(seeded.awaiting) == "pending_approval"
    with db.connection_context():
        assert PostComment.select().count() == (1 if allowed else 0)


def test_another_clients_or_workspaces_post_is_404(client, tenant, seeded, make_tenant, redis_client):
    _, path = make_link(client, tenant, "approve")
    csrf = csrf_of(client.get(path).get_data(as_text=True))
    for action in ("approve", "reject", "comments"):
        response = client.post(f"{path}/posts/{seeded.other_client}/{action}",
                               data={"csrf": csrf, "reason": "x", "body": "x"})
        assert response.status_code == 404 and "not part of this portal" in response.get_data(as_text=True)
    assert post_status(seeded.other_client) == "pending_approval"
    assert client.post(f"{path}/posts/999999/approve", data={"csrf": csrf}).status_code == 404
    with db.connection_context():
        assert PostComment.select().count() == 0


def test_each_link_has_its_own_rate_limit(build_app, tenant):
    app = build_app(portal_rate_limit="3/minute")
    client = app.test_client()
    _, path = make_link(client, tenant, "view")
    _, other = make_link(client, tenant, "view")
    assert [client.get(path).status_code for _ in range(3)] == [200, 200, 200]
    limited = client.get(path)
    assert limited.status_code == 429 and 0 < int(limited.headers["Retry-After"]) <= 60
    assert "Too many requests" in limited.get_data(as_text=True)
    assert client.get(other).status_code == 200


def test_the_links_limit_is_flask_limiters_shared_by_the_page_and_its_forms(build_app, tenant):
    app = build_app(portal_rate_limit="3/minute")
    client = app.test_client()
    _, path = make_link(client, tenant, "approve")
    assert client.get(path).status_code == 200
    csrf = portal.csrf_token("test-secret-key", path.removeprefix("/portal/"))
    assert client.post(f"{path}/posts/999999/approve", data={"csrf": csrf}).status_code == 404
    assert client.post(f"{path}/posts/999999/comments", data={"csrf": csrf, "body": "hi"}).status_code == 404
    limited = client.post(f"{path}/posts/999999/reject", data={"csrf": csrf, "reason": "no"})
    assert limited.status_code == 429 and limited.mimetype == "text/html"
    # The headers describe the link's limit, and the page names the seconds Retry-After gives.
    assert limited.headers["X-RateLimit-Limit"] == "3" and limited.headers["X-RateLimit-Remaining"] == "0"
    wait = int(limited.headers["Retry-After"])
    assert 0 < wait <= 60 and f"Please wait {wait} seconds" in limited.get_data(as_text=True)
    assert int(limited.headers["X-RateLimit-Reset"]) >= int(time.time()) + wait - 1
    assert limited.headers["Content-Security-Policy"].startswith("default-src 'none'")


def test_the_per_address_limit_answers_the_portal_with_a_page(build_app, tenant):
    app = build_app(rate_limit="2/minute")
    client = app.test_client()
    _, path = make_link(client, tenant, "view")  # counted against the key, not the address
    assert [client.get(path).status_code for _ in range(2)] == [200, 200]
    limited = client.get(path)
    assert limited.status_code == 429 and limited.mimetype == "text/html"
    assert "Too many requests" in limited.get_data(as_text=True) and limited.headers["Retry-After"]
    assert limited.headers["Referrer-Policy"] == "no-referrer"


# -- pieces ---------------------------------------------------------------------------------------

def test_daily_interactions_are_gains_of_cumulative_counts(app, tenant):
    now = dt.datetime(2026, 6, 30, 12, 0)
    with db.connection_context():
        first = Post.create(workspace=tenant.workspace, client=tenant.client, caption="a")
        second = Post.create(workspace=tenant.workspace, client=tenant.client, caption="b")
        for post, when, likes, comments in ((first, dt.datetime(2026, 5, 1), 100, 0),   # before the window
                                            (first, dt.datetime(2026, 6, 2, 8), 110, 5),
                                            (second, dt.datetime(2026, 6, 2, 9), 7, 0),
                                            (first, dt.datetime(2026, 6, 2, 20), 112, 5),
                                            (first, dt.datetime(2026, 6, 10), 111, 5),  # an unlike
                                            (second, dt.datetime(2026, 6, 30, 11), 20, 1)):
            EngagementSnapshot.create(post=post, likes=likes, comments=comments, recorded_at=when)
        series = dict(engagement_chart.daily_interactions([first.id, second.id], 30, now))
    assert len(series) == 30 and min(series) == dt.date(2026, 6, 1) and max(series) == dt.date(2026, 6, 30)
    assert series[dt.date(2026, 6, 1)] == 0
    assert series[dt.date(2026, 6, 2)] == 17 + 7  # first: 100 -> 117, second: 0 -> 7
    assert series[dt.date(2026, 6, 10)] == 0
    assert series[dt.date(2026, 6, 30)] == 14
    assert sum(series.values()) == 38
    chart = engagement_chart.bar_chart(sorted(series.items()))
    tallest = max(chart.bars, key=lambda bar: bar.value)
    assert tallest.value == 24 and [label for _, label in chart.y_ticks] == ["0", "25", "50"]
    assert all(bar.y + bar.height == pytest.approx(chart.baseline_y) for bar in chart.bars)
    assert "38 interactions" in chart.summary and "02 Jun with 24" in chart.summary


def test_daily_interactions_count_in_the_clients_calendar_days(app, tenant):
    zone = ZoneInfo("America/New_York")
    now = dt.datetime(2026, 11, 3, 3, 30)  # Monday 2 November, 22:30 in New York
    with db.connection_context():
        post = Post.create(workspace=tenant.workspace, client=tenant.client, caption="a")
        for when, likes in ((dt.datetime(2026, 10, 31, 3, 59), 5),   # Friday 30 October, 23:59 EDT
                            (dt.datetime(2026, 10, 31, 4, 0), 8),    # Saturday 31 October, 00:00 EDT
                            (dt.datetime(2026, 11, 2, 4, 30), 10),   # Sunday 1 November, 23:30 EST (the long day)
                            (dt.datetime(2026, 11, 3, 3, 0), 15),    # Monday 2 November, 22:00 EST
                            (dt.datetime(2026, 11, 3, 5, 0), 99)):   # Tuesday in New York: not yet
            EngagementSnapshot.create(post=post, likes=likes, recorded_at=when)
        local = dict(engagement_chart.daily_interactions([post.id], 4, now, zone))
        utc = dict(engagement_chart.daily_interactions([post.id], 4, now))
    assert local == {dt.date(2026, 10, 30): 5, dt.date(2026, 10, 31): 3, dt.date(2026, 11, 1): 2,
                     dt.date(2026, 11, 2): 5}
    assert utc == {dt.date(2026, 10, 31): 8, dt.date(2026, 11, 1): 0, dt.date(2026, 11, 2): 2,
                   dt.date(2026, 11, 3): 89}


def test_migration_creates_the_tables_the_models_describe(app):
    with db.connection_context():
        for model in (PortalToken, PostComment):
            table = model._meta.table_name
            columns = {column.name: column for column in db.get_columns(table)}
            assert set(columns) == {field.column_name for field in model._meta.sorted_fields}, table
            for field in model._meta.sorted_fields:
                assert columns[field.column_name].null == field.null, (table, field.name)
        assert {index.columns[0] for index in db.get_indexes("portal_token") if index.unique} >= {"digest"}


def test_http_errors_on_portal_routes_are_pages_not_json(client, tenant, seeded):
    _, path = make_link(client, tenant, "approve")
    too_large = client.post(f"{path}/posts/{seeded.awaiting}/comments",
                            data={"csrf": "x", "body": "a" * (2 * 1024 * 1024)})
    assert too_large.status_code == 413 and too_large.mimetype == "text/html"
    assert "Content-Security-Policy" in too_large.headers  # the portal's own headers still apply
    # Outside the portal the API keeps its JSON envelope.
    assert_error(client.delete("/api/plan", headers=tenant.headers), 405, "method_not_allowed")
    assert_error(client.get("/api/nothing-here", headers=tenant.headers), 404, "not_found")


def test_portal_addresses_that_match_no_route_are_pages_with_the_portals_headers(client, tenant):
    _, path = make_link(client, tenant, "approve")
    token = path.rsplit("/", 1)[1]
    mistyped = client.get(f"{path}/nothing-here")
    assert mistyped.status_code == 404 and mistyped.mimetype == "text/html"
    page = mistyped.get_data(as_text=True)
    assert "Page not found" in page and "Check the link the agency sent you" in page
    assert token not in page  # nothing echoes the credential in the address
    for name, value in (("Referrer-Policy", "no-referrer"), ("Cache-Control", "no-store"),
                        ("X-Robots-Tag", "noindex, nofollow")):
        assert mistyped.headers[name] == value
    assert "Content-Security-Policy" in mistyped.headers
    wrong_method = client.delete(path)
    assert wrong_method.status_code == 405 and wrong_method.mimetype == "text/html"
    assert set(wrong_method.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
    assert wrong_method.headers["Referrer-Policy"] == "no-referrer"


def test_a_nul_character_in_a_form_is_refused_with_a_page_or_dropped(client, tenant, seeded):
    """PostgreSQL cannot store U+0000: a URL-encoded form carrying one gets the portal's 400 page, a
    multipart one (only a script sends those) has it dropped."""
    _, path = make_link(client, tenant, "comment", name="Ops")
    csrf = csrf_of(client.get(path).get_data(as_text=True))
    refused = client.post(f"{path}/posts/{seeded.upcoming}/comments", data={"csrf": csrf, "body": "Love\x00it"})
    assert refused.status_code == 400 and refused.mimetype == "text/html"
    assert "NUL character" in refused.get_data(as_text=True)
    dropped = client.post(f"{path}/posts/{seeded.upcoming}/comments", content_type="multipart/form-data",
                          data={"csrf": csrf, "body": "Love\x00it", "author": "B\x00ob"})
    assert dropped.status_code == 303, dropped.get_data(as_text=True)
    listed = client.get(f"/v1/posts/post_{seeded.upcoming}/comments", headers=tenant.headers).get_json()["comments"]
    assert [(item["author"], item["body"]) for item in listed] == [("Bob", "Loveit")]
