"""The client portal in a real browser: Playwright drives Debian's headless Chromium against the real
application served on a loopback port. View, approve, reject with a reason, comment, a link without
the permission, a cross-site form, revoked and expired links, a phone-sized screen, no JavaScript.

``make test`` installs Chromium (``apt-get install chromium``) when it is missing. Set
``HERALD_PORTAL_SCREENSHOT=docs/portal.png`` to keep the screenshot the last test takes.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from zoneinfo import ZoneInfo

import pytest
from browser_support import chromium, serving
from portal_support import PUBLIC_URL, connect, make_link, number, publish, seed

from drive import work
from herald import PublishOutcome
from herald.db.models import Client, Event, PortalToken, Post, PostComment, db, utcnow
from herald.portal import links as portal


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module."""
    with chromium() as instance:
        yield instance


@pytest.fixture
def app(build_app, plugin):
    """The application (with the scripted platform and a public URL for media)."""
    return build_app(public_url=PUBLIC_URL)


@pytest.fixture
def live(app):
    """The application served over HTTP on a free loopback port; its base URL."""
    with serving(app, "portal-live-server") as url:
        yield url


@pytest.fixture
def seeded(client, tenant, redis_client):
    with db.connection_context():
        other = Client.create(workspace=tenant.workspace, name="Other client")
    return seed(client, tenant, redis_client, other.id)


@pytest.fixture
def open_page(browser, live):
    """Factory: a new page (its own context) at ``path``; ``**options`` go to the browser context."""
    contexts = []

    def open_(path: str, **options):
        context = browser.new_context(**{"viewport": {"width": 1100, "height": 900}, **options})
        contexts.append(context)
        page = context.new_page()
        response = page.goto(live + path)
        return page, response

    yield open_
    for context in contexts:
        context.close()


def status_of(post_id: int) -> str:
    with db.connection_context():
        return Post.get_by_id(post_id).status


def events_of(kind: str) -> list[Event]:
    with db.connection_context():
        return list(Event.select().where(Event.type == kind).order_by(Event.id))


def card(page, post_id: int):
    return page.locator(f"article#post-{post_id}")


def test_view_shows_posts_statuses_media_and_the_chart(client, tenant, seeded, open_page):
    _, path = make_link(client, tenant, "view")
    page, response = open_page(path)
    assert response.status == 200
    assert page.locator("h1").inner_text() == tenant.client.name
    assert page.locator("#awaiting article").count() == 2
    assert page.locator("#upcoming article").count() == 1
    assert page.locator("#published article").count() == 1
    assert page.locator(f"#post-{seeded.other_client}").count() == 0
    published = card(page, seeded.published)
    assert published.locator(".badge").inner_text() == "Published"
    assert published.locator('li[data-platform="scripted"]').inner_text().split() == ["Scripted", "Published"]
    assert card(page, seeded.upcoming).locator(".badge").inner_text() == "Scheduled"
    assert card(page, seeded.upcoming).locator(".when").inner_text().startswith("Scheduled for ")
    # The picture loads (the CSP allows this server's media) and the stylesheet applies.
    image = card(page, seeded.awaiting).locator(".media img")
    image.wait_for()
    assert page.evaluate("img => img.complete && img.naturalWidth", image.element_handle()) == 320
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(245, 247, 250)"
    chart = page.locator("svg.chart")
    assert chart.is_visible() and chart.locator("rect.bar").count() == 30
    assert "43 interactions" in chart.locator("title#chart-title").text_content()
    assert page.locator('[data-stat="likes"] .stat-value').inner_text() == "40"
    assert page.locator("form").count() == 0


def test_approve(client, tenant, seeded, open_page):
    _, path = make_link(client, tenant, "approve", name="Jane")
    page, _ = open_page(path)
    card(page, seeded.awaiting).get_by_role("button", name="Approve").click()
    page.wait_for_url(f"**{path}?notice=approved*")
    assert "Approved." in card(page, seeded.awaiting).locator(".flash").inner_text()
    assert card(page, seeded.awaiting).locator(".badge").inner_text() == "Scheduled"
    assert page.locator("#upcoming article").count() == 2 and page.locator("#awaiting article").count() == 1
    assert status_of(seeded.awaiting) == "queued"
    assert events_of("post.approved")[-1].data["post"]["id"] == f"post_{seeded.awaiting}"


