"""The Facebook plugin against the fake Graph API over real HTTP: Page posts, photos, albums, connecting
with a user or Page token and the Meta app's token exchange.

Each test builds a TaskContext directly (no database): a worker "dying" is a new context holding
the last state the plugin committed.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from graph_drive import (
    CAPTION,
    facebook,
    fb_task,
    image,
    index_of,
    make_task,
    page_account,
    short_lived_user,
    video,
)

from fakes.graph import (
    APP_ID,
    APP_SECRET,
    FB_USER_TOKEN,
    PAGE_ID,
    PAGE_NAME,
    PAGE_TOKEN,
)
from herald.clock import FakeClock
from herald.config import Config
from herald.platforms import PlatformRejected, PostRef, TaskContext
from herald_graph.settings import META_APP_ID, META_APP_SECRET


@pytest.fixture
def graph_config(fake):
    """Herald settings pointing the Graph base URL at the fake."""
    return Config().with_settings(**fake.hosts())


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
