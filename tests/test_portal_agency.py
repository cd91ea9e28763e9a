"""The agency's side of the portal over HTTP: replies to the client's comments
(``POST /v1/posts/{id}/comments``), and rejected and failed posts shown to the client read-only,
in plain language. The same flows in a real browser are in test_portal_browser.py."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

import pytest
from portal_support import (
    PUBLIC_URL,
    card_of,
    connect,
    events_of,
    group_of,
    later,
    make_link,
    number,
    post_ids,
    publish,
    seed,
)

from conftest import assert_error
from drive import work
from herald import PublishOutcome
from herald.auth import create_api_key
from herald.db.models import Account, Client, Post, PostComment, db, utcnow
from herald.portal import links as portal

SECRET_ERROR = "(#190) Error validating access token EAAGsecretTOKEN123: session expired; trace=fbtrace_Xy9"


@pytest.fixture
def app(build_app, plugin):
    return build_app(public_url=PUBLIC_URL)


@pytest.fixture
def seeded(client, tenant, redis_client):
    with db.connection_context():
        other = Client.create(workspace=tenant.workspace, name="Other client")
    return seed(client, tenant, redis_client, other.id)


def client_comment(client, path: str, post_id: int, body: str, author: str = "Jane"):
    csrf = portal.csrf_token("test-secret-key", path.removeprefix("/portal/"))
    response = client.post(f"{path}/posts/{post_id}/comments", data={"csrf": csrf, "body": body, "author": author})
    assert response.status_code == 303, response.get_data(as_text=True)
    return response


# -- agency replies ----------------------------------------------------------------------------------

def test_agency_reply_joins_the_conversation_the_client_sees(client, tenant, seeded):
    _, path = make_link(client, tenant, "comment", name="Jane at Acme")
    client_comment(client, path, seeded.upcoming, "Could we use the photo from Tuesday?")
    response = client.post(f"/v1/posts/post_{seeded.upcoming}/comments", headers=tenant.headers,
                           json={"body": "  Yes, it is in now.\r\nHave a look!  "})
    assert response.status_code == 201, response.get_json()
    reply = response.get_json()["comment"]
    assert reply["post_id"] == f"post_{seeded.upcoming}" and reply["kind"] == "comment"
    assert reply["author"] == "key:test (#1)" and reply["author_kind"] == "agency"
    assert reply["body"] == "Yes, it is in now.\nHave a look!" and reply["portal_link_id"] is None
    listed = client.get(f"/v1/posts/post_{seeded.upcoming}/comments", headers=tenant.headers).get_json()["comments"]
    assert [(item["author_kind"], item["author"], item["body"]) for item in listed] == [
        ("client", "Jane", "Could we use the photo from Tuesday?"),
        ("agency", "key:test (#1)", "Yes, it is in now.\nHave a look!")]
    # post.commented for both, its comment saying who wrote it.
    assert [(event.data["post_id"], event.data["comment"]["author_kind"]) for event in events_of("post.commented")] \
        == [(f"post_{seeded.upcoming}", "client"), (f"post_{seeded.upcoming}", "agency")]
    assert events_of("post.commented")[-1].data["comment"] == reply
    # The portal shows the conversation in order; the agency appears under its name, never as an API key.
    card = card_of(client.get(path).get_data(as_text=True), seeded.upcoming)
    metas = re.findall(r'data-author-kind="(\w+)">\s*<p class="comment-meta"><strong>([^<]+)</strong> '
                       r'<span class="who">(\w+)</span>', card)
    assert metas == [("client", "Jane", "Client"), ("agency", "Acme Agency", "Agency")]
    assert "key:test" not in card
    assert card.index("Could we use the photo") < card.index("Yes, it is in now.")


def test_agency_reply_validation_scope_and_isolation(client, tenant, seeded, make_tenant):
    url = f"/v1/posts/post_{seeded.upcoming}/comments"
    assert_error(client.post(url, json={"body": "   "}, headers=tenant.headers), 400, "validation_error", "body")
    assert_error(client.post(url, json={}, headers=tenant.headers), 400, "validation_error", "body")
    assert_error(client.post(url, json={"body": "x" * 5001}, headers=tenant.headers), 400, "validation_error", "body")
    assert_error(client.post(url, json={"body": "Hi", "author": "Me"}, headers=tenant.headers), 400,
                 "validation_error")
    other = make_tenant("Other agency")
    assert_error(client.post(url, json={"body": "Hi"}, headers=other.headers), 404, "not_found")
    with db.connection_context():  # a read-only key of the post's own workspace
        _, key = create_api_key(tenant.workspace, ["posts:read"], name="reader")
    assert_error(client.post(url, json={"body": "Hi"}, headers={"X-API-Key": key}), 403, "forbidden")
    with db.connection_context():
        assert PostComment.select().count() == 0
    assert events_of("post.commented") == []


# -- rejected and failed posts on the portal ---------------------------------------------------------------

@dataclasses.dataclass
class Troubled:
    failed: int  # failed on its only account (a platform error)
    expired: int  # failed because the account's token expired
    partial: int  # published on one account, failed on the other
    rejected: int  # rejected in the portal with a reason
    rejected_by_api: int  # rejected by the agency with an internal note
    old_rejected: int  # rejected 40 days ago


def troubled_posts(client, tenant, redis_client, plugin) -> tuple[Troubled, str]:
    """Posts of every kind that went wrong, and the path of an ``approve`` link."""
    first = connect(client, tenant, "tok_live_0001")
    second = connect(client, tenant, "tok_live_0002")
    cid = tenant.client.id
    plugin.platform.script = [PublishOutcome.permanent(SECRET_ERROR)]
    failed = publish(client, tenant, accounts=[first], client_id=cid, content="Failing post")
    work(redis_client)
    plugin.platform.script = [PublishOutcome.permanent(SECRET_ERROR)]
    expired = publish(client, tenant, accounts=[second], client_id=cid, content="Expired account post")
    work(redis_client)
    plugin.platform.script = [PublishOutcome.permanent(SECRET_ERROR)]
    partial = publish(client, tenant, accounts=[first, second], client_id=cid, content="Half-published post")
    work(redis_client)
    assert client.patch("/api/workspace", json={"require_approval": True}, headers=tenant.headers).status_code == 200
    rejected, by_api, old = (publish(client, tenant, accounts=[first], client_id=cid, schedule=later(3),
                                     content=text) for text in ("To reject", "Agency rejects", "Old rejection"))
    _, path = make_link(client, tenant, "approve", name="Jane")
    csrf = portal.csrf_token("test-secret-key", path.removeprefix("/portal/"))
    for post, reason in ((rejected, "Wrong colours"), (old, "Too old")):
        assert client.post(f"{path}/posts/{number(post['id'])}/reject",
                           data={"csrf": csrf, "reason": reason}).status_code == 303
    assert client.post(f"/v1/posts/{by_api['id']}/reject", json={"note": "Internal: legal said no"},
                       headers=tenant.headers).status_code == 200
    with db.connection_context():
        Post.update(updated_at=utcnow() - dt.timedelta(days=40)).where(Post.id == number(old["id"])).execute()
        # The token health check found the second account's token expired (its post failed because of it).
        Account.update(status="expired").where(Account.id == int(second.removeprefix("acc_"))).execute()
        statuses = {row.id: row.status for row in Post.select()}
    found = Troubled(*(number(post["id"]) for post in (failed, expired, partial, rejected, by_api, old)))
    assert [statuses[post_id] for post_id in dataclasses.astuple(found)] == [
        "failed", "failed", "partially_published", "rejected", "rejected", "rejected"]
    return found, path


def test_rejected_and_failed_posts_have_their_own_read_only_groups(client, tenant, redis_client, plugin):
    posts, path = troubled_posts(client, tenant, redis_client, plugin)
    html = client.get(path).get_data(as_text=True)
    assert post_ids(group_of(html, "problems")) == [posts.partial, posts.expired, posts.failed]  # newest first
    assert post_ids(group_of(html, "rejected")) == [posts.rejected_by_api, posts.rejected]  # not the 40-day-old one
    assert posts.old_rejected not in post_ids(html)
    assert post_ids(group_of(html, "published")) == []  # a partly published post is not "published"
    # Plain words per platform; never the platform's error text or anything from it.
    assert SECRET_ERROR not in html and "EAAG" not in html and "fbtrace" not in html and "#190" not in html
    failed = card_of(html, posts.failed)
    assert 'badge-failed">Not published<' in failed
    assert re.findall(r'<span class="platform-note">([^<]+)</span>', failed) == [
        "The platform did not accept the post. Your agency can see why."]
    assert re.findall(r'<span class="platform-note">([^<]+)</span>', card_of(html, posts.expired)) == [
        "The account needs to be reconnected. Your agency has been told."]
    partial = card_of(html, posts.partial)
    assert 'badge-partially_published">Partly published<' in partial
    assert sorted(re.findall(r'data-status="(\w+)"', partial)[1:]) == ["failed", "published"]
    assert 'href="https://scripted.example/p/' in partial  # the live one still links to the post
    # The client's reason is shown; the agency's internal note is not.
    assert "Reason given:</strong> Wrong colours" in card_of(html, posts.rejected)
    assert "Reason given" not in card_of(html, posts.rejected_by_api) and "legal said no" not in html
    # Nothing to act on: no approve, reject or comment form on any of them (an approve link sees forms elsewhere).
    for post_id in (posts.failed, posts.expired, posts.partial, posts.rejected, posts.rejected_by_api):
        assert "<form" not in card_of(html, post_id)


def test_a_client_cannot_act_on_rejected_or_failed_posts(client, tenant, redis_client, plugin):
    posts, path = troubled_posts(client, tenant, redis_client, plugin)
    csrf = portal.csrf_token("test-secret-key", path.removeprefix("/portal/"))
    for post_id in (posts.failed, posts.partial, posts.rejected):
        response = client.post(f"{path}/posts/{post_id}/comments", data={"csrf": csrf, "body": "Why?"})
        assert response.status_code == 409 and "can no longer be commented on" in response.get_data(as_text=True)
        approved = client.post(f"{path}/posts/{post_id}/approve", data={"csrf": csrf})
        assert approved.status_code == 303 and "error=not_pending" in approved.headers["Location"]
    with db.connection_context():
        assert [row.status for row in Post.select().where(Post.id.in_([posts.failed, posts.partial, posts.rejected]))
                .order_by(Post.id)] == ["failed", "partially_published", "rejected"]
        assert PostComment.select().where(PostComment.kind == "comment").count() == 0
    assert events_of("post.approved") == []