def test_reject_needs_a_reason(client, tenant, seeded, open_page):
    _, path = make_link(client, tenant, "approve")
    page, _ = open_page(path)
    post = card(page, seeded.second_awaiting)
    post.locator("summary", has_text="Reject").click()
    post.get_by_role("button", name="Reject this post").click()  # the browser refuses an empty reason
    assert page.url.endswith(path) and status_of(seeded.second_awaiting) == "pending_approval"
    post.get_by_label("Why?").fill("The caption needs our new opening hours.")
    post.get_by_role("button", name="Reject this post").click()
    page.wait_for_url("**notice=rejected*")
    rejected = page.locator(f"#rejected #post-{seeded.second_awaiting}")
    assert "Rejected. The agency can see your reason." in rejected.locator(".flash").inner_text()
    assert page.locator(f"#awaiting #post-{seeded.second_awaiting}").count() == 0
    assert rejected.locator(".reason").inner_text() == "Reason given: The caption needs our new opening hours."
    assert rejected.locator("form").count() == 0 and rejected.locator("summary").count() == 0
    assert status_of(seeded.second_awaiting) == "rejected"
    assert events_of("post.rejected")[-1].data["note"] == "The caption needs our new opening hours."


def test_comment(client, tenant, seeded, open_page):
    with db.connection_context():
        Client.update(timezone="America/New_York").where(Client.id == tenant.client.id).execute()
    _, path = make_link(client, tenant, "comment")
    page, _ = open_page(path)
    post = card(page, seeded.upcoming)
    assert post.get_by_role("button", name="Approve").count() == 0
    post.locator("summary", has_text="Comment").click()
    post.get_by_label("Your name (optional)").fill("Ana")
    post.get_by_label("Comment", exact=True).fill("Could we use the photo from Tuesday?")
    post.get_by_role("button", name="Send comment").click()
    page.wait_for_url("**notice=commented*")
    post = card(page, seeded.upcoming)
    assert post.locator(".comment-body").inner_text() == "Could we use the photo from Tuesday?"
    assert post.locator(".comment-meta strong").inner_text() == "Ana"
    # Shown in the client's zone, with its abbreviation (EST or EDT, depending on the day).
    written = post.locator(".comment-meta time")
    moment = dt.datetime.fromisoformat(written.get_attribute("datetime")).astimezone(ZoneInfo("America/New_York"))
    assert written.inner_text() == f"{moment:%a} {moment.day} {moment:%b %Y, %H:%M} {moment:%Z}"
    assert moment.strftime("%Z") in ("EST", "EDT")
    with db.connection_context():
        assert [(row.author, row.post_id) for row in PostComment.select()] == [("Ana", seeded.upcoming)]
    assert events_of("post.commented")[-1].data["comment"]["author"] == "Ana"


def test_client_comments_agency_replies_client_sees_the_reply(client, tenant, seeded, open_page):
    _, path = make_link(client, tenant, "comment", name="Jane at Acme")
    page, _ = open_page(path)
    post = card(page, seeded.upcoming)
    post.locator("summary", has_text="Comment").click()
    post.get_by_label("Comment", exact=True).fill("Could we use the photo from Tuesday?")
    post.get_by_role("button", name="Send comment").click()
    page.wait_for_url("**notice=commented*")
    # The agency answers through the API...
    response = client.post(f"/v1/posts/post_{seeded.upcoming}/comments", headers=tenant.headers,
                           json={"body": "Done: Tuesday's photo is in."})
    assert response.status_code == 201, response.get_json()
    # ...and the client, reloading the page, sees the conversation in order, with who wrote what.
    page.reload()
    items = card(page, seeded.upcoming).locator(".comments li")
    assert items.count() == 2
    assert [items.nth(index).get_attribute("data-author-kind") for index in range(2)] == ["client", "agency"]
    assert items.nth(0).locator(".comment-meta strong").inner_text() == "Jane at Acme"
    assert items.nth(0).locator(".who").inner_text() == "Client"
    assert items.nth(1).locator(".comment-meta strong").inner_text() == "Acme Agency"
    assert items.nth(1).locator(".who").inner_text() == "Agency"
    assert items.nth(1).locator(".comment-body").inner_text() == "Done: Tuesday's photo is in."
    assert [event.data["comment"]["author_kind"] for event in events_of("post.commented")] == ["client", "agency"]


