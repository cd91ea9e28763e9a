"""The fake Graph API behaves as the research file says Meta's does, and the shared client
classifies Graph errors per Meta's codes (research §4)."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request

import pytest

from fakes.graph import IG_TOKEN, IG_USER_ID, PAGE_ID, PAGE_TOKEN, FakeGraph
from herald_graph import graph_errors
from herald_graph.graph_errors import (
    BLOCKED,
    INVALID,
    NOT_READY,
    PERMISSION,
    QUOTA,
    RATE_LIMITED,
    RECREATE,
    TOKEN,
    TRANSIENT,
    classify,
    error_from_response,
    usage_wait,
)


@pytest.fixture
def fake():
    """A running fake Graph API."""
    with FakeGraph() as server:
        yield server


def call(fake, method, path, *, token=IG_TOKEN, json_body=None, **params):
    """One raw HTTP request: (status, JSON body, headers)."""
    url, data, headers = fake.base_url + path, None, {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if method == "GET":
        url += "?" + urllib.parse.urlencode(params)
    elif json_body is not None:
        data, headers["Content-Type"] = json.dumps(json_body).encode(), "application/json"
    else:
        data = urllib.parse.urlencode(params).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.load(response), response.headers
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.load(exc), exc.headers


def test_any_version_prefix_or_none(fake):
    for path in ("/v25.0/me", "/v21.0/me", "/me"):
        status, body, headers = call(fake, "GET", path, fields="id,username")
        assert (status, body) == (200, {"id": IG_USER_ID, "username": "herald.test"})
    assert headers["facebook-api-version"] == "v25.0"
    assert [req.version for req in fake.requests] == ["v25.0", "v21.0", None]


def test_token_as_a_parameter_and_errors_without_one(fake):
    assert call(fake, "GET", "/me", token=None, access_token=IG_TOKEN)[0] == 200
    status, body, _ = call(fake, "GET", "/me", token=None)
    assert (status, body["error"]["code"]) == (400, 104)
    status, body, _ = call(fake, "GET", "/me", token="nonsense")
    assert body["error"]["code"] == 190 and body["error"]["type"] == "OAuthException"


def test_injected_error_envelope_and_headers(fake):
    fake.fail_next(r"/media$", code=80002, times=2, headers={"X-Business-Use-Case-Usage": {IG_USER_ID: [
        {"type": "instagram", "call_count": 100, "estimated_time_to_regain_access": 4}]}})
    for _ in range(2):
        status, body, headers = call(fake, "POST", f"/v25.0/{IG_USER_ID}/media", image_url="https://x/1.jpg")
        error = body["error"]
        assert status == 403 and error["code"] == 80002 and error["is_transient"] is True
        assert set(error) >= {"message", "type", "code", "fbtrace_id"}
        assert json.loads(headers["X-Business-Use-Case-Usage"])[IG_USER_ID][0]["estimated_time_to_regain_access"] == 4
    assert call(fake, "POST", f"/{IG_USER_ID}/media", image_url="https://x/1.jpg")[0] == 200
    assert fake.containers(IG_USER_ID)[0]["params"] == {"image_url": "https://x/1.jpg"}


def test_dropped_connection_still_performs_the_action(fake):
    container = call(fake, "POST", f"/{IG_USER_ID}/media", image_url="https://x/1.jpg")[1]["id"]
    fake.drop_connection_after(r"/media_publish$")
    with pytest.raises(http.client.RemoteDisconnected):
        call(fake, "POST", f"/{IG_USER_ID}/media_publish", creation_id=container)
    assert len(fake.published(IG_USER_ID)) == 1 and fake.requests[-1].status is None
    status, body, _ = call(fake, "POST", f"/{IG_USER_ID}/media_publish", creation_id=container)
    assert (status, body["error"]["code"], body["error"]["error_subcode"]) == (400, 24, 2207008)
    assert len(fake.published(IG_USER_ID)) == 1  # a container publishes once


def test_a_request_can_be_lost_before_it_is_handled_or_handled_and_answered_with_an_error(fake):
    container = call(fake, "POST", f"/{IG_USER_ID}/media", image_url="https://x/1.jpg")[1]["id"]
    fake.drop_connection_before(r"/media_publish$")
    with pytest.raises(http.client.RemoteDisconnected):
        call(fake, "POST", f"/{IG_USER_ID}/media_publish", creation_id=container)
    assert fake.published(IG_USER_ID) == []
    fake.fail_next(r"/media_publish$", code=1, applied=True)
    status, body, _ = call(fake, "POST", f"/{IG_USER_ID}/media_publish", creation_id=container)
    assert (status, body["error"]["code"]) == (500, 1) and len(fake.published(IG_USER_ID)) == 1


def test_comments_read_back_newest_or_oldest_first_in_cursor_pages(fake):
    post_id = call(fake, "POST", f"/{PAGE_ID}/feed", token=PAGE_TOKEN, message="Hello")[1]["id"]
    mine = call(fake, "POST", f"/{post_id}/comments", token=PAGE_TOKEN, message="First!")[1]["id"]
    for number in range(4):
        fake.add_comment(post_id, f"reply {number}")
    status, body, _ = call(fake, "GET", f"/{post_id}/comments", token=PAGE_TOKEN)
    assert status == 200 and body["data"][0] == {"id": mine, "message": "First!",
                                                 "created_time": body["data"][0]["created_time"]}
    assert "next" not in body["paging"]
    pages, after = [], None
    while True:
        params = {"fields": "id,message,from", "order": "reverse_chronological", "limit": 2}
        body = call(fake, "GET", f"/{post_id}/comments", token=PAGE_TOKEN, **params, **({"after": after} if after
                                                                                            else {}))[1]
        pages.append([(item["message"], item["from"]["id"]) for item in body["data"]])
        if "next" not in body["paging"]:
            break
        after = body["paging"]["cursors"]["after"]
    assert pages == [[("reply 3", "17841499999999999"), ("reply 2", "17841499999999999")],
                     [("reply 1", "17841499999999999"), ("reply 0", "17841499999999999")],
                     [("First!", PAGE_ID)]]
    status, body, _ = call(fake, "GET", f"/{post_id}/comments", token=PAGE_TOKEN, fields="id,text")
    assert (status, body["error"]["code"]) == (400, 100) and "(text) on node type (Comment)" in body["error"]["message"]


def test_page_posts_are_paged_with_since_until_limit_and_a_next_link(fake):
    for number in range(5):
        call(fake, "POST", f"/{PAGE_ID}/feed", token=PAGE_TOKEN, message=f"Old {number}")
    fake.advance(3600)
    middle = fake.now()
    for number in range(130):
        call(fake, "POST", f"/{PAGE_ID}/feed", token=PAGE_TOKEN, message=f"New {number}")
    fake.advance(3600)
    call(fake, "POST", f"/{PAGE_ID}/feed", token=PAGE_TOKEN, message="Later")
    status, body, _ = call(fake, "GET", f"/{PAGE_ID}/published_posts", token=PAGE_TOKEN)
    assert status == 200 and len(body["data"]) == 25 and body["data"][0]["message"] == "Later"  # 25 by default
    messages, path, params, reads = [], f"/v25.0/{PAGE_ID}/published_posts", {
        "fields": "id,message", "since": int(middle) - 1, "until": int(middle) + 60, "limit": 500}, 0
    while True:
        reads += 1
        status, body, _ = call(fake, "GET", path, token=None, **params) if reads > 1 else \
            call(fake, "GET", path, token=PAGE_TOKEN, **params)
        assert status == 200
        messages += [item["message"] for item in body["data"]]
        if "next" not in body.get("paging", {}):
            break
        split = urllib.parse.urlsplit(body["paging"]["next"])  # absolute, with the token, as Meta writes it
        assert split.netloc == urllib.parse.urlsplit(fake.base_url).netloc
        path, params = split.path, dict(urllib.parse.parse_qsl(split.query))
        assert params["access_token"] == PAGE_TOKEN and params["since"] == str(int(middle) - 1)
    assert reads == 2  # at most 100 a page
    assert messages == [f"New {number}" for number in reversed(range(130))]  # each once, none outside the window
    status, body, _ = call(fake, "GET", f"/{PAGE_ID}/feed", token=PAGE_TOKEN, after="not-a-cursor")
    assert (status, body["error"]["code"]) == (400, 100)


def test_instagram_comments_name_their_author_and_need_a_comments_permission(fake):
    media = call(fake, "POST", f"/{IG_USER_ID}/media", image_url="https://x/1.jpg")[1]["id"]
    media_id = call(fake, "POST", f"/{IG_USER_ID}/media_publish", creation_id=media)[1]["id"]
    call(fake, "POST", f"/{media_id}/comments", message="Link in bio")
    body = call(fake, "GET", f"/{media_id}/comments", fields="id,text,from,username")[1]
    [comment] = body["data"]
    assert comment["from"] == {"id": IG_USER_ID, "username": "herald.test"} and comment["text"] == "Link in bio"
    fake.add_token("IGAA-no-comments", kind="USER", owner=IG_USER_ID, scopes=["instagram_business_basic"])
    status, body, _ = call(fake, "GET", f"/{media_id}/comments", token="IGAA-no-comments")
    assert (status, body["error"]["code"]) == (400, 10)


def test_container_state_machine(fake):
    fake.next_container(polls_until_finished=2, end="ERROR", subcode=2207026, kind="REELS")
    container = call(fake, "POST", f"/{IG_USER_ID}/media", media_type="REELS", video_url="https://x/1.mp4")[1]["id"]
    status, body, _ = call(fake, "POST", f"/{IG_USER_ID}/media_publish", creation_id=container)
    assert (body["error"]["code"], body["error"]["error_subcode"]) == (9007, 2207027)
    codes = [call(fake, "GET", f"/{container}", fields="status_code,status")[1] for _ in range(3)]
    assert [c["status_code"] for c in codes] == ["IN_PROGRESS", "IN_PROGRESS", "ERROR"]
    assert codes[-1]["status"] == "Error: Media upload has failed with error code 2207026"
    image = call(fake, "POST", f"/{IG_USER_ID}/media", image_url="https://x/1.jpg")[1]["id"]
    fake.advance(24 * 3600)
    assert call(fake, "GET", f"/{image}", fields="status_code")[1]["status_code"] == "EXPIRED"


def test_container_validation(fake):
    status, body, _ = call(fake, "POST", f"/{IG_USER_ID}/media", media_type="VIDEO", video_url="https://x/1.mp4")
    assert body["error"]["error_subcode"] == 2207023  # VIDEO only as a carousel item
    item = call(fake, "POST", f"/{IG_USER_ID}/media", image_url="https://x/1.jpg", is_carousel_item="true")[1]["id"]
    status, body, _ = call(fake, "POST", f"/{IG_USER_ID}/media", media_type="CAROUSEL", children=item)
    assert (status, body["error"]["code"], body["error"]["error_subcode"]) == (400, 100, 2207028)
    second = call(fake, "POST", f"/{IG_USER_ID}/media", json_body={"image_url": "https://x/2.jpg",
                                                                     "is_carousel_item": True})[1]["id"]
    status, body, _ = call(fake, "POST", f"/{IG_USER_ID}/media", media_type="CAROUSEL",
                           children=json.dumps([item, second]))
    assert status == 200 and fake.container(body["id"])["children"] == [item, second]


def test_publishing_limit(fake):
    fake.set_quota_usage(IG_USER_ID, 3)
    body = call(fake, "GET", f"/{IG_USER_ID}/content_publishing_limit", fields="quota_usage,config")[1]
    assert body == {"data": [{"quota_usage": 3, "config": {"quota_total": 100, "quota_duration": 86400}}]}
    assert call(fake, "GET", f"/{IG_USER_ID}/content_publishing_limit")[1] == {"data": [{"quota_usage": 3}]}


def test_debug_token_reports_an_expired_token_inside_data(fake):
    fake.add_token("APP|secret", kind="APP", owner="1234567890")
    fake.expire_token(IG_TOKEN)
    status, body, _ = call(fake, "GET", "/debug_token", token="APP|secret", input_token=IG_TOKEN)
    assert status == 200 and body["data"]["is_valid"] is False
    assert body["data"]["error"]["code"] == 190 and body["data"]["error"]["subcode"] == 463
    body = call(fake, "GET", "/debug_token", token="APP|secret", input_token=PAGE_TOKEN)[1]
    assert body["data"]["expires_at"] == 0 and body["data"]["type"] == "PAGE"


def test_scheduled_page_post_window(fake):
    ahead = int(fake.now()) + 3600
    status, body, _ = call(fake, "POST", f"/{PAGE_ID}/feed", token=PAGE_TOKEN, message="Later",
                           published="false", scheduled_publish_time=ahead)
    assert status == 200 and fake.published(PAGE_ID) == [] and fake.scheduled(PAGE_ID)[0]["message"] == "Later"
    status, body, _ = call(fake, "POST", f"/{PAGE_ID}/feed", token=PAGE_TOKEN, message="Too soon",
                           published="false", scheduled_publish_time=int(fake.now()) + 60)
    assert (status, body["error"]["code"]) == (400, 100)


def test_unknown_object_and_other_accounts(fake):
    status, body, _ = call(fake, "GET", "/999")
    assert (body["error"]["code"], body["error"]["error_subcode"]) == (100, 33)
    status, body, _ = call(fake, "POST", f"/{PAGE_ID}/feed", message="Not mine")  # an IG token on a Page
    assert body["error"]["error_subcode"] == 33


# -- classification of Graph errors (research §4.1, §4.2, §4.4) ----------------------------------

@pytest.mark.parametrize("code,subcode,is_transient,status,kind", [
    (1, None, False, 500, TRANSIENT),
    (2, None, True, 503, TRANSIENT),
    (-1, 2207001, False, 400, TRANSIENT),
    (4, None, True, 403, RATE_LIMITED),
    (17, None, True, 400, RATE_LIMITED),
    (32, None, False, 403, RATE_LIMITED),
    (613, None, False, 400, RATE_LIMITED),
    (80001, None, True, 400, RATE_LIMITED),
    (80014, None, True, 400, RATE_LIMITED),
    (190, 458, False, 400, TOKEN),
    (190, 463, False, 400, TOKEN),
    (190, 467, False, 400, TOKEN),
    (102, None, False, 400, TOKEN),
    (10, None, False, 403, PERMISSION),
    (200, None, False, 403, PERMISSION),
    (299, None, False, 400, PERMISSION),
    (100, None, False, 400, INVALID),
    (100, 2207028, False, 400, INVALID),
    (36004, 2207010, False, 400, INVALID),
    (1, 2207057, False, 400, INVALID),
    (9007, 2207027, False, 400, NOT_READY),
    (9, 2207042, False, 400, QUOTA),
    (24, 2207008, False, 400, RECREATE),
    (-2, 2207003, False, 400, RECREATE),
    (4, 2207051, False, 400, BLOCKED),
    (368, None, False, 400, BLOCKED),
    (506, None, False, 400, INVALID),
])
def test_classification(code, subcode, is_transient, status, kind):
    assert classify(code, subcode, is_transient=is_transient, status=status) == kind


def test_token_errors_tell_the_user_to_reconnect():
    body = json.dumps({"error": {"message": "Error validating access token: The session has been invalidated "
                                            "because the user changed their password.", "type": "OAuthException",
                                 "code": 190, "error_subcode": 460, "fbtrace_id": "x"}}).encode()
    error = error_from_response(400, body)
    assert error.outcome().kind == "permanent"
    assert error.reason.endswith("The account's password changed, which ended the session: reconnect the account "
                                 "in Herald.")


def test_usage_headers():
    buc = {"1": [{"type": "pages", "estimated_time_to_regain_access": 3},
                 {"type": "instagram", "estimated_time_to_regain_access": 12}]}
    assert usage_wait({"x-business-use-case-usage": json.dumps(buc)}) == 720
    assert usage_wait({"X-App-Usage": json.dumps({"call_count": 100, "estimated_time_to_regain_access": 2})}) == 120
    assert usage_wait({"X-App-Usage": json.dumps({"call_count": 30})}) is None
    assert usage_wait({"X-App-Usage": "not json"}) is None


def test_answers_without_a_graph_error_body():
    error = error_from_response(502, b"<html>Bad Gateway</html>")
    assert error.kind == TRANSIENT and "HTTP 502: <html>Bad Gateway</html>" in error.reason
    assert error_from_response(404, b"").kind == INVALID
    assert "Unknown error" not in error_from_response(500, b"").reason
    rate_limited = json.dumps({"error": {"message": "(#4) Application request limit reached", "code": 4}}).encode()
    assert error_from_response(403, rate_limited).retry_after == graph_errors.RATE_LIMIT_WAIT
