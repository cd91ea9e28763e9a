"""A video post, a carousel mixing a video, and the quota, driven on the plugin directly (a TaskContext
without a database, as a worker hands it): Threads processes videos for a while, and nothing waits."""

from __future__ import annotations

import pytest
from fake_threads import ALICE, ALICE_TOKEN, FakeThreads
from herald_threads import ThreadsPlatform
from herald_threads.publishing import POLL_VIDEO

from herald.sdk import AccountRef, Config, MediaRef, PostRef, TaskContext

platform = ThreadsPlatform()


@pytest.fixture
def clock(herald_clock):
    """The kit's clock: it moves only when a test moves it."""
    return herald_clock


@pytest.fixture
def fake(clock):
    with FakeThreads(clock=clock.now) as server:
        yield server


def media(kind: str, number: int) -> MediaRef:
    extension, content_type = ("mp4", "video/mp4") if kind == "video" else ("jpg", "image/jpeg")
    return MediaRef(id=f"media_{number}", kind=kind, content_type=content_type,
                    url=f"https://herald.test/m/{number}.{extension}", size=1000, sha256="0" * 64)


def task(fake, clock, *items: MediaRef, post_type="post") -> TaskContext:
    config = Config().with_settings(**fake.hosts())
    account = AccountRef(id="acc_1", platform="threads", external_id=ALICE["id"], username="alice", token=ALICE_TOKEN)
    post = PostRef(id=1, caption="Behind the ovens", post_type=post_type, media=items)
    return TaskContext(task_id="task_1", post=post, account=account, config=config, clock=clock)


def test_a_video_is_pending_while_threads_processes_it(fake, clock):
    fake.next_container(polls=1)
    ctx = task(fake, clock, media("video", 1))
    outcome = platform.publish(ctx)
    assert outcome.kind == "pending" and outcome.retry_after == POLL_VIDEO
    assert fake.published() == []
    assert platform.check(ctx).kind == "published"
    [post] = fake.published()
    assert post["media_type"] == "VIDEO"
    [create] = fake.calls_to("POST", r".*/threads")
    assert create.form == {"media_type": "VIDEO", "video_url": "https://herald.test/m/1.mp4",
                           "text": "Behind the ovens"}


def test_a_carousel_waits_for_its_items_then_publishes_one_album(fake, clock):
    fake.next_container(polls=1)  # the first item is still processing at the first look
    ctx = task(fake, clock, media("image", 1), media("video", 2), post_type="carousel")
    assert platform.publish(ctx).kind == "pending" and "container_id" not in ctx.state
    assert len(ctx.state["children"]) == 2
    assert platform.check(ctx).kind == "published"
    [post] = fake.published()
    assert post["media_type"] == "CAROUSEL_ALBUM" and post["children"] == ctx.state["children"]
    assert len(fake.calls_to("POST", r".*/threads")) == 3  # two items, one carousel: never again


def test_a_video_still_processing_after_half_an_hour_gives_up(fake, clock):
    fake.next_container(polls=1000)
    ctx = task(fake, clock, media("video", 1))
    assert platform.publish(ctx).kind == "pending"
    clock.advance(31 * 60)
    outcome = platform.check(ctx)
    assert outcome.kind == "permanent" and "still processing" in outcome.reason
    assert fake.published() == []


def test_the_publishing_quota_is_read_from_threads(fake):
    fake.set_quota_usage(ALICE["id"], 7)
    account = AccountRef(id="acc_1", platform="threads", external_id=ALICE["id"], username="alice", token=ALICE_TOKEN)
    quota = platform.publishing_quota(account, config=Config().with_settings(**fake.hosts()))
    assert (quota.used, quota.limit, quota.window_seconds) == (7, 250, 86400)
