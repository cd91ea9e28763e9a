"""Connecting Threads accounts (Threads' OAuth window and a pasted token), keeping their 60-day tokens
alive, and the dry run refusing what Threads would refuse."""
# The fixtures come from threads_support (a conftest.py here would shadow the suite's own "conftest" module):
# ruff: noqa: F401, F811

from __future__ import annotations

import datetime as dt
import http.client
from urllib.parse import parse_qs, urlsplit

from fake_threads import ALICE, ALICE_TOKEN, APP_ID, LONG_LIVED_SECONDS
from herald_threads import settings
from threads_support import PUBLIC, account, account_of, app, client, connect, jpeg, threads, upload


def open_window(url: str) -> str:
    """What the user's browser does with the window: Threads answers with a redirect to Herald."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=5)
    connection.request("GET", f"{parts.path}?{parts.query}")
    answer = connection.getresponse()
    assert answer.status == 302, answer.read()
    return answer.getheader("Location")


def test_an_account_connects_through_threads_oauth_window(client, herald_workspace, threads):
    started = client.post("/v1/accounts/connect", headers=herald_workspace.headers, json={"platform": "threads"})
    assert started.status_code == 200, started.get_json()
    window = urlsplit(started.get_json()["authorization_url"])
    query = parse_qs(window.query)
    assert f"{window.scheme}://{window.netloc}{window.path}" == threads.url + "/oauth/authorize"  # the fake's
    assert settings.DIALOG_URL.default == "https://threads.net/oauth/authorize"  # Meta's
    assert query["client_id"] == [APP_ID] and query["response_type"] == ["code"]
    assert query["redirect_uri"] == [PUBLIC + "/v1/accounts/callback/threads"]
    assert set(query["scope"][0].split(",")) >= {"threads_basic", "threads_content_publish", "threads_manage_replies"}

    back = urlsplit(open_window(started.get_json()["authorization_url"]))
    code = parse_qs(back.query)
    connected = client.get(back.path, query_string={"code": code["code"][0], "state": code["state"][0]})
    assert connected.status_code == 200, connected.get_json()
    [account] = connected.get_json()["accounts"]
    assert (account["platform"], account["username"], account["status"]) == ("threads", "alice", "active")
    expires = dt.datetime.fromisoformat(account["token_expires_at"].replace("Z", "+00:00"))
    assert abs((expires - dt.datetime.now(dt.UTC)).total_seconds() - LONG_LIVED_SECONDS) < 120
    # The code (a form POST), then th_exchange_token for the 60-day token, then whose profile it is.
    [code_call] = threads.calls_to("POST", r"/oauth/access_token")
    assert code_call.form["grant_type"] == "authorization_code" and code_call.form["client_id"] == APP_ID
    [long_call] = threads.calls_to("GET", r"/access_token")
    assert long_call.query["grant_type"] == "th_exchange_token"


def test_a_pasted_token_is_checked_with_threads(client, herald_workspace, threads):
    answer = connect(client, herald_workspace)
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["username"] == ALICE["username"]
    refused = connect(client, herald_workspace, token="not-a-threads-token")
    assert refused.status_code == 400 and "Cannot parse access token" in refused.get_json()["error"]["message"]


def test_a_token_that_runs_out_soon_is_refreshed(client, herald_workspace, herald_jobs, herald_clock, threads):
    started = client.post("/v1/accounts/connect", headers=herald_workspace.headers, json={"platform": "threads"})
    back = urlsplit(open_window(started.get_json()["authorization_url"]))
    code = parse_qs(back.query)
    account_id = client.get(back.path, query_string={"code": code["code"][0], "state": code["state"][0]}) \
        .get_json()["accounts"][0]["id"]
    herald_clock.advance(56 * 86400)  # four days before the 60 days end
    herald_jobs.cron()
    herald_jobs.run()
    assert [call.query["grant_type"] for call in threads.calls_to("GET", r"/refresh_access_token")] \
        == ["th_refresh_token"]
    assert threads.refreshed and account_of(client, herald_workspace, account_id)["status"] == "active"


def test_an_expired_token_is_found_by_the_token_check(client, herald_workspace, herald_jobs, threads, account):
    threads.expire_token(ALICE_TOKEN)
    herald_jobs.cron()
    assert account_of(client, herald_workspace, account)["status"] == "expired"


def dry_run(client, workspace, account, **body):
    return client.post("/v1/publish", headers=workspace.headers,
                       json={"accounts": [account], "dry_run": True, **body})


def test_the_dry_run_refuses_what_threads_would(client, herald_workspace, threads, account):
    too_long = dry_run(client, herald_workspace, account, content="x" * 501)
    assert too_long.status_code == 400 and too_long.get_json()["error"]["field"] == "content"
    # 130 emojis are 130 characters but 520 as Threads counts them (their UTF-8 bytes).
    emojis = dry_run(client, herald_workspace, account, content="\U0001F35E" * 130)
    assert emojis.status_code == 400 and emojis.get_json()["error"]["field"] == "content"
    assert "UTF-8" in emojis.get_json()["error"]["message"]
    one = upload(client, herald_workspace, jpeg(), "one.jpg")
    lonely = dry_run(client, herald_workspace, account, content="A carousel of one", post_type="carousel", media=[one])
    assert lonely.status_code == 400 and lonely.get_json()["error"]["field"] == "media"
    wide = upload(client, herald_workspace, jpeg(1200, 100), "wide.jpg")
    too_wide = dry_run(client, herald_workspace, account, content="Panorama", media=[wide])
    assert too_wide.status_code == 400 and too_wide.get_json()["error"]["field"] == "media.0"
    fine = dry_run(client, herald_workspace, account, content="\U0001F35E" * 100 + " fresh")
    assert fine.status_code == 200, fine.get_json()
    assert threads.calls_to("POST", r".*/threads") == []  # a dry run sends nothing
