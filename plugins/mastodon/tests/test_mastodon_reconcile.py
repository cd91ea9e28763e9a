"""A worker that dies mid-publish, replayed in-process: the next worker gets only what the plugin
committed (``Task.after_crash``), and the core calls ``reconcile`` before anything is sent again.
Against the fake Mastodon over real HTTP; a media file is fetched from a loopback link as Herald's."""

from __future__ import annotations

import pytest
from herald_mastodon import KEY_WINDOW, MastodonPlatform
from mastodon_drive import Files, WorkerDied, jpeg, mp4, requested, task
from mastodon_fixtures import mastodon  # noqa: F401 (fixtures)

mastodon_platform = MastodonPlatform()


@pytest.fixture
def files():
    with Files() as host:
        yield host


def uploads(fake):
    return [call for call in fake.calls if call.method == "POST" and call.path == "/api/v2/media"]


def test_a_worker_dead_while_the_video_was_processing_goes_on_without_uploading_again(mastodon, files,
                                                                                     herald_clock):
    video = files.add("clip.mp4", mp4(), "video/mp4")
    first = task(mastodon, herald_clock, media=(video,))
    assert mastodon_platform.publish(first.ctx).kind == "pending"  # uploaded (202), still processing
    ctx = first.after_crash()
    assert mastodon_platform.reconcile(ctx) is None  # no status went out: publish may run
    herald_clock.advance(5)
    outcome = mastodon_platform.publish(ctx)
    [status] = mastodon.published()
    assert outcome.kind == "published" and outcome.platform_post_id == status["id"]
    assert len(uploads(mastodon)) == 1 and len(status["media_attachments"]) == 1


def test_a_worker_dead_right_after_sending_is_found_by_sending_the_same_key_again(mastodon, files, herald_clock):
    image = files.add("red.jpg", jpeg(), "image/jpeg")
    first = task(mastodon, herald_clock, media=(image,), die_after=lambda state: "first_sent_at" in state)
    with pytest.raises(WorkerDied):  # the worker dies as it commits the time of the send ...
        mastodon_platform.publish(first.ctx)
    assert mastodon.published() == []  # ... before the request left
    herald_clock.advance(120)
    ctx = first.after_crash()
    outcome = mastodon_platform.reconcile(ctx)  # the status may or may not exist: the same key settles it
    [status] = mastodon.published()
    assert outcome.kind == "published" and outcome.platform_post_id == status["id"]
    again = mastodon_platform.reconcile(ctx)  # and asking once more still makes no second status
    assert again.platform_post_id == status["id"] and len(mastodon.published()) == 1
    assert len(uploads(mastodon)) == 1


def test_a_lost_answer_after_the_create_is_the_same_status_on_reconcile(mastodon, herald_clock):
    mastodon.drop_after_create = 1
    first = task(mastodon, herald_clock)
    lost = mastodon_platform.publish(first.ctx)
    assert lost.kind == "transient" and lost.maybe_live
    [created] = mastodon.published()
    outcome = mastodon_platform.reconcile(first.after_crash())
    assert outcome.kind == "published" and outcome.platform_post_id == created["id"]
    assert len(mastodon.published()) == 1


def test_past_the_keys_hour_nothing_is_sent_again(mastodon, herald_clock):
    mastodon.drop_after_create = 1
    first = task(mastodon, herald_clock)
    mastodon_platform.publish(first.ctx)
    herald_clock.advance(KEY_WINDOW.total_seconds())
    outcome = mastodon_platform.reconcile(first.after_crash())
    assert outcome.kind == "unconfirmed" and "look at the account's profile" in outcome.reason
    assert len([call for call in mastodon.calls if call.path == "/api/v1/statuses"]) == 1


def test_a_rate_limited_status_is_transient_with_the_wait_until_the_reset(mastodon, herald_clock):
    mastodon.rate_limit(path=r"/api/v1/statuses", seconds=90)
    outcome = mastodon_platform.publish(task(mastodon, herald_clock).ctx)
    assert outcome.kind == "transient" and not outcome.maybe_live
    assert 80 < outcome.retry_after <= 90
    assert mastodon.published() == [] and requested(mastodon, "POST", "/api/v1/statuses")


def test_a_503_from_the_proxy_is_transient(mastodon, herald_clock):
    mastodon.unavailable(path=r"/api/v1/statuses")
    outcome = mastodon_platform.publish(task(mastodon, herald_clock).ctx)
    assert outcome.kind == "transient" and "Mastodon answered 503" in outcome.reason
    assert mastodon.published() == []
