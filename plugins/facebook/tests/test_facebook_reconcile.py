"""An earlier attempt is found on the Page however many posts came after it, and a task whose
attempt cannot be told apart is ``unconfirmed``, never sent again (issue 19, item 1).

The plugin runs against the fake Graph API over real HTTP; "the worker died" is a new context
holding only what the plugin committed (see :mod:`graph_drive`).
"""

from __future__ import annotations

import pytest
from graph_drive import CAPTION, connect_account, fb_task, ig_task, image

from conftest import start_app, with_changes
from drive import work
from fakes.graph import IG_TOKEN, IG_USER_ID, PAGE_ID, PAGE_TOKEN
from herald.config import Config
from herald.db.models import Event, db
from herald_facebook import FacebookPlatform
from herald_graph.graph import GraphClient
from herald_instagram import InstagramPlatform

facebook = FacebookPlatform()
instagram = InstagramPlatform()


@pytest.fixture
def graph_config(fake):
    """Herald settings pointing the Graph base URL at the fake."""
    return Config().with_settings(**fake.hosts())


@pytest.fixture
def app(clock, config, fake):
    """Herald with its Graph base URL on the fake."""
    application = start_app(clock, with_changes(config, **fake.hosts(), public_url="https://herald.test"))
    yield application
    db.obj.close_all()


def other_posts(fake, count: int, text: str = "Another post from the Page's team") -> None:
    """``count`` posts someone else makes on the Page meanwhile (each with its own text)."""
    client = GraphClient(Config().with_settings(**fake.hosts()), PAGE_TOKEN)
    for number in range(count):
        client.post(f"{PAGE_ID}/feed", message=f"{text} {number}")


def orphaned_attempt(fake, config):
    """A text post Meta carried out while the worker never heard back, and could not look either:
    the worker gives up for now (and dies), leaving only what it committed."""
    task = fb_task(fake, config)
    fake.drop_connection_after(r"/feed$", method="POST")
    fake.fail_next(r"/published_posts$", code=2)
    assert facebook.publish(task.ctx).kind == "transient"
    [ours] = fake.published(PAGE_ID)
    return task, ours


def feed_posts(fake) -> list:
    return fake.calls("POST", r"/feed$")


def test_an_attempt_with_60_newer_posts_on_the_page_is_found_and_not_sent_again(fake, graph_config):
    task, ours = orphaned_attempt(fake, graph_config)
    other_posts(fake, 60)
    ctx = task.after_crash()
    outcome = facebook.reconcile(ctx)
    assert (outcome.kind, outcome.platform_post_id, outcome.url) == ("published", ours["id"], ours["permalink_url"])
    assert facebook.publish(ctx).platform_post_id == ours["id"]
    assert [post["message"] for post in fake.published(PAGE_ID)].count(CAPTION) == 1
    assert len(feed_posts(fake)) == 61


def test_the_page_is_read_back_page_by_page_within_the_attempts_window(fake, graph_config, monkeypatch):
    monkeypatch.setattr("herald_graph.lookup.PAGE_SIZE", 25)
    task, ours = orphaned_attempt(fake, graph_config)
    other_posts(fake, 60)
    reads_before = len(fake.calls("GET", r"/published_posts$"))
    outcome = facebook.reconcile(task.after_crash())
    assert (outcome.kind, outcome.platform_post_id) == ("published", ours["id"])
    reads = fake.calls("GET", r"/published_posts$")[reads_before:]
    assert len(reads) == 3 and [("after" in read.params) for read in reads] == [False, True, True]
    assert all(read.params["since"] == reads[0].params["since"] for read in reads)  # the window, every page
    assert not any("access_token" in read.params for read in reads)  # Meta's next link has it; Herald's call does not
    assert int(reads[0].params["since"]) < int(reads[0].params["until"]) and len(feed_posts(fake)) == 61


