"""The Instagram and Facebook plugins together against the fake Graph API: first comments, and both
through Herald's publishing pipeline (the /v1 API, an RQ worker in this process).
"""

from __future__ import annotations

import dataclasses

import pytest
from graph_drive import (
    CAPTION,
    connect_account,
    facebook,
    fb_task,
    ig_account,
    ig_task,
    image,
    instagram,
    make_task,
    page_account,
    short_lived_user,
    upload_jpeg,
)

from conftest import assert_error, start_app, with_changes
from drive import advance, work
from fakes.graph import (
    APP_ID,
    APP_SECRET,
    FB_USER_TOKEN,
    IG_TOKEN,
    IG_USER_ID,
    PAGE_ID,
    PAGE_NAME,
    PAGE_TOKEN,
)
from herald.config import Config
from herald.db.models import Event, PublishTask, db
from herald.platforms import PlatformRejected, PlatformUnavailable
from herald_instagram.publishing import POLL_IMAGE


@pytest.fixture
def graph_config(fake):
    """Herald settings pointing the Graph base URL at the fake."""
    return Config().with_settings(**fake.hosts())


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