def test_failed_posts_show_plain_words_and_no_forms(client, tenant, seeded, open_page, plugin, redis_client):
    account = connect(client, tenant, "tok_live_0009")
    assert client.patch("/api/workspace", json={"require_approval": False}, headers=tenant.headers).status_code == 200
    plugin.platform.script = [PublishOutcome.permanent("(#100) Invalid parameter: token EAAGsecret123")]
    failed = number(publish(client, tenant, accounts=[account], client_id=tenant.client.id,
                            content="This one will fail")["id"])
    work(redis_client)
    _, path = make_link(client, tenant, "approve")
    page, _ = open_page(path)
    post = page.locator(f"#problems #post-{failed}")
    assert post.locator(".badge").inner_text() == "Not published"
    assert post.locator(".platform-note").inner_text() == ("The platform did not accept the post. "
                                                           "Your agency can see why.")
    assert post.locator("form").count() == 0 and post.get_by_role("button").count() == 0
    assert "EAAG" not in page.content() and "Invalid parameter" not in page.content()


def test_view_link_has_no_forms_and_a_forged_post_is_refused(client, tenant, seeded, open_page, live, config):
    _, path = make_link(client, tenant, "view")
    page, _ = open_page(path)
    assert page.locator("form").count() == 0 and page.get_by_role("button").count() == 0
    csrf = portal.csrf_token(config.secret_key, path.removeprefix("/portal/"))
    forged = page.request.post(f"{live}{path}/posts/{seeded.awaiting}/approve", form={"csrf": csrf},
                               max_redirects=0)
    assert forged.status == 403 and "This link does not allow approving posts." in forged.text()
    assert status_of(seeded.awaiting) == "pending_approval"


def test_a_form_on_another_site_cannot_approve(client, tenant, seeded, open_page, live):
    _, path = make_link(client, tenant, "approve")
    page, _ = open_page(path)
    csrf = page.locator('input[name="csrf"]').first.get_attribute("value")
    attacker = (f'<form method="post" action="{live}{path}/posts/{seeded.awaiting}/approve">'
                f'<input type="hidden" name="csrf" value="{csrf}"><button>Win a prize</button></form>')
    # A page on another site, even one that learned the CSRF value, posting the form to the portal.
    page.route("http://attacker.test/", lambda route: route.fulfill(content_type="text/html", body=attacker))
    page.goto("http://attacker.test/")
    with page.expect_navigation():
        page.get_by_role("button", name="Win a prize").click()
    assert "Forms can only be sent from this page." in page.content()
    assert status_of(seeded.awaiting) == "pending_approval"


@pytest.mark.parametrize("how", ["revoked", "expired"])
def test_revoked_or_expired_link(client, tenant, seeded, open_page, how):
    data, path = make_link(client, tenant, "approve")
    if how == "revoked":
        assert client.delete(f"/api/client-portal/tokens/{data['id']}", headers=tenant.headers).status_code == 200
    else:
        with db.connection_context():
            PortalToken.update(expires_at=utcnow() - dt.timedelta(minutes=1)).where(
                PortalToken.id == data["id"]).execute()
    page, response = open_page(path)
    assert response.status == 410
    assert page.locator("h1").inner_text() == "This link has expired"
    assert page.locator("article").count() == 0 and page.locator("form").count() == 0


