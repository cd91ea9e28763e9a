"""The Instagram and Facebook plugins against the fake Graph API over real HTTP.

Each test builds a TaskContext directly (no database): a worker "dying" is a new context holding
the last state the plugin committed. Containers move on by status reads, so no test sleeps.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import socket
import time

import pytest
from graph_drive import (
    CAPTION,
    WorkerDied,
    connect_account,
    facebook,
    fb_task,
    ig_account,
    ig_task,
    image,
    instagram,
    make_task,
    page_account,
    upload_jpeg,
    video,
)

import herald_graph.graph
from conftest import assert_error, start_app, with_changes
from drive import advance, work
from fakes.graph import (
    APP_ID,
    APP_SECRET,
    FB_USER_TOKEN,
    IG_TOKEN,
    IG_USER_ID,
    IG_USERNAME,
    PAGE_ID,
    PAGE_NAME,
    PAGE_TOKEN,
    FakeGraph,
)
from herald.clock import FakeClock
from herald.config import Config
from herald.db.models import Event, PublishTask, db
from herald.platforms import AccountRef, PlatformRejected, PlatformUnavailable, PostRef, TaskContext
from herald_graph.graph_errors import RATE_LIMIT_WAIT
from herald_graph.settings import META_APP_ID, META_APP_SECRET
from herald_instagram.publishing import CONFIRM_AFTER, POLL_IMAGE, POLL_VIDEO


@pytest.fixture
def graph_config(fake):
    """Herald settings pointing the Graph base URL at the fake."""
    return Config().with_settings(**fake.hosts())


def index_of(fake, method: str, path_regex: str) -> int:
    """Position in the request log of the first matching request."""
    return next(i for i, req in enumerate(fake.requests) if req.method == method and re.search(path_regex, req.path))


def free_port() -> int:
    """A port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition, timeout: float = 5.0) -> None:
    """Wait for the fake's own thread to finish something (used only after an injected delay)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the fake did not get there in time"
        time.sleep(0.01)


# -- Instagram: the container flows -----------------------------------------------------------

def test_image_post_publishes_in_one_call(fake, graph_config):
    task = ig_task(fake, graph_config)
    outcome = instagram.publish(task.ctx)
    assert outcome.kind == "published"
    [media] = fake.published(IG_USER_ID)
    assert outcome.platform_post_id == media["id"] and outcome.url == media["permalink"]
    assert media["caption"] == CAPTION and media["media_product_type"] == "FEED"
    create = fake.calls("POST", r"/media$")[0]
    assert create.params == {"image_url": "https://media.test/1.jpg", "caption": CAPTION}
    assert create.version == "v25.0" and create.token == IG_TOKEN and "access_token" not in create.params


def test_each_step_is_committed_before_the_next_request(fake, graph_config):
    task = ig_task(fake, graph_config)
    instagram.publish(task.ctx)
    committed = {key: seen for seen, state in reversed(task.commits) for key in state if state[key]}
    assert committed["container_id"] <= index_of(fake, "GET", r"^/18\d+$")
    assert committed["publish_requested_at"] <= index_of(fake, "POST", r"/media_publish$")
    assert task.ctx.state["media_id"] == fake.published(IG_USER_ID)[0]["id"]


def test_reel_is_pending_while_processing_then_check_publishes(fake, graph_config):
    task = ig_task(fake, graph_config, post_type="reel", media=(video(),))
    outcome = instagram.publish(task.ctx)
    assert outcome.kind == "pending" and outcome.retry_after == POLL_VIDEO
    assert outcome.state == {"container_id": task.ctx.state["container_id"]}
    assert fake.published(IG_USER_ID) == []
    assert instagram.check(task.ctx).kind == "published"
    [media] = fake.published(IG_USER_ID)
    assert (media["media_type"], media["media_product_type"]) == ("VIDEO", "REELS")
    assert fake.calls("POST", r"/media$")[0].params["media_type"] == "REELS"


def test_container_needs_several_polls(fake, graph_config):
    fake.next_container(polls_until_finished=3)
    task = ig_task(fake, graph_config)
    kinds = [instagram.publish(task.ctx).kind] + [instagram.check(task.ctx).kind for _ in range(3)]
    assert kinds == ["pending", "pending", "pending", "published"]
    assert len(fake.calls("POST", r"/media_publish$")) == 1


def test_video_post_is_published_as_a_reel_shared_to_feed(fake, graph_config):
    task = ig_task(fake, graph_config, media=(video(),))
    instagram.publish(task.ctx)
    assert fake.calls("POST", r"/media$")[0].params["share_to_feed"] == "true"


def test_carousel_waits_for_items_then_publishes_one_album(fake, graph_config):
    task = ig_task(fake, graph_config, post_type="carousel", media=(image(1), video(2), image(3)))
    outcome = instagram.publish(task.ctx)
    assert outcome.kind == "pending" and "container_id" not in task.ctx.state
    children = task.ctx.state["children"]
    assert len(children) == 3
    assert fake.container(children[1])["params"] == {"media_type": "VIDEO", "video_url": "https://media.test/2.mp4",
                                                     "is_carousel_item": "true"}
    assert instagram.check(task.ctx).kind == "published"
    parent = fake.container(task.ctx.state["container_id"])
    assert parent["kind"] == "CAROUSEL" and parent["children"] == children
    assert parent["params"]["caption"] == CAPTION
    [media] = fake.published(IG_USER_ID)
    assert media["media_type"] == "CAROUSEL_ALBUM"


def test_story_has_no_caption(fake, graph_config):
    task = ig_task(fake, graph_config, post_type="story")
    assert instagram.publish(task.ctx).kind == "published"
    assert fake.calls("POST", r"/media$")[0].params == {"media_type": "STORIES", "image_url": "https://media.test/1.jpg"}
    assert fake.published(IG_USER_ID)[0]["media_product_type"] == "STORY"


def test_container_error_is_permanent_with_the_subcode_meaning(fake, graph_config):
    fake.next_container(polls_until_finished=1, end="ERROR", subcode=2207026)
    task = ig_task(fake, graph_config, post_type="reel", media=(video(),))
    assert instagram.publish(task.ctx).kind == "pending"
    outcome = instagram.check(task.ctx)
    assert outcome.kind == "permanent"
    assert "Media upload has failed with error code 2207026" in outcome.reason and "MP4 or MOV" in outcome.reason
    assert fake.published(IG_USER_ID) == [] and fake.calls("POST", r"/media_publish$") == []


def test_container_error_that_a_new_container_fixes(fake, graph_config):
    fake.next_container(end="ERROR", subcode=2207053)  # "unknown upload error": make a new container
    task = ig_task(fake, graph_config)
    assert instagram.publish(task.ctx).kind == "published"
    assert len(fake.containers(IG_USER_ID)) == 2 and len(fake.published(IG_USER_ID)) == 1


def test_repeated_container_errors_end_permanently(fake, graph_config):
    fake.next_container(end="ERROR", subcode=2207053, times=5)
    outcome = instagram.publish(ig_task(fake, graph_config).ctx)
    assert outcome.kind == "permanent" and "3 attempts" in outcome.reason
    assert len(fake.containers(IG_USER_ID)) == 3


def test_expired_container_is_replaced(fake, graph_config):
    task = ig_task(fake, graph_config, post_type="reel", media=(video(),))
    instagram.publish(task.ctx)
    first = task.ctx.state["container_id"]
    fake.set_container(first, "EXPIRED")
    assert instagram.check(task.ctx).kind == "pending"
    assert task.ctx.state["container_id"] != first
    assert instagram.check(task.ctx).kind == "published"
    assert [m["container_id"] for m in fake.published(IG_USER_ID)] == [task.ctx.state["container_id"]]


def test_container_processing_for_ever_gives_up(fake, graph_config):
    fake.next_container(end="IN_PROGRESS")
    task = ig_task(fake, graph_config, post_type="reel", media=(video(),))
    assert instagram.publish(task.ctx).kind == "pending"
    assert instagram.check(task.ctx).kind == "pending"
    task.ctx.clock.advance(29 * 60)
    assert instagram.check(task.ctx).kind == "pending"  # 29 minutes: Instagram may still finish
    task.ctx.clock.advance(2 * 60)
    outcome = instagram.check(task.ctx)
    assert outcome.kind == "permanent" and "still processing" in outcome.reason


def test_not_ready_on_publish_polls_again(fake, graph_config):
    fake.fail_next(r"/media_publish$", code=9007, subcode=2207027,
                   message="The media is not ready for publishing, please wait for a moment")
    task = ig_task(fake, graph_config)
    assert instagram.publish(task.ctx).kind == "pending"
    assert instagram.check(task.ctx).kind == "published"
    assert len(fake.published(IG_USER_ID)) == 1


def test_exhausted_quota_waits_until_a_slot_frees_and_keeps_the_container(fake, graph_config):
    fake.set_quota_usage(IG_USER_ID, 100, age=20 * 3600)  # they leave the 24-hour window in 4 hours
    task = ig_task(fake, graph_config)
    outcome = instagram.publish(task.ctx)
    assert outcome.kind == "transient" and outcome.retry_after == 6 * 3600
    assert "100 of the 100 posts" in outcome.reason and "about 6 hours" in outcome.reason
    [refused] = fake.calls("POST", r"/media_publish$")  # the quota is read only once Instagram refuses
    assert refused.status == 400 and fake.published(IG_USER_ID) == []
    probes = [req.params.get("since") for req in fake.calls("GET", r"/content_publishing_limit$")]
    assert probes[0] is None and len(probes) == 4  # the limit, then "since" 1, 3 and 6 hours on
    fake.advance(6 * 3600)
    assert instagram.publish(task.after_crash()).kind == "published"
    assert len(fake.calls("POST", r"/media$")) == 1  # the same container, published once


def test_a_publish_within_quota_does_not_read_the_quota(fake, graph_config):
    assert instagram.publish(ig_task(fake, graph_config).ctx).kind == "published"
    assert fake.calls("GET", r"/content_publishing_limit$") == []


def test_quota_used_just_now_waits_the_whole_window(fake, graph_config):
    fake.set_quota_usage(IG_USER_ID, 100)
    outcome = instagram.publish(ig_task(fake, graph_config).ctx)
    assert outcome.kind == "transient" and outcome.retry_after == 86400


def test_quota_error_on_publish_is_transient(fake, graph_config):
    fake.fail_next(r"/media_publish$", code=9, subcode=2207042,
                   message="You reached maximum number of posts that is allowed to be published by Content "
                           "Publishing API.")
    outcome = instagram.publish(ig_task(fake, graph_config).ctx)
    assert outcome.kind == "transient" and outcome.retry_after == 3600
    assert "maximum number of posts" in outcome.reason


# -- Instagram: never twice -------------------------------------------------------------------

def test_lost_publish_answer_then_reconcile_finds_exactly_one_post(fake, graph_config):
    fake.drop_connection_after(r"/media_publish$")
    task = ig_task(fake, graph_config)
    outcome = instagram.publish(task.ctx)
    assert outcome.kind == "pending" and outcome.retry_after == CONFIRM_AFTER
    [media] = fake.published(IG_USER_ID)
    ctx = task.after_crash()  # the worker died here: only committed state survives
    assert "media_id" not in ctx.state and ctx.state["publish_requested_at"]
    found = instagram.reconcile(ctx)
    assert found.kind == "published"
    assert (found.platform_post_id, found.url) == (media["id"], media["permalink"])
    assert instagram.publish(ctx).platform_post_id == media["id"]
    assert len(fake.published(IG_USER_ID)) == 1 and len(fake.calls("POST", r"/media_publish$")) == 1


def test_lost_publish_answer_then_check_finds_the_post(fake, graph_config):
    fake.drop_connection_after(r"/media_publish$")
    task = ig_task(fake, graph_config, post_type="story", media=(video(),))
    assert instagram.publish(task.ctx).kind == "pending"
    assert instagram.check(task.ctx).kind == "pending"
    outcome = instagram.check(task.ctx)
    assert outcome.kind == "published" and outcome.platform_post_id == fake.published(IG_USER_ID)[0]["id"]
    assert len(fake.calls("POST", r"/media_publish$")) == 1


def test_publish_timeout_does_not_publish_twice(fake, graph_config, monkeypatch):
    monkeypatch.setattr(herald_graph.graph, "TIMEOUT", 0.1)
    fake.delay_next(r"/media_publish$", 0.3)
    task = ig_task(fake, graph_config)
    assert instagram.publish(task.ctx).kind == "pending"
    wait_until(lambda: fake.calls("POST", r"/media_publish$")[0].status is not None)
    assert instagram.check(task.ctx).kind == "published"
    assert len(fake.published(IG_USER_ID)) == 1 and len(fake.calls("POST", r"/media_publish$")) == 1


def test_second_publish_reuses_the_saved_container(fake, graph_config):
    task = ig_task(fake, graph_config, post_type="reel", media=(video(),))
    assert instagram.publish(task.ctx).kind == "pending"
    again = task.after_crash()
    assert instagram.publish(again).kind == "published"
    assert len(fake.calls("POST", r"/media$")) == 1 and len(fake.published(IG_USER_ID)) == 1


def test_carousel_items_are_reused_after_a_crash(fake, graph_config):
    task = ig_task(fake, graph_config, post_type="carousel", media=(image(1), image(2)),
                   die_after=lambda state: len(state.get("children") or []) == 1)
    with pytest.raises(WorkerDied):
        instagram.publish(task.ctx)
    ctx = task.after_crash()
    first_item = ctx.state["children"][0]
    ctx._saver = None
    assert instagram.publish(ctx).kind == "published"
    assert ctx.state["children"][0] == first_item
    assert len(fake.calls("POST", r"/media$")) == 3  # two items and the carousel, nothing twice
    assert len(fake.published(IG_USER_ID)) == 1


def test_worker_dying_after_the_container_commit_reuses_it(fake, graph_config):
    task = ig_task(fake, graph_config, die_after=lambda state: bool(state.get("container_id")))
    with pytest.raises(WorkerDied):
        instagram.publish(task.ctx)
    ctx = task.after_crash()
    ctx._saver = None
    assert instagram.reconcile(ctx).kind == "pending"
    assert instagram.check(ctx).kind == "published"
    assert len(fake.calls("POST", r"/media$")) == 1 and len(fake.published(IG_USER_ID)) == 1


def test_reconcile_answers_from_the_saved_container(fake, graph_config):
    assert instagram.reconcile(ig_task(fake, graph_config).ctx) is None  # nothing was created
    task = ig_task(fake, graph_config, post_type="reel", media=(video(),))
    instagram.publish(task.ctx)
    assert instagram.reconcile(task.after_crash()).kind == "pending"
    fake.set_container(task.ctx.state["container_id"], "EXPIRED")
    ctx = task.after_crash()
    assert instagram.reconcile(ctx) is None and not ctx.state["container_id"]
    assert fake.published(IG_USER_ID) == []


# -- Instagram: errors --------------------------------------------------------------------------

def test_expired_token_is_permanent_with_a_reconnect_hint(fake, graph_config):
    fake.expire_token(IG_TOKEN)
    outcome = instagram.publish(ig_task(fake, graph_config).ctx)
    assert outcome.kind == "permanent"
    assert "Session has expired" in outcome.reason and "190/463" in outcome.reason
    assert "reconnect the account" in outcome.reason


def test_rate_limit_waits_as_long_as_the_usage_header_says(fake, graph_config):
    usage = {IG_USER_ID: [{"type": "instagram", "call_count": 100, "total_cputime": 20, "total_time": 20,
                           "estimated_time_to_regain_access": 7}]}
    fake.fail_next(r"/media$", code=80002, headers={"X-Business-Use-Case-Usage": usage})
    outcome = instagram.publish(ig_task(fake, graph_config).ctx)
    assert outcome.kind == "transient" and outcome.retry_after == 7 * 60
    assert "(#80002)" in outcome.reason and "about 7 minutes" in outcome.reason
    assert fake.requests[-1].status == 403


def test_rate_limit_without_a_header_waits_the_default(fake, graph_config):
    fake.fail_next(r"/media$", code=4, headers={"X-App-Usage": {"call_count": 100, "total_time": 9,
                                                                "total_cputime": 9}})
    outcome = instagram.publish(ig_task(fake, graph_config).ctx)
    assert outcome.kind == "transient" and outcome.retry_after == RATE_LIMIT_WAIT
    assert "Application request limit reached" in outcome.reason


@pytest.mark.parametrize("code,status", [(2, 500), (1, 500), (100, 503)])
def test_server_trouble_is_transient(fake, graph_config, code, status):
    fake.fail_next(r"/media$", code=code, status=status)
    outcome = instagram.publish(ig_task(fake, graph_config).ctx)
    assert outcome.kind == "transient" and outcome.reason
    assert "Unknown error" not in outcome.reason


def test_is_transient_flag_is_honoured(fake, graph_config):
    fake.fail_next(r"/media$", code=-3, is_transient=True, message="Service temporarily unavailable")
    assert instagram.publish(ig_task(fake, graph_config).ctx).kind == "transient"


def test_invalid_parameter_is_permanent_with_metas_message(fake, graph_config):
    fake.fail_next(r"/media$", code=100, message="(#100) Param image_url is not a valid URL")
    outcome = instagram.publish(ig_task(fake, graph_config).ctx)
    assert outcome.kind == "permanent"
    assert outcome.reason.startswith("(#100) Param image_url is not a valid URL (Graph API error 100).")
    assert "check the post's caption and media" in outcome.reason


def test_too_long_caption_is_refused_by_instagram(fake, graph_config):
    outcome = instagram.publish(ig_task(fake, graph_config, caption="x" * 2201).ctx)
    assert outcome.kind == "permanent"
    assert "2201 characters" in outcome.reason and "36004/2207010" in outcome.reason
    assert "Shorten the caption" in outcome.reason


def test_missing_permission_is_permanent(fake, graph_config):
    fake.fail_next(r"/media$", code=10, message="(#10) Application does not have permission for this action")
    outcome = instagram.publish(ig_task(fake, graph_config).ctx)
    assert outcome.kind == "permanent" and "instagram_content_publish" in outcome.reason


def test_unreachable_graph_is_transient():
    port = free_port()
    config = Config().with_settings(graph_base_url=f"http://127.0.0.1:{port}")
    outcome = instagram.publish(make_task(None, config, ig_account(), media=(image(),)).ctx)
    assert outcome.kind == "transient" and f"Could not reach 127.0.0.1:{port}" in outcome.reason


@pytest.mark.parametrize("post_type,media,expected", [
    ("post", (), "needs an image or a video"),
    ("post", (image(1, "image/png"),), "JPEG images only"),
    ("reel", (image(),), "exactly one video"),
    ("carousel", (image(),), "2 to 10"),
    ("story", (image(1), image(2)), "exactly one image or video"),
])
def test_posts_instagram_cannot_take_are_refused_without_a_call(fake, graph_config, post_type, media, expected):
    outcome = instagram.publish(ig_task(fake, graph_config, post_type=post_type, media=media).ctx)
    assert outcome.kind == "permanent" and expected in outcome.reason
    assert fake.requests == []


def test_graph_version_comes_from_the_config(fake):
    config = Config().with_settings(graph_base_url=fake.base_url + "/", graph_version="v24.0")
    instagram.publish(make_task(fake, config, ig_account(), media=(image(),)).ctx)
    assert {req.version for req in fake.requests} == {"v24.0"}


# -- Instagram: accounts and metrics ------------------------------------------------------------

def test_instagram_login_accounts_are_served_by_the_instagram_host(fake):
    """Instagram User tokens work only on graph.instagram.com, Facebook tokens only on graph.facebook.com."""
    with FakeGraph() as instagram_host:
        fake.forget_token(IG_TOKEN)
        instagram_host.forget_token(PAGE_TOKEN)
        config = Config().with_settings(graph_base_url=fake.base_url, instagram_base_url=instagram_host.base_url)
        connected = instagram.connect(IG_TOKEN, config=config, details={})
        assert (connected.external_id, connected.settings) == (IG_USER_ID, {"login": "instagram"})
        assert fake.requests == []  # an IG… token is tried on the Instagram host first
        account = dataclasses.replace(ig_account(), settings=connected.settings)
        outcome = instagram.publish(make_task(instagram_host, config, account, media=(image(),)).ctx)
        assert outcome.kind == "published" and instagram_host.published(IG_USER_ID)
        assert instagram.token_health(account, config=config).status == "active"
        assert fake.requests == []

        by_page = instagram.connect(PAGE_TOKEN, config=config, details={})  # Facebook Login: the Page's token
        assert by_page.settings == {"login": "facebook", "page_id": PAGE_ID}
        instagram_host.add_ig_user("17841400000000777", "odd.token", token="odd-token-without-prefix")
        odd = instagram.connect("odd-token-without-prefix", config=config, details={})  # Facebook host cannot parse it
        assert (odd.username, odd.settings) == ("odd.token", {"login": "instagram"})
        with pytest.raises(PlatformRejected, match="Cannot parse access token"):
            instagram.connect("unknown-everywhere", config=config, details={})


def test_connect_an_instagram_user_token(fake, graph_config):
    account = instagram.connect(IG_TOKEN, config=graph_config, details={})
    assert (account.external_id, account.username, account.token) == (IG_USER_ID, IG_USERNAME, IG_TOKEN)
    expected = dt.datetime.fromtimestamp(int(fake.token(IG_TOKEN).expires_at), dt.UTC)
    assert account.token_expires_at == expected and account.settings == {"login": "instagram"}


def test_connect_through_the_linked_page(fake, graph_config):
    account = instagram.connect(PAGE_TOKEN, config=graph_config, details={})
    assert (account.external_id, account.username, account.token_expires_at) == (IG_USER_ID, IG_USERNAME, None)
    assert account.settings == {"login": "facebook", "page_id": PAGE_ID}


def test_connect_refuses_an_expired_token(fake, graph_config):
    fake.expire_token(IG_TOKEN)
    with pytest.raises(PlatformRejected, match="Session has expired.*reconnect the account") as caught:
        instagram.connect(IG_TOKEN, config=graph_config, details={})
    assert caught.value.field is None  # the core reports it on access_token


def test_connect_refuses_other_tokens(fake, graph_config):
    with pytest.raises(PlatformRejected, match="Instagram User access token"):
        instagram.connect(FB_USER_TOKEN, config=graph_config, details={})
    with pytest.raises(PlatformRejected, match="Cannot parse access token"):
        instagram.connect("not-a-token", config=graph_config, details={})
    fake.add_ig_user("17841400000000002", "reader", token="IGAA-read-only", scopes=["instagram_business_basic"])
    with pytest.raises(PlatformRejected, match="lacks the instagram_business_content_publish or"):
        instagram.connect("IGAA-read-only", config=graph_config, details={})


def instagram_login_account(token: str = IG_TOKEN) -> AccountRef:
    return dataclasses.replace(ig_account(token), settings={"login": "instagram"})


def test_an_instagram_login_token_a_day_old_is_refreshed_for_60_days(fake, graph_config):
    fake.advance(2 * 86400)  # Meta refreshes tokens at least 24 hours old
    fresh = instagram.refresh_token(instagram_login_account(), config=graph_config)
    assert fresh.token != IG_TOKEN and fake.token(fresh.token).owner == IG_USER_ID
    assert dt.timedelta(days=59) < fresh.expires_at - dt.datetime.now(dt.UTC) <= dt.timedelta(days=60)
    [call] = fake.calls("GET", r"refresh_access_token")
    assert call.version is None  # Meta documents the call on the unversioned host
    assert call.params == {"grant_type": "ig_refresh_token"} and call.token == IG_TOKEN
    assert "Authorization" not in call.headers  # the token goes in the query string, as documented


def test_a_token_too_young_to_refresh_is_refused_and_page_linked_accounts_are_not_refreshed(fake, graph_config):
    with pytest.raises(PlatformRejected, match="less than 24 hours old"):
        instagram.refresh_token(instagram_login_account(), config=graph_config)
    page_linked = dataclasses.replace(ig_account(PAGE_TOKEN), settings={"login": "facebook", "page_id": PAGE_ID})
    assert instagram.refresh_token(page_linked, config=graph_config) is None
    assert len(fake.calls("GET", r"refresh_access_token")) == 1


def test_token_health(fake, graph_config):
    health = instagram.token_health(ig_account(), config=graph_config)
    assert health.status == "active" and health.expires_at is not None
    fake.invalidate_token(IG_TOKEN, 460)
    health = instagram.token_health(ig_account(), config=graph_config)
    assert health.status == "invalid" and "changed their password" in health.reason
    fake.expire_token(PAGE_TOKEN)
    assert facebook.token_health(page_account(), config=graph_config).status == "expired"


def test_fetch_metrics(fake, graph_config):
    instagram.publish(ig_task(fake, graph_config).ctx)
    media_id = fake.published(IG_USER_ID)[0]["id"]
    fake.set_metrics(media_id, like_count=12, comments_count=3, reach=140, saved=9, shares=2)
    metrics = instagram.fetch_metrics(ig_account(), media_id, config=graph_config)
    assert metrics == {"likes": 12, "comments": 3, "reach": 140, "saves": 9, "shares": 2}


def test_story_metrics_without_enough_viewers(fake, graph_config):
    instagram.publish(ig_task(fake, graph_config, post_type="story").ctx)
    story_id = fake.published(IG_USER_ID)[0]["id"]
    fake.set_metrics(story_id, too_few_viewers=True)
    assert instagram.fetch_metrics(ig_account(), story_id, config=graph_config) == {}


# -- Facebook Pages -----------------------------------------------------------------------------

def test_text_post_goes_to_the_feed(fake, graph_config):
    task = fb_task(fake, graph_config)
    outcome = facebook.publish(task.ctx)
    [post] = fake.published(PAGE_ID)
    assert outcome.kind == "published" and outcome.platform_post_id == post["id"]
    assert outcome.url == post["permalink_url"] and post["message"] == CAPTION
    assert fake.calls("POST", r"/feed$")[0].params == {"message": CAPTION, "fields": "id,permalink_url"}
    assert task.commits[0][0] <= index_of(fake, "POST", r"/feed$")  # publish_started_at committed first
    assert len(fake.calls()) == 1  # read-after-write: no second call for the permalink


def test_photo_post(fake, graph_config):
    outcome = facebook.publish(fb_task(fake, graph_config, media=(image(),)).ctx)
    assert fake.calls("POST", r"/photos$")[0].params == {"url": "https://media.test/1.jpg", "caption": CAPTION}
    [post] = fake.published(PAGE_ID)
    assert (post["kind"], post["id"]) == ("photo", outcome.platform_post_id)


def test_video_post(fake, graph_config):
    outcome = facebook.publish(fb_task(fake, graph_config, media=(video(),)).ctx)
    assert fake.calls("POST", r"/videos$")[0].params == {"file_url": "https://media.test/1.mp4",
                                                         "description": CAPTION}
    assert outcome.kind == "published"
    assert outcome.url == f"https://www.facebook.com/{PAGE_ID}/videos/{outcome.platform_post_id}/"
    assert fake.published(PAGE_ID)[0]["kind"] == "video"


def test_several_photos_make_one_post(fake, graph_config):
    task = fb_task(fake, graph_config, media=(image(1), image(2), image(3)))
    assert facebook.publish(task.ctx).kind == "published"
    uploads = fake.calls("POST", r"/photos$")
    assert [req.params["published"] for req in uploads] == ["false"] * 3
    attached = json.loads(fake.calls("POST", r"/feed$")[0].params["attached_media"])
    assert attached == [{"media_fbid": photo_id} for photo_id in task.ctx.state["photo_ids"]]
    [post] = fake.published(PAGE_ID)
    assert post["kind"] == "album" and post["attached"] == task.ctx.state["photo_ids"]


def test_lost_feed_answer_is_found_without_posting_again(fake, graph_config):
    fake.drop_connection_after(r"/feed$")
    task = fb_task(fake, graph_config)
    outcome = facebook.publish(task.ctx)
    [post] = fake.published(PAGE_ID)
    assert outcome.kind == "published" and outcome.platform_post_id == post["id"]
    assert facebook.publish(task.after_crash()).platform_post_id == post["id"]
    assert len(fake.calls("POST", r"/feed$")) == 1


def test_reconcile_after_a_crash_mid_post(fake, graph_config):
    fake.drop_connection_after(r"/photos$")
    fake.fail_next(r"/published_posts$", code=2)  # the immediate look fails too; the worker then dies
    task = fb_task(fake, graph_config, media=(image(),))
    assert facebook.publish(task.ctx).kind == "transient"
    ctx = task.after_crash()
    outcome = facebook.reconcile(ctx)
    [post] = fake.published(PAGE_ID)
    assert outcome.kind == "published" and outcome.platform_post_id == post["id"]
    assert facebook.publish(ctx).platform_post_id == post["id"]
    assert len(fake.calls("POST", r"/photos$")) == 1


def test_reconcile_when_nothing_was_posted(fake, graph_config):
    task = fb_task(fake, graph_config)
    assert facebook.reconcile(task.ctx) is None  # never started
    fake.fail_next(r"/feed$", code=2)
    assert facebook.publish(task.ctx).kind == "transient"
    assert facebook.reconcile(task.after_crash()) is None
    assert facebook.publish(task.after_crash()).kind == "published"
    assert len(fake.published(PAGE_ID)) == 1


def test_an_older_post_with_the_same_text_is_not_ours(fake, graph_config):
    facebook.publish(fb_task(fake, graph_config).ctx)
    fake.advance(3600)  # the fake's clock runs an hour ahead: the first post looks an hour old
    task = fb_task(fake, graph_config)
    started = dt.datetime.fromtimestamp(fake.now(), dt.UTC).isoformat()
    task.ctx.save_state(publish_started_at=started)
    assert facebook.reconcile(task.ctx) is None


def test_user_token_without_publishing_permission(fake, graph_config):
    outcome = facebook.publish(make_task(fake, graph_config, page_account(FB_USER_TOKEN)).ctx)
    assert outcome.kind == "permanent" and "(#200)" in outcome.reason and "pages_manage_posts" in outcome.reason


def test_facebook_refuses_mixed_media():
    outcome = facebook.publish(TaskContext(task_id="t", post=PostRef(id=1, caption="x", post_type="post",
                                                                     media=(image(), video())),
                                           account=page_account(), config=Config(), clock=FakeClock()))
    assert outcome.kind == "permanent" and "several photos or one video" in outcome.reason


def test_connect_a_page_token(fake, graph_config):
    account = facebook.connect(PAGE_TOKEN, config=graph_config, details={})
    assert (account.external_id, account.username, account.token) == (PAGE_ID, PAGE_NAME, PAGE_TOKEN)
    assert account.token_expires_at is None  # a Page token from a long-lived user token never expires


def test_connect_a_user_token_keeps_the_page_token(fake, graph_config):
    account = facebook.connect(FB_USER_TOKEN, config=graph_config, details={})
    assert (account.external_id, account.token) == (PAGE_ID, PAGE_TOKEN)


def short_lived_user(fake, token="EAAU-short-lived"):
    """A Facebook user token with an hour left (as the Graph API Explorer gives), managing the Page."""
    fake.add_user("10220000000000003", "Short Lived", token=token, pages=[PAGE_ID], expires_in=3600)
    return token


def test_a_short_lived_user_token_gives_a_page_token_that_dies_with_it(fake, graph_config):
    account = facebook.connect(short_lived_user(fake), config=graph_config, details={})
    assert account.external_id == PAGE_ID and account.token != PAGE_TOKEN
    assert account.token_expires_at is not None
    assert account.token_expires_at - dt.datetime.now(dt.UTC) < dt.timedelta(hours=1, minutes=1)
    assert fake.calls("GET", r"oauth/access_token") == []  # no app configured: nothing to exchange with


def test_with_the_meta_app_configured_a_short_lived_user_token_is_exchanged_first(fake, graph_config):
    config = graph_config.with_settings(meta_app_id=APP_ID, meta_app_secret=APP_SECRET)
    account = facebook.connect(short_lived_user(fake), config=config, details={})
    assert (account.external_id, account.token, account.token_expires_at) == (PAGE_ID, PAGE_TOKEN, None)
    [exchange] = fake.calls("GET", r"oauth/access_token")
    assert exchange.params == {"grant_type": "fb_exchange_token", "client_id": APP_ID, "client_secret": APP_SECRET,
                               "fb_exchange_token": "EAAU-short-lived"}
    assert exchange.token is None and "Authorization" not in exchange.headers
    facebook.connect(FB_USER_TOKEN, config=config, details={})  # a long-lived user token is used as it is
    assert len(fake.calls("GET", r"oauth/access_token")) == 1


def test_the_meta_app_is_read_from_the_environment_and_its_secret_never_shown():
    config = Config.from_env({"HERALD_META_APP_ID": APP_ID, "HERALD_META_APP_SECRET": APP_SECRET})
    assert (META_APP_ID.value(config), META_APP_SECRET.value(config)) == (APP_ID, APP_SECRET)
    assert APP_SECRET not in repr(config)
    assert (META_APP_ID.shown(config), META_APP_SECRET.shown(config)) == (APP_ID, "set")


def test_a_refused_exchange_is_logged_and_the_short_lived_token_kept(fake, graph_config, caplog):
    config = graph_config.with_settings(meta_app_id=APP_ID, meta_app_secret="wrong-secret")
    account = facebook.connect(short_lived_user(fake), config=config, details={})
    assert account.external_id == PAGE_ID and account.token_expires_at is not None  # still connected
    assert "Error validating client secret" in caplog.text and "wrong-secret" not in caplog.text


def test_connect_refuses_ambiguous_or_unusable_tokens(fake, graph_config):
    fake.add_page("1055500000000002", "Second Page", token="EAAP-second")
    fake.add_user("10220000000000002", "Two Pages", token="EAAU-two", pages=[PAGE_ID, "1055500000000002"])
    with pytest.raises(PlatformRejected, match=r"several Pages \(Herald Test Page .*Second Page"):
        facebook.connect("EAAU-two", config=graph_config, details={})
    fake.add_page("1055500000000003", "Read only", token="EAAP-read", scopes=["pages_show_list"])
    with pytest.raises(PlatformRejected, match="lacks the pages_manage_posts permission"):
        facebook.connect("EAAP-read", config=graph_config, details={})
    fake.expire_token(PAGE_TOKEN)
    with pytest.raises(PlatformRejected, match="Session has expired.*reconnect"):
        facebook.connect(PAGE_TOKEN, config=graph_config, details={})


# -- first comments ---------------------------------------------------------------------------

FIRST_COMMENT = "Order at bakery.test/order #bakery #fresh"


@pytest.mark.parametrize("platform, account, media", [
    (instagram, ig_account, (image(),)),
    (facebook, page_account, ()),
    (facebook, page_account, (image(),)),  # a photo: Meta answers the photo's post_id
])
def test_first_comment_goes_under_the_published_post(fake, graph_config, platform, account, media):
    outcome = platform.publish(make_task(fake, graph_config, account(), media=media).ctx)
    comment_id = platform.post_comment(account(), outcome.platform_post_id, FIRST_COMMENT, config=graph_config)
    [comment] = fake.comments(outcome.platform_post_id)
    assert (comment["id"], comment["message"], comment["author"]) == (comment_id, FIRST_COMMENT,
                                                                      account().external_id)
    assert fake.calls("POST", r"/comments$")[0].params == {"message": FIRST_COMMENT}


def test_instagram_comments_need_the_comments_permission(fake, graph_config):
    fake.add_ig_user("17841400000000009", "no.comments", token="IGAA-no-comments",
                     scopes=["instagram_business_basic", "instagram_business_content_publish"])
    account = dataclasses.replace(ig_account("IGAA-no-comments"), external_id="17841400000000009")
    outcome = instagram.publish(make_task(fake, graph_config, account, media=(image(),)).ctx)
    with pytest.raises(PlatformRejected, match=r"Graph API error 10\b"):
        instagram.post_comment(account, outcome.platform_post_id, FIRST_COMMENT, config=graph_config)
    assert fake.comments(outcome.platform_post_id) == []


def test_a_page_comment_needs_pages_manage_engagement(fake, graph_config):
    fake.add_page("1055500000000009", "No Engagement", token="EAAP-no-engagement",
                  scopes=["pages_show_list", "pages_manage_posts", "pages_read_engagement"])
    account = dataclasses.replace(page_account("EAAP-no-engagement"), external_id="1055500000000009")
    outcome = facebook.publish(make_task(fake, graph_config, account).ctx)
    with pytest.raises(PlatformRejected, match=r"Graph API error 200\b"):
        facebook.post_comment(account, outcome.platform_post_id, FIRST_COMMENT, config=graph_config)


def test_a_transient_comment_error_is_retryable_and_certain(fake, graph_config):
    outcome = facebook.publish(make_task(fake, graph_config, page_account()).ctx)
    fake.fail_next(r"/comments$", code=2)
    with pytest.raises(PlatformUnavailable) as raised:
        facebook.post_comment(page_account(), outcome.platform_post_id, FIRST_COMMENT, config=graph_config)
    assert not raised.value.uncertain and fake.comments(outcome.platform_post_id) == []


def test_a_lost_comment_answer_is_uncertain(fake, graph_config):
    outcome = instagram.publish(ig_task(fake, graph_config).ctx)
    fake.drop_connection_after(r"/comments$")
    with pytest.raises(PlatformUnavailable) as raised:
        instagram.post_comment(ig_account(), outcome.platform_post_id, FIRST_COMMENT, config=graph_config)
    assert raised.value.uncertain  # the comment was made: the caller must not send it again
    assert len(fake.comments(outcome.platform_post_id)) == 1


def test_facebook_metrics(fake, graph_config):
    outcome = facebook.publish(fb_task(fake, graph_config).ctx)
    fake.set_metrics(outcome.platform_post_id, reactions=8, comments=2, shares=1, post_total_media_view_unique=90)
    metrics = facebook.fetch_metrics(page_account(), outcome.platform_post_id, config=graph_config)
    assert metrics == {"likes": 8, "comments": 2, "shares": 1, "reach": 90}


# -- through Herald's publishing pipeline (/v1 API, RQ worker in this process) ------------------

@pytest.fixture
def app(clock, config, fake):
    """Herald with its Graph base URL on the fake and a public URL for media links."""
    application = start_app(clock, with_changes(config, **fake.hosts(),
                                                 public_url="https://herald.test"))
    yield application
    db.obj.close_all()


# A 2×2 grey baseline JFIF JPEG.
def test_facebook_post_through_the_pipeline(fake, client, tenant, redis_client):
    account = connect_account(client, tenant, "facebook", FB_USER_TOKEN).get_json()
    assert account["username"] == PAGE_NAME
    body = client.post("/v1/publish", json={"content": CAPTION, "accounts": [account["id"]]},
                       headers=tenant.headers).get_json()
    assert work(redis_client) == 1
    detail = client.get(f"/v1/posts/{body['id']}", headers=tenant.headers).get_json()
    [post] = fake.published(PAGE_ID)
    assert detail["status"] == "published"
    assert (detail["tasks"][0]["platform_post_id"], detail["tasks"][0]["url"]) == (post["id"], post["permalink_url"])
    # What the plugin remembered for the outcome was committed with it (not in a commit of its own).
    with db.connection_context():
        task = PublishTask.get_by_id(int(detail["tasks"][0]["id"].removeprefix("task_")))
    assert task.state["platform_post_id"] == post["id"] and task.state["url"] == post["permalink_url"]
    assert task.state["publish_started_at"]


def test_connecting_a_token_that_expires_within_a_week_warns(fake, client, tenant):
    lasting = connect_account(client, tenant, "instagram", IG_TOKEN)  # 60 days left
    assert lasting.status_code == 201 and "warnings" not in lasting.get_json()
    fake.add_ig_user("17841400000000888", "short.lived", token="IGAA-three-days-left", expires_in=3 * 86400 - 60)
    short = connect_account(client, tenant, "instagram", "IGAA-three-days-left")
    assert short.status_code == 201
    [warning] = short.get_json()["warnings"]
    assert (warning["code"], warning["field"]) == ("token_expires_soon", "access_token")
    assert "in 2 days" in warning["message"] and short.get_json()["token_expires_at"] in warning["message"]
    # Instagram renews its tokens itself: the advice says so before it says to reconnect.
    assert "Herald asks instagram for a new token 30 days before it expires" in warning["message"]


def test_a_short_lived_user_token_connects_for_good_once_the_meta_app_is_set(fake, client, tenant, build_app,
                                                                           config):
    short = connect_account(client, tenant, "facebook", short_lived_user(fake)).get_json()
    [warning] = short["warnings"]  # without the app: a Page token for an hour, and the user is told
    assert warning["code"] == "token_expires_soon" and short["token_expires_at"] is not None
    with_app = build_app(**fake.hosts(), meta_app_id=APP_ID, meta_app_secret=APP_SECRET).test_client()
    lasting = connect_account(with_app, tenant, "facebook", short_lived_user(fake, "EAAU-short-2"))
    assert lasting.status_code == 200 and "warnings" not in lasting.get_json()  # the same Page, reconnected
    assert lasting.get_json()["token_expires_at"] is None and lasting.get_json()["id"] == short["id"]


def stored_token(account_id: str) -> tuple[str, dt.datetime | None]:
    from herald import crypto
    from herald.db.models import Account

    with db.connection_context():
        row = Account.get_by_id(int(account_id.removeprefix("acc_")))
        return crypto.decrypt("test-secret-key", row.token_encrypted), row.token_expires_at


def test_the_health_check_refreshes_an_instagram_login_token_a_month_before_it_expires(fake, client, tenant, app):
    from herald import chores

    fake.add_ig_user("17841400000000777", "monthly", token="IGAA-20-days-left", expires_in=20 * 86400)
    fake.add_ig_user("17841400000000778", "lasting", token="IGAA-45-days-left", expires_in=45 * 86400)
    due = connect_account(client, tenant, "instagram", "IGAA-20-days-left").get_json()["id"]
    lasting = connect_account(client, tenant, "instagram", "IGAA-45-days-left").get_json()["id"]
    fake.advance(86400 + 60)
    with app.app_context():
        assert chores.check_tokens() == {"active": 2}
    token, expires = stored_token(due)
    assert token.startswith("IGAA-refreshed-")
    assert expires - dt.datetime.now(dt.UTC).replace(tzinfo=None) > dt.timedelta(days=55)
    assert stored_token(lasting)[0] == "IGAA-45-days-left"  # not due yet
    assert [call.token for call in fake.calls("GET", r"refresh_access_token")] == ["IGAA-20-days-left"]
    with app.app_context():
        chores.check_tokens()  # the refreshed token is far from expiring: not refreshed again
    assert len(fake.calls("GET", r"refresh_access_token")) == 1
    with db.connection_context():
        assert Event.select().where(Event.type == "account.token_expiring").count() == 0


def test_a_refresh_that_fails_keeps_the_token_and_the_check_goes_on(fake, client, tenant, app, caplog):
    from herald import chores

    fake.add_ig_user("17841400000000779", "young", token="IGAA-young", expires_in=20 * 86400)
    account = connect_account(client, tenant, "instagram", "IGAA-young").get_json()["id"]
    with app.app_context():  # issued less than a day ago: Meta refuses to refresh it
        assert chores.check_tokens() == {"active": 1}
    assert stored_token(account)[0] == "IGAA-young"
    assert "was not refreshed" in caplog.text and "less than 24 hours old" in caplog.text


def test_an_instagram_accounts_publishing_quota_is_read_through_the_api(fake, client, tenant):
    instagram_id = connect_account(client, tenant, "instagram", IG_TOKEN).get_json()["id"]
    page_id = connect_account(client, tenant, "facebook", PAGE_TOKEN).get_json()["id"]
    fake.set_quota_usage(IG_USER_ID, 37)
    response = client.get(f"/v1/accounts/{instagram_id}/quota", headers=tenant.headers)
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"account_id": instagram_id, "platform": "instagram",
                                   "quota": {"used": 37, "limit": 100, "remaining": 63, "window_hours": 24}}
    [call] = fake.calls("GET", rf"{IG_USER_ID}/content_publishing_limit")
    assert call.params == {"fields": "quota_usage,config"}
    facebook_quota = client.get(f"/v1/accounts/{page_id}/quota", headers=tenant.headers).get_json()
    assert facebook_quota == {"account_id": page_id, "platform": "facebook", "quota": None}  # Pages have none
    assert_error(client.get("/v1/accounts/acc_999/quota", headers=tenant.headers), 404, "not_found")


def test_a_quota_read_for_an_unusable_account_or_a_silent_meta_is_a_clear_error(fake, client, tenant):
    account = connect_account(client, tenant, "instagram", IG_TOKEN).get_json()["id"]
    fake.fail_next(rf"{IG_USER_ID}/content_publishing_limit", code=2, status=503, method="GET")
    unavailable = client.get(f"/v1/accounts/{account}/quota", headers=tenant.headers)
    assert_error(unavailable, 503, "platform_unavailable")
    assert unavailable.headers["Retry-After"] == "60"  # Meta named no wait: a minute, not the rate limit's window
    fake.invalidate_token(IG_TOKEN, subcode=460)
    refused = assert_error(client.get(f"/v1/accounts/{account}/quota", headers=tenant.headers), 409, "conflict")
    assert "460" in refused["message"]
    client.delete(f"/v1/accounts/{account}", headers=tenant.headers)
    gone = assert_error(client.get(f"/v1/accounts/{account}/quota", headers=tenant.headers), 409, "conflict")
    assert "Reconnect it with POST /v1/accounts" in gone["message"]


def test_a_refused_page_token_marks_the_account_and_spares_its_other_tasks_the_call(fake, client, tenant,
                                                                                 redis_client):
    account = connect_account(client, tenant, "facebook", FB_USER_TOKEN).get_json()["id"]
    posts = [client.post("/v1/publish", json={"content": f"{CAPTION} {number}", "accounts": [account]},
                         headers=tenant.headers).get_json()["id"] for number in range(2)]
    fake.invalidate_token(PAGE_TOKEN, subcode=460)  # the owner changed their password
    assert work(redis_client) == 2
    first, second = (client.get(f"/v1/posts/{post}", headers=tenant.headers).get_json()["tasks"][0] for post in posts)
    assert first["status"] == second["status"] == "failed"
    assert "190/460" in first["error"]  # Meta's own message and code, from the one call made
    assert "is invalid" in second["error"] and "Reconnect it with POST /v1/accounts" in second["error"]
    assert len(fake.calls("POST", rf"^/?{PAGE_ID}/feed$")) == 1
    [listed] = client.get("/v1/accounts", headers=tenant.headers).get_json()["accounts"]
    assert listed["status"] == "invalid" and "190/460" in listed["status_reason"]
    with db.connection_context():
        announced = [event.data for event in Event.select().where(Event.type == "account.needs_reconnect")]
    assert [event["account"]["id"] for event in announced] == [account]


def test_instagram_image_through_the_pipeline_waits_for_the_container(fake, client, tenant, redis_client):
    account = connect_account(client, tenant, "instagram", IG_TOKEN).get_json()["id"]
    media = upload_jpeg(client, tenant)
    fake.next_container(polls_until_finished=1)
    body = client.post("/v1/publish", json={"content": CAPTION, "accounts": [account], "media": [media]},
                       headers=tenant.headers).get_json()
    assert work(redis_client) == 1
    assert fake.published(IG_USER_ID) == []
    advance(redis_client, POLL_IMAGE)
    assert work(redis_client) == 1
    detail = client.get(f"/v1/posts/{body['id']}", headers=tenant.headers).get_json()
    [published] = fake.published(IG_USER_ID)
    assert detail["status"] == "published" and detail["tasks"][0]["platform_post_id"] == published["id"]
    assert fake.containers(IG_USER_ID)[0]["params"]["image_url"].startswith("https://herald.test/")
    with db.connection_context():
        task = PublishTask.get_by_id(int(detail["tasks"][0]["id"].removeprefix("task_")))
    assert (task.state["media_id"], task.state["permalink"]) == (published["id"], detail["tasks"][0]["url"])


def test_connecting_an_expired_token_is_a_400_on_access_token(fake, client, tenant):
    fake.expire_token(IG_TOKEN)
    response = connect_account(client, tenant, "instagram", IG_TOKEN)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["field"] == "access_token" and "Session has expired" in error["message"]
