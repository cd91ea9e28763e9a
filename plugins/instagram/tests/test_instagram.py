"""The Instagram plugin against the fake Graph API over real HTTP: containers, never publishing twice,
errors, accounts and metrics.

Each test builds a TaskContext directly (no database): a worker "dying" is a new context holding
the last state the plugin committed. Containers move on by status reads, so no test sleeps.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from graph_drive import (
    CAPTION,
    WorkerDied,
    facebook,
    free_port,
    ig_account,
    ig_task,
    image,
    index_of,
    instagram,
    make_task,
    page_account,
    video,
    wait_until,
)

import herald_graph.graph
from fakes.graph import (
    FB_USER_TOKEN,
    IG_TOKEN,
    IG_USER_ID,
    IG_USERNAME,
    PAGE_ID,
    PAGE_TOKEN,
    FakeGraph,
)
from herald.config import Config
from herald.platforms import AccountRef, PlatformRejected
from herald_graph.graph_errors import RATE_LIMIT_WAIT
from herald_instagram.publishing import CONFIRM_AFTER, POLL_VIDEO


@pytest.fixture
def graph_config(fake):
    """Herald settings pointing the Graph base URL at the fake."""
    return Config().with_settings(**fake.hosts())


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


def test_a_post_without_media_is_refused_without_a_call(fake, graph_config):
    """The core checks Instagram's rules (herald_instagram.rules) before sending; the plugin still never
    sends a post without media."""
    outcome = instagram.publish(ig_task(fake, graph_config, media=()).ctx)
    assert outcome.kind == "permanent" and "needs an image or a video" in outcome.reason
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