def test_phone_sized_screen_has_no_horizontal_scroll(client, tenant, seeded, open_page):
    _, path = make_link(client, tenant, "approve")
    with db.connection_context():  # a long word must wrap, not widen the page
        Post.update(caption="https://example.com/" + "a-very-long-link-" * 12).where(
            Post.id == seeded.upcoming).execute()
    page, _ = open_page(path, viewport={"width": 375, "height": 812}, is_mobile=True, device_scale_factor=2)
    for summary in page.locator("summary").all():  # open every reject and comment form
        summary.click()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert page.locator("svg.chart").bounding_box()["width"] <= 375


def test_works_without_javascript(client, tenant, seeded, open_page):
    _, path = make_link(client, tenant, "approve")
    page, response = open_page(path, java_script_enabled=False)
    assert response.status == 200 and page.locator("svg.chart rect.bar").count() == 30
    post = card(page, seeded.second_awaiting)
    post.locator("summary", has_text="Comment").click()  # <details> opens without script
    post.get_by_label("Comment", exact=True).fill("Looks good to me.")
    post.get_by_role("button", name="Send comment").click()
    page.wait_for_url("**notice=commented*")
    card(page, seeded.awaiting).get_by_role("button", name="Approve").click()
    page.wait_for_url("**notice=approved*")
    assert status_of(seeded.awaiting) == "queued"
    with db.connection_context():
        assert PostComment.get().body == "Looks good to me."


def test_screenshot(client, tenant, seeded, open_page, tmp_path):
    """The page as an approver sees it (kept in docs/portal.png with HERALD_PORTAL_SCREENSHOT)."""
    _, path = make_link(client, tenant, "approve")
    page, _ = open_page(path, viewport={"width": 1000, "height": 900})
    card(page, seeded.second_awaiting).locator("summary", has_text="Reject").click()
    shot = tmp_path / "portal.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 10_000
    keep = os.environ.get("HERALD_PORTAL_SCREENSHOT")
    if keep:
        shutil.copyfile(shot, keep)


def test_airpost_flow_draft_request_approval_portal_approve_publish(client, tenant, open_page, redis_client):
    """The Airpost document's flow: a draft (create_post), sent for review before it has accounts or a
    schedule, approved by the client in the portal, then published without asking again."""
    assert client.patch("/api/workspace", json={"require_approval": True}, headers=tenant.headers).status_code == 200
    created = client.post("/api/webhooks", headers=tenant.headers, json={
        "action": "create_post", "client_id": tenant.client.id, "caption": "Autumn menu, from Friday",
        "platforms": "scripted"})
    post_id = created.get_json()["post"]["id"]
    asked = client.post(f"/v1/posts/{post_id}/request-approval", json={}, headers=tenant.headers)
    assert asked.status_code == 200 and asked.get_json()["status"] == "pending_approval"
    _, path = make_link(client, tenant, "approve", name="Jane")
    page, _ = open_page(path)
    draft = page.locator(f"#awaiting #post-{post_id}")
    assert draft.locator(".planned").inner_text() == "For Scripted"
    assert draft.locator(".when").inner_text().startswith("Not scheduled yet")
    draft.get_by_role("button", name="Approve").click()
    page.wait_for_url(f"**{path}?notice=approved_draft*")
    approved = page.locator(f"#upcoming #post-{post_id}")
    assert approved.locator(".badge").inner_text() == "Approved"
    assert "The agency will schedule it." in approved.locator(".flash").inner_text()
    assert status_of(post_id) == "approved"
    assert events_of("post.approved")[-1].data["by"].startswith("portal:")

    account = connect(client, tenant)
    published = publish(client, tenant, post_id=f"post_{post_id}", accounts=[account])
    assert published["status"] == "queued"
    assert work(redis_client) == 1
    assert status_of(post_id) == "published"
    page.reload()
    assert page.locator(f"#published #post-{post_id} .badge").inner_text() == "Published"