def test_a_read_that_fails_mid_paging_leaves_the_task_unconfirmed_and_not_sent(fake, graph_config, monkeypatch):
    monkeypatch.setattr("herald_graph.lookup.PAGE_SIZE", 25)
    task, _ = orphaned_attempt(fake, graph_config)
    other_posts(fake, 60)
    fake.fail_next(r"/published_posts$", code=100, message="(#100) Invalid cursor", with_param="after")
    outcome = facebook.reconcile(task.after_crash())
    assert outcome.kind == "unconfirmed"
    assert "Invalid cursor" in outcome.reason and "Check the Page" in outcome.reason
    assert len(feed_posts(fake)) == 61


def test_a_passing_failure_mid_paging_is_read_again_then_unconfirmed_never_sent(fake, graph_config, monkeypatch):
    monkeypatch.setattr("herald_graph.lookup.PAGE_SIZE", 25)
    task, _ = orphaned_attempt(fake, graph_config)  # its own look already failed once
    other_posts(fake, 60)
    fake.fail_next(r"/published_posts$", code=2, with_param="after", times=None)
    ctx = task.after_crash()
    first = facebook.reconcile(ctx)
    assert first.kind == "transient" and "reads the Page again before sending" in first.reason
    assert facebook.publish(ctx).kind == "unconfirmed"
    assert len(feed_posts(fake)) == 61


def test_two_posts_with_the_text_in_the_attempts_window_are_unconfirmed(fake, graph_config):
    task, _ = orphaned_attempt(fake, graph_config)
    GraphClient(graph_config, PAGE_TOKEN).post(f"{PAGE_ID}/feed", message=CAPTION)  # the same text, by hand
    outcome = facebook.reconcile(task.after_crash())
    assert outcome.kind == "unconfirmed" and "2 posts on the Page have this text" in outcome.reason
    assert len(feed_posts(fake)) == 2


def test_an_instagram_container_published_before_60_newer_media_gets_its_own_media_id(fake, graph_config):
    fake.drop_connection_after(r"/media_publish$")
    task = ig_task(fake, graph_config)
    assert instagram.publish(task.ctx).kind == "pending"
    [ours] = fake.published(IG_USER_ID)
    client = GraphClient(graph_config, IG_TOKEN)
    for number in range(60):
        container = client.post(f"{IG_USER_ID}/media", image_url=image().url, caption=f"Another photo {number}")
        client.post(f"{IG_USER_ID}/media_publish", creation_id=container["id"])
    found = instagram.reconcile(task.after_crash())
    assert (found.kind, found.platform_post_id, found.url) == ("published", ours["id"], ours["permalink"])
    assert len(fake.calls("POST", r"/media_publish$")) == 61


def test_an_unconfirmed_task_is_final_shown_and_announced(fake, client, tenant, redis_client):
    account = connect_account(client, tenant, "facebook", PAGE_TOKEN).get_json()
    fake.drop_connection_after(r"/feed$", method="POST")
    fake.fail_next(r"/published_posts$", code=10, message="(#10) Permission denied", times=None)
    body = client.post("/v1/publish", json={"content": CAPTION, "accounts": [account["id"]]},
                       headers=tenant.headers).get_json()
    assert work(redis_client) == 1
    detail = client.get(f"/v1/posts/{body['id']}", headers=tenant.headers).get_json()
    [task] = detail["tasks"]
    assert (detail["status"], task["status"]) == ("unconfirmed", "unconfirmed")
    assert "Check the Page" in task["error"] and task["platform_post_id"] is None
    listed = client.get("/v1/posts?status=unconfirmed", headers=tenant.headers).get_json()
    assert [post["id"] for post in listed["posts"]] == [body["id"]]
    with db.connection_context():
        [event] = [row.data for row in Event.select().where(Event.type == "publish.failed")]
    assert event["task"]["status"] == "unconfirmed"
    assert work(redis_client) == 0 and len(feed_posts(fake)) == 1  # final: nothing is queued to send it again
